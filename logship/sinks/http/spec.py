"""The ``http`` sink's settings: LOGSHIP_HTTP_*, its config, its factory (the global batch limits)."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Literal, cast, get_args

from logship.settings.forms import choice, parse_key_values, url
from logship.settings.types import SinkOptions
from logship.settings.variable import Variable
from logship.sinks._spec import SinkSpec, SinkValues, lazy_factory, network_variables

HttpCompression = Literal["none", "gzip", "zstd"]


@dataclass(frozen=True, kw_only=True)
class HttpSinkConfig(SinkOptions):
    """The `http` sink: NDJSON POSTed to a URL."""

    url: str
    compression: HttpCompression
    headers: tuple[tuple[str, str], ...]
    bearer_token: str | None
    username: str | None
    password: str | None


VARIABLES = (
    Variable("LOGSHIP_HTTP_URL", url, None, "Where the `http` sink POSTs NDJSON.", section="http"),
    Variable("LOGSHIP_HTTP_COMPRESSION", choice(*get_args(HttpCompression)), "gzip",
             "Content-Encoding of the request body.", section="http"),
    Variable("LOGSHIP_HTTP_HEADERS", parse_key_values, "", "Extra request headers: Name=value,…",
             section="http"),
    Variable("LOGSHIP_HTTP_BEARER_TOKEN", str, None, "Bearer token.", secret=True, section="http"),
    Variable("LOGSHIP_HTTP_USERNAME", str, None, "Basic-auth user.", section="http"),
    Variable("LOGSHIP_HTTP_PASSWORD", str, None, "Basic-auth password.", secret=True, section="http"),
    *network_variables("http", None),
)


def configure(values: SinkValues) -> HttpSinkConfig:
    """The config from LOGSHIP_HTTP_*."""
    auth = values.auth()
    return HttpSinkConfig(url=values["URL"], compression=cast(HttpCompression, values["COMPRESSION"]),
                          headers=values["HEADERS"], bearer_token=auth["bearer_token"], username=auth["username"],
                          password=auth["password"], **values.options())




SPEC = SinkSpec(
    "http", VARIABLES, configure, lazy_factory("logship.sinks.http.sink", "HttpSink"),
    required="LOGSHIP_HTTP_URL", destination=attrgetter("url"))
