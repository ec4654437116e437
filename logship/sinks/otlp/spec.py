"""The ``otlp`` sink's settings: LOGSHIP_OTLP_*, its config, its batch defaults, its factory."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Literal, cast, get_args

from logship.settings.forms import choice, parse_key_values, url
from logship.settings.types import SinkOptions
from logship.settings.variable import Variable
from logship.sinks._spec import SinkSpec, SinkValues, lazy_factory, network_variables

BATCH_DEFAULTS = (2000, 4 * 1024**2)
OtlpEncoding = Literal["protobuf", "json"]
OtlpCompression = Literal["gzip", "none"]


@dataclass(frozen=True, kw_only=True)
class OtlpSinkConfig(SinkOptions):
    """The `otlp` sink (OTLP/HTTP logs)."""

    endpoint: str
    encoding: OtlpEncoding
    compression: OtlpCompression
    headers: tuple[tuple[str, str], ...]


VARIABLES = (
    Variable("LOGSHIP_OTLP_ENDPOINT", url, None,
             "OTLP/HTTP endpoint, such as http://collector:4318 (records are POSTed to /v1/logs).", section="otlp"),
    Variable("LOGSHIP_OTLP_ENCODING", choice(*get_args(OtlpEncoding)), "protobuf", "OTLP encoding.",
             section="otlp"),
    Variable("LOGSHIP_OTLP_COMPRESSION", choice(*get_args(OtlpCompression)), "gzip", "Content-Encoding.",
             section="otlp"),
    Variable("LOGSHIP_OTLP_HEADERS", parse_key_values, "", "Extra request headers: Name=value,…",
             section="otlp"),
    *network_variables("otlp", BATCH_DEFAULTS, retry_status="429,502,503,504"),  # OTLP/HTTP: only these may be retried
)


def configure(values: SinkValues) -> OtlpSinkConfig:
    """The config from LOGSHIP_OTLP_*."""
    return OtlpSinkConfig(endpoint=values["ENDPOINT"], encoding=cast(OtlpEncoding, values["ENCODING"]),
                          compression=cast(OtlpCompression, values["COMPRESSION"]), headers=values["HEADERS"],
                          **values.options())




SPEC = SinkSpec(
    "otlp", VARIABLES, configure, lazy_factory("logship.sinks.otlp.sink", "OtlpSink"),
    required="LOGSHIP_OTLP_ENDPOINT", batch_defaults=BATCH_DEFAULTS, destination=attrgetter("endpoint"))
