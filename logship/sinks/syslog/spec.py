"""The ``syslog`` sink's settings: LOGSHIP_SYSLOG_*, its config, its batch defaults, its factory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from logship.settings.forms import parse_size, positive, stream_address
from logship.settings.types import SinkOptions
from logship.settings.variable import Variable
from logship.sinks._spec import SinkSpec, SinkValues, lazy_factory, network_variables

BATCH_DEFAULTS = (1000, 1024**2)
SyslogTransport = Literal["tcp", "tls", "udp"]
SYSLOG_FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
                     "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
                     "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7")


@dataclass(frozen=True, kw_only=True)
class SyslogSinkConfig(SinkOptions):
    """The `syslog` sink: RFC 5424, octet-counted (RFC 6587) over TCP or TLS (RFC 5425), or UDP."""

    transport: SyslogTransport
    host: str
    port: int
    facility: int
    max_message_bytes: int


def _facility(text: str) -> int:
    value = text.strip().lower()
    if value.isdigit() and int(value) < 24:
        return int(value)
    if value in SYSLOG_FACILITIES:
        return SYSLOG_FACILITIES.index(value)
    raise ValueError("a facility name (" + ", ".join(SYSLOG_FACILITIES) + ") or 0..23")


VARIABLES = (
    Variable("LOGSHIP_SYSLOG_ADDRESS", stream_address(
        "tcp", "tls", "udp", allowed="tcp://host:port, tls://host:port or udp://host:port (udp drops what it cannot "
        "send)"), None,
             "tcp://host:port, tls://host:port (RFC 5425) or udp://host:port (lossy, explicit).",
             section="syslog"),
    Variable("LOGSHIP_SYSLOG_FACILITY", _facility, "daemon", "Syslog facility.", section="syslog"),
    Variable("LOGSHIP_SYSLOG_MAX_MESSAGE_BYTES", positive(parse_size), "8000",
             "Longest syslog message, header included (rsyslog's maxMessageSize is 8k): longer ones are cut "
             "before framing.", section="syslog"),
    *network_variables("syslog", BATCH_DEFAULTS, concurrency=1, http=False),
)


def configure(values: SinkValues) -> SyslogSinkConfig:
    """The config from LOGSHIP_SYSLOG_*."""
    transport, host, port = values["ADDRESS"]
    return SyslogSinkConfig(transport=cast(SyslogTransport, transport), host=host, port=port,
                            facility=values["FACILITY"], max_message_bytes=values["MAX_MESSAGE_BYTES"],
                            **values.options())



def _destination(config: SyslogSinkConfig) -> str:
    host = f"[{config.host}]" if ":" in config.host else config.host
    return f"{config.transport}://{host}:{config.port}"


SPEC = SinkSpec(
    "syslog", VARIABLES, configure, lazy_factory("logship.sinks.syslog.sink", "SyslogSink"),
    required="LOGSHIP_SYSLOG_ADDRESS", batch_defaults=BATCH_DEFAULTS, destination=_destination)
