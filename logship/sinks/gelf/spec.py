"""The ``gelf`` sink's settings: LOGSHIP_GELF_*, its config, its batch defaults, its factory."""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import attrgetter
from typing import Literal, cast, get_args

from logship.settings.forms import choice
from logship.settings.types import SinkOptions
from logship.settings.variable import Variable
from logship.sinks._spec import SinkSpec, SinkValues, lazy_factory, network_variables

BATCH_DEFAULTS = (1000, 1024**2)
GelfCompression = Literal["gzip", "none"]


@dataclass(frozen=True, kw_only=True)
class GelfSinkConfig(SinkOptions):
    """The `gelf` sink (Graylog): HTTP, or null-delimited over TCP/TLS."""

    url: str
    compression: GelfCompression


def _gelf_url(text: str) -> str:
    if not re.match(r"^(https?|tcp|tls)://[^/\s]+", text.strip()):
        raise ValueError("http(s)://host:12201/gelf, tcp://host:12201 or tls://host:12201")
    return text.strip()


VARIABLES = (
    Variable("LOGSHIP_GELF_URL", _gelf_url, None,
             "Graylog GELF input: http(s)://host:12201/gelf, tcp://host:12201 or tls://host:12201.",
             section="gelf"),
    Variable("LOGSHIP_GELF_COMPRESSION", choice(*get_args(GelfCompression)), "none",
             "Compression of HTTP requests.", section="gelf"),
    *network_variables("gelf", BATCH_DEFAULTS),
)


def configure(values: SinkValues) -> GelfSinkConfig:
    """The config from LOGSHIP_GELF_*."""
    return GelfSinkConfig(url=values["URL"], compression=cast(GelfCompression, values["COMPRESSION"]),
                          **values.options())




SPEC = SinkSpec(
    "gelf", VARIABLES, configure, lazy_factory("logship.sinks.gelf.sink", "GelfSink"),
    required="LOGSHIP_GELF_URL", batch_defaults=BATCH_DEFAULTS, destination=attrgetter("url"))
