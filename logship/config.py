"""The whole configuration: environment variables parsed into frozen dataclasses.

This is the only module that reads the environment. Every variable logship understands is declared
once in ``VARIABLES`` (name, default, form, description); the README's configuration table is
generated from that declaration (``python -m logship.config --markdown``) and a test keeps them equal.

Rules:
- ``DOCKER_HOST``, ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` keep their Docker meanings;
  everything else starts with ``LOGSHIP_``. An unknown ``LOGSHIP_`` variable is an error, so that a
  typo never silently does nothing.
- A variable marked *secret* may instead be given as ``NAME_FILE``, a path whose content (without the
  trailing newline) is the value: that is how Docker secrets arrive.
- Durations read as ``500ms``, ``5s``, ``2m``, ``1h``; sizes as ``512KiB``, ``64MiB``, ``1GiB`` (or a
  plain number of bytes).
- All problems are collected and reported together, each naming the variable, the value and what is
  allowed (``ConfigError``); ``cli.py`` turns that into exit code 2.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logship.parse import settings as parse_settings

SINK_NAMES = ("file", "stdout", "http", "loki", "elasticsearch", "clickhouse", "otlp", "syslog", "gelf")


class ConfigError(Exception):
    """One or more configuration problems; ``problems`` holds one readable sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# --- value forms -------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$")
_SIZE_UNITS = {
    None: 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "KB": 1000, "MB": 1000**2, "GB": 1000**3,
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_duration(text: str) -> float:
    """``"500ms"`` → 0.5 seconds. Raises ValueError naming the allowed form."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError("a duration such as 500ms, 5s, 2m or 1h")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_size(text: str) -> int:
    """``"64MiB"`` → 67108864 bytes. Raises ValueError naming the allowed form."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError("a size such as 512KiB, 64MiB or 1GiB (or a number of bytes)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("true or false")


def parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_key_values(text: str) -> tuple[tuple[str, str], ...]:
    """``"a=1,b=2"`` → (("a", "1"), ("b", "2"))."""
    pairs = []
    for item in parse_list(text):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError("a comma list of key=value")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def parse_label_selectors(text: str) -> tuple[tuple[str, str | None], ...]:
    """``"team,env=prod"`` → (("team", None), ("env", "prod")): a bare key matches any value."""
    selectors = []
    for item in parse_list(text):
        key, sep, value = item.partition("=")
        if not key.strip():
            raise ValueError("a comma list of label keys or key=value")
        selectors.append((key.strip(), value.strip() if sep else None))
    return tuple(selectors)


def parse_regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise ValueError(f"a valid regular expression ({exc})") from None


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("host:port, such as 0.0.0.0:9880 (port 0 picks a free one)")
    return host.strip("[]") or "0.0.0.0", int(port)


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError("one of " + ", ".join(allowed))
        return value

    return parse


def _positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError("a whole number of at least 1")
    return int(text)


def _positive(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_positive(text: str) -> Any:
        value = parse(text)
        if value <= 0:
            raise ValueError("a value greater than zero")
        return value

    return parse_positive


def _at_least_16kib(text: str) -> int:
    value = parse_size(text)
    if value < 16384:
        raise ValueError("a size of at least 16KiB (dockerd splits lines into 16 KiB pieces)")
    return value


def _sinks(text: str) -> tuple[str, ...]:
    names = tuple(name.lower() for name in parse_list(text))
    unknown = [name for name in names if name not in SINK_NAMES]
    if not names or unknown:
        raise ValueError("a comma list of sinks from: " + ", ".join(SINK_NAMES))
    if len(set(names)) != len(names):
        raise ValueError("each sink at most once")
    return names


def _status_codes(text: str) -> frozenset[int]:
    codes = parse_list(text)
    if not all(code.isdigit() and 100 <= int(code) <= 599 for code in codes):
        raise ValueError("a comma list of HTTP status codes, such as 408,429,500,502,503,504")
    return frozenset(int(code) for code in codes)


def _url(text: str) -> str:
    if not re.match(r"^https?://[^/\s]+", text.strip()):
        raise ValueError("an http:// or https:// URL")
    return text.strip()


def _docker_host(text: str) -> str:
    if not re.match(r"^(unix://.+|tcp://[^/\s]+|https?://[^/\s]+)$", text.strip()):
        raise ValueError("unix:///path/to/docker.sock or tcp://host:port")
    return text.strip()


# --- the declaration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Variable:
    """One environment variable: its parser, textual default (None: unset) and description."""

    name: str
    parse: Callable[[str], Any]
    default: str | None
    help: str
    secret: bool = False
    section: str = "core"


# Each sink's own batch limits (lines, bytes), used unless LOGSHIP_<SINK>_BATCH_MAX_* or the global
# LOGSHIP_BATCH_MAX_* is set: a store's sweet spot differs (ClickHouse wants few large inserts).
SINK_BATCH_DEFAULTS: dict[str, tuple[int, int]] = {
    "loki": (2000, 1024**2), "elasticsearch": (5000, 5 * 1024**2), "clickhouse": (20000, 16 * 1024**2),
    "otlp": (2000, 4 * 1024**2), "syslog": (1000, 1024**2), "gelf": (1000, 1024**2),
    # A local file: larger batches mean fewer fsyncs and fewer event-loop round trips per line, which
    # lets one shipper keep up with 16 tailers at full backlog speed (bench/RESULTS.md).
    "file": (5000, 8 * 1024**2),
}


def _sink_common(sink: str, concurrency: int = 2, http: bool = True,
                 retry_status: str = "408,429,500,502,503,504") -> list[Variable]:
    prefix = f"LOGSHIP_{sink.upper()}_"
    variables = [
        Variable(prefix + "CONCURRENCY", _positive_int, str(concurrency),
                 "Requests in flight at once for this sink.", section=sink),
        Variable(prefix + "TIMEOUT", _positive(parse_duration), "30s",
                 "Timeout of one request, connect included.", section=sink),
    ]
    if http:
        variables.append(Variable(prefix + "RETRY_STATUS", _status_codes, retry_status,
                                  "HTTP statuses retried (with backoff) rather than rejected.", section=sink))
    variables += [
        Variable(prefix + "TLS_CA_FILE", str, None, "CA bundle to verify the server with.", section=sink),
        Variable(prefix + "TLS_CERT_FILE", str, None, "Client certificate (PEM) for mutual TLS.", section=sink),
        Variable(prefix + "TLS_KEY_FILE", str, None, "Client key (PEM) for mutual TLS.", section=sink),
        Variable(prefix + "TLS_INSECURE", parse_bool, "false",
                 "Skip verification of the server's certificate (logs a warning).", section=sink),
    ]
    return variables + _sink_batch(sink) + _sink_backlog(sink)


def _sink_backlog(sink: str) -> list[Variable]:
    """LOGSHIP_<SINK>_MAX_BACKLOG and _MAX_BACKLOG_AGE: how far behind the sink may fall (see BacklogLimits)."""
    prefix = f"LOGSHIP_{sink.upper()}_"
    return [
        Variable(prefix + "MAX_BACKLOG", _positive(parse_size), None,
                 "Most bytes this sink may leave unacknowledged in the buffer: past it, it gives up its oldest "
                 "records (a segment at a time, counted in logship_lines_dropped_total) so that collection and "
                 "the other sinks go on. Unset: never (the buffer fills, then LOGSHIP_BUFFER_WHEN_FULL).",
                 section=sink),
        Variable(prefix + "MAX_BACKLOG_AGE", _positive(parse_duration), None,
                 "Oldest record (by its Docker timestamp) this sink may still have to deliver: older ones are "
                 "given up, a segment at a time, counted. Unset: no age limit.", section=sink),
    ]


def _sink_batch(sink: str) -> list[Variable]:
    """LOGSHIP_<SINK>_BATCH_MAX_LINES/BYTES, for a sink with its own defaults."""
    if sink not in SINK_BATCH_DEFAULTS:
        return []
    prefix = f"LOGSHIP_{sink.upper()}_"
    lines, size = SINK_BATCH_DEFAULTS[sink]
    return [
        Variable(prefix + "BATCH_MAX_LINES", _positive_int, None,
                 f"Most records in one batch for this sink (default: LOGSHIP_BATCH_MAX_LINES if set, else "
                 f"{lines}).", section=sink),
        Variable(prefix + "BATCH_MAX_BYTES", _positive(parse_size), None,
                 f"Most bytes in one batch for this sink (default: LOGSHIP_BATCH_MAX_BYTES if set, else "
                 f"{size // 1024**2}MiB).", section=sink),
    ]


def _http_auth(sink: str, api_key: bool = False) -> list[Variable]:
    prefix = f"LOGSHIP_{sink.upper()}_"
    variables = [
        Variable(prefix + "USERNAME", str, None, "Basic-auth user.", section=sink),
        Variable(prefix + "PASSWORD", str, None, "Basic-auth password.", secret=True, section=sink),
        Variable(prefix + "BEARER_TOKEN", str, None, "Bearer token.", secret=True, section=sink),
    ]
    if api_key:
        variables.append(Variable(prefix + "API_KEY", str, None, "API key (the base64 `id:key` form).",
                                  secret=True, section=sink))
    return variables


LOKI_LABEL_FIELDS = {
    "service_namespace": "service.namespace", "service_name": "service.name", "host": "host.name",
    "stream": "stream", "container_name": "container.name", "image": "container.image.name",
    "compose_project": "compose.project", "compose_service": "compose.service",
    "swarm_service": "swarm.service.name", "swarm_node": "swarm.node.id",
}


def _loki_labels(text: str) -> tuple[tuple[str, str], ...]:
    """``"service_name,env=labels.env"`` → (("service_name", "service.name"), ("env", "labels.env"))."""
    labels = []
    for item in parse_list(text):
        name, sep, path = item.partition("=")
        name = name.strip()
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name):
            raise ValueError("a comma list of label names ([a-zA-Z_][a-zA-Z0-9_]*), each optionally =record.field")
        if not sep:
            if name not in LOKI_LABEL_FIELDS:
                raise ValueError("label names from " + ", ".join(LOKI_LABEL_FIELDS) + ", or name=record.field")
            path = LOKI_LABEL_FIELDS[name]
        labels.append((name, path.strip()))
    if not labels:
        raise ValueError("at least one label")
    return tuple(labels)


def _syslog_address(text: str) -> tuple[str, str, int]:
    match = re.fullmatch(r"(tcp|tls|udp)://([^:/\s]+|\[[0-9a-fA-F:]+\]):(\d{1,5})", text.strip())
    if not match or not 0 < int(match.group(3)) < 65536:
        raise ValueError("tcp://host:port, tls://host:port or udp://host:port (udp drops what it cannot send)")
    return match.group(1), match.group(2).strip("[]"), int(match.group(3))


SYSLOG_FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
                     "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
                     "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7")


def _facility(text: str) -> int:
    value = text.strip().lower()
    if value.isdigit() and int(value) < 24:
        return int(value)
    if value in SYSLOG_FACILITIES:
        return SYSLOG_FACILITIES.index(value)
    raise ValueError("a facility name (" + ", ".join(SYSLOG_FACILITIES) + ") or 0..23")


def _gelf_url(text: str) -> str:
    if not re.match(r"^(https?|tcp|tls)://[^/\s]+", text.strip()):
        raise ValueError("http(s)://host:12201/gelf, tcp://host:12201 or tls://host:12201")
    return text.strip()


def _extra_fields(text: str) -> tuple[tuple[str, str], ...]:
    pairs = parse_key_values(text)
    reserved = [key for key, _ in pairs if key.split(".")[0] in ("timestamp", "message", "stream", "partial")]
    if reserved:
        raise ValueError("key=value pairs whose keys are not the per-line fields timestamp, message, stream or "
                         "partial")
    return pairs


def _non_negative_duration(text: str) -> float:
    if text.strip() in ("0", "0s", "0ms"):
        return 0.0
    return parse_duration(text)


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("a non-empty path")
    return text.strip()


VARIABLES: tuple[Variable, ...] = (
    # core
    Variable("LOGSHIP_SINK", _sinks, "file", "Where records go: one sink or a comma list ("
             + ", ".join(SINK_NAMES) + ")."),
    Variable("LOGSHIP_DATA_DIR", _non_empty, "/var/lib/logship",
             "State directory (put it on a volume): disk buffer, checkpoints, dead letters."),
    Variable("LOGSHIP_LISTEN", parse_listen, "0.0.0.0:9880", "Address of the health and metrics server."),
    Variable("LOGSHIP_LOG_LEVEL", _choice("debug", "info", "warning", "error"), "info",
             "Level of logship's own log."),
    Variable("LOGSHIP_LOG_FORMAT", _choice("json", "text"), "json", "Format of logship's own log on stderr."),
    Variable("LOGSHIP_SHUTDOWN_TIMEOUT", _positive(parse_duration), "10s",
             "How long the first SIGTERM/SIGINT may take to drain; a second one exits at once."),
    # docker
    Variable("DOCKER_HOST", _docker_host, "unix:///var/run/docker.sock",
             "The Docker engine, as the docker CLI reads it.", section="docker"),
    Variable("DOCKER_TLS_VERIFY", parse_bool, "false",
             "Use TLS with the engine and verify it (tcp:// only), as the docker CLI does.", section="docker"),
    Variable("DOCKER_CERT_PATH", str, None,
             "Folder with ca.pem, cert.pem and key.pem for the engine (default ~/.docker).", section="docker"),
    # collection
    Variable("LOGSHIP_MAX_LINE_BYTES", _at_least_16kib, "1MiB",
             "Longest line kept whole; a longer one is cut into parts marked `partial`.", section="collect"),
    Variable("LOGSHIP_READ_LINGER", _non_negative_duration, "250ms",
             "After a small read of a container's logs, let more lines gather this long before reading "
             "again: fewer wake-ups and writes per line at a small cost in latency (0 turns it off).",
             section="collect"),
    Variable("LOGSHIP_EXTRA_FIELDS", _extra_fields, "",
             "Static fields added to every record: key=value,… (dots nest: `env.name=prod`).",
             section="collect"),
    Variable("LOGSHIP_INCLUDE_NAMES", parse_regex, None,
             "Follow only containers whose name matches this regular expression.", section="collect"),
    Variable("LOGSHIP_EXCLUDE_NAMES", parse_regex, None,
             "Skip containers whose name matches this regular expression.", section="collect"),
    Variable("LOGSHIP_INCLUDE_LABELS", parse_label_selectors, "",
             "Follow only containers with one of these labels (key or key=value, comma list).",
             section="collect"),
    Variable("LOGSHIP_EXCLUDE_LABELS", parse_label_selectors, "",
             "Skip containers with any of these labels (key or key=value, comma list).", section="collect"),
    Variable("LOGSHIP_EXCLUDE_IMAGES", parse_regex, None,
             "Skip containers whose image name matches this regular expression.", section="collect"),
    Variable("LOGSHIP_INCLUDE_SELF", parse_bool, "false",
             "Also follow logship's own container (off: no feedback loop).", section="collect"),
    # parsing (issue 14): declared in logship.parse.settings
    *(Variable(name, parse, default, help, section="parse") for name, parse, default, help in parse_settings.VARIABLES),
    # buffer
    Variable("LOGSHIP_BUFFER_MAX_BYTES", _positive(parse_size), "1GiB",
             "Bound of the disk buffer.", section="buffer"),
    Variable("LOGSHIP_BUFFER_WHEN_FULL", _choice("block", "drop_oldest"), "block",
             "When the buffer is full: `block` pauses reading (Docker keeps the logs), `drop_oldest` drops "
             "the oldest segments and counts their lines.", section="buffer"),
    Variable("LOGSHIP_BUFFER_SEGMENT_BYTES", _positive(parse_size), "32MiB",
             "Size at which a buffer segment file is closed and a new one started.", section="buffer"),
    Variable("LOGSHIP_BUFFER_FSYNC", _choice("interval", "always"), "interval",
             "`interval`: fsync the buffer every LOGSHIP_BUFFER_FSYNC_INTERVAL; `always`: on every write. "
             "Checkpoints never run ahead of what is on disk either way.", section="buffer"),
    Variable("LOGSHIP_BUFFER_FSYNC_INTERVAL", _positive(parse_duration), "1s",
             "How often the buffer is fsynced and checkpoints saved.", section="buffer"),
    # batching and retries (every sink)
    Variable("LOGSHIP_BATCH_MAX_LINES", _positive_int, "2000", "Most records in one batch.", section="ship"),
    Variable("LOGSHIP_BATCH_MAX_BYTES", _positive(parse_size), "4MiB",
             "Most bytes (encoded records) in one batch.", section="ship"),
    Variable("LOGSHIP_BATCH_MAX_WAIT", _positive(parse_duration), "1s",
             "Longest a record waits for its batch to fill.", section="ship"),
    Variable("LOGSHIP_RETRY_INITIAL", _positive(parse_duration), "500ms",
             "First backoff after a retriable failure (exponential, full jitter).", section="ship"),
    Variable("LOGSHIP_RETRY_MAX", _positive(parse_duration), "60s",
             "Longest backoff, and the cap on a store's Retry-After.", section="ship"),
    # file sink
    Variable("LOGSHIP_FILE_PATH", str, None,
             "NDJSON output file of the `file` sink (default DATA_DIR/output/containers.ndjson).",
             section="file"),
    Variable("LOGSHIP_FILE_MAX_BYTES", _positive(parse_size), "100MiB",
             "Size at which the output file is rotated to PATH.1, PATH.2, …", section="file"),
    Variable("LOGSHIP_FILE_KEEP", _positive_int, "5", "How many rotated files are kept.", section="file"),
    *_sink_batch("file"),
    *_sink_backlog("file"),
    *_sink_backlog("stdout"),
    # http sink
    Variable("LOGSHIP_HTTP_URL", _url, None, "Where the `http` sink POSTs NDJSON.", section="http"),
    Variable("LOGSHIP_HTTP_COMPRESSION", _choice("none", "gzip", "zstd"), "gzip",
             "Content-Encoding of the request body.", section="http"),
    Variable("LOGSHIP_HTTP_HEADERS", parse_key_values, "", "Extra request headers: Name=value,…",
             section="http"),
    Variable("LOGSHIP_HTTP_BEARER_TOKEN", str, None, "Bearer token.", secret=True, section="http"),
    Variable("LOGSHIP_HTTP_USERNAME", str, None, "Basic-auth user.", section="http"),
    Variable("LOGSHIP_HTTP_PASSWORD", str, None, "Basic-auth password.", secret=True, section="http"),
    *_sink_common("http"),
    # loki
    Variable("LOGSHIP_LOKI_URL", _url, None,
             "Loki's URL, such as http://loki:3100 (records are POSTed to /loki/api/v1/push).", section="loki"),
    Variable("LOGSHIP_LOKI_ENCODING", _choice("protobuf", "json"), "protobuf",
             "`protobuf` (snappy-compressed, Loki's native push) or `json` (gzip).", section="loki"),
    Variable("LOGSHIP_LOKI_LABELS", _loki_labels, "service_namespace,service_name,host,stream",
             "Stream labels, few and of low cardinality: names from " + ", ".join(LOKI_LABEL_FIELDS)
             + ", or name=record.field. Every other field goes to structured metadata.", section="loki"),
    Variable("LOGSHIP_LOKI_STRUCTURED_METADATA", parse_bool, "true",
             "Send container, task and other fields as structured metadata (Loki 3); `false`: as JSON in the "
             "line.", section="loki"),
    Variable("LOGSHIP_LOKI_TENANT_ID", str, None, "Tenant, sent as X-Scope-OrgID.", section="loki"),
    Variable("LOGSHIP_LOKI_MAX_LINE_BYTES", _positive(parse_size), "256KB",
             "Loki's max_line_size: a longer line is split into parts of at most this size, marked "
             "`line_part` = `n/count` (nothing is dropped).", section="loki"),
    *_http_auth("loki"),
    *_sink_common("loki"),
    # elasticsearch / opensearch
    Variable("LOGSHIP_ELASTICSEARCH_URL", _url, None,
             "Elasticsearch or OpenSearch URL, such as https://es:9200 (records go to /_bulk).",
             section="elasticsearch"),
    Variable("LOGSHIP_ELASTICSEARCH_INDEX", _non_empty, "logs-docker-default",
             "Data stream or index; strftime patterns make dated indices (`docker-%Y.%m.%d`, UTC, from the "
             "record's time).", section="elasticsearch"),
    Variable("LOGSHIP_ELASTICSEARCH_PIPELINE", str, None, "Ingest pipeline to run.", section="elasticsearch"),
    *_http_auth("elasticsearch", api_key=True),
    *_sink_common("elasticsearch"),
    # clickhouse
    Variable("LOGSHIP_CLICKHOUSE_URL", _url, None, "ClickHouse HTTP interface, such as http://clickhouse:8123.",
             section="clickhouse"),
    Variable("LOGSHIP_CLICKHOUSE_DATABASE", _non_empty, "default", "Database of the table.", section="clickhouse"),
    Variable("LOGSHIP_CLICKHOUSE_TABLE", _non_empty, "container_logs", "Table the rows go to.",
             section="clickhouse"),
    Variable("LOGSHIP_CLICKHOUSE_USER", str, "default", "User.", section="clickhouse"),
    Variable("LOGSHIP_CLICKHOUSE_PASSWORD", str, None, "Password.", secret=True, section="clickhouse"),
    Variable("LOGSHIP_CLICKHOUSE_SCHEMA", _choice("auto", "compat", "modern"), "auto",
             "Row layout: `compat` (configs/clickhouse/compat.sql: old servers), `modern` (modern.sql) or "
             "`auto` (by server version).", section="clickhouse"),
    Variable("LOGSHIP_CLICKHOUSE_CREATE_TABLE", parse_bool, "false", "Create the table at start if missing.",
             section="clickhouse"),
    *_sink_common("clickhouse"),
    # otlp
    Variable("LOGSHIP_OTLP_ENDPOINT", _url, None,
             "OTLP/HTTP endpoint, such as http://collector:4318 (records are POSTed to /v1/logs).", section="otlp"),
    Variable("LOGSHIP_OTLP_ENCODING", _choice("protobuf", "json"), "protobuf", "OTLP encoding.", section="otlp"),
    Variable("LOGSHIP_OTLP_COMPRESSION", _choice("gzip", "none"), "gzip", "Content-Encoding.", section="otlp"),
    Variable("LOGSHIP_OTLP_HEADERS", parse_key_values, "", "Extra request headers: Name=value,…",
             section="otlp"),
    *_sink_common("otlp", retry_status="429,502,503,504"),  # OTLP/HTTP: only these may be retried
    # syslog
    Variable("LOGSHIP_SYSLOG_ADDRESS", _syslog_address, None,
             "tcp://host:port, tls://host:port (RFC 5425) or udp://host:port (lossy, explicit).",
             section="syslog"),
    Variable("LOGSHIP_SYSLOG_FACILITY", _facility, "daemon", "Syslog facility.", section="syslog"),
    Variable("LOGSHIP_SYSLOG_MAX_MESSAGE_BYTES", _positive(parse_size), "8000",
             "Longest syslog message, header included (rsyslog's maxMessageSize is 8k): longer ones are cut "
             "before framing.", section="syslog"),
    *_sink_common("syslog", concurrency=1, http=False),
    # gelf
    Variable("LOGSHIP_GELF_URL", _gelf_url, None,
             "Graylog GELF input: http(s)://host:12201/gelf, tcp://host:12201 or tls://host:12201.",
             section="gelf"),
    Variable("LOGSHIP_GELF_COMPRESSION", _choice("gzip", "none"), "none", "Compression of HTTP requests.",
             section="gelf"),
    *_sink_common("gelf"),
)

VARIABLES_BY_NAME: Mapping[str, Variable] = {variable.name: variable for variable in VARIABLES}
_KNOWN_EXTRA = {"LOGSHIP_TEST_DOCKER"}  # read by the test-suite only, never by logship


# --- the parsed configuration -------------------------------------------------------------------


@dataclass(frozen=True)
class EngineConfig:
    """How to reach the Docker engine."""

    host: str
    tls_verify: bool
    cert_path: Path | None


@dataclass(frozen=True)
class CollectConfig:
    """What to follow and how lines become records."""

    max_line_bytes: int
    read_linger: float
    extra_fields: tuple[tuple[str, str], ...]
    include_names: re.Pattern[str] | None
    exclude_names: re.Pattern[str] | None
    include_labels: tuple[tuple[str, str | None], ...]
    exclude_labels: tuple[tuple[str, str | None], ...]
    exclude_images: re.Pattern[str] | None
    include_self: bool


@dataclass(frozen=True)
class BufferConfig:
    """The disk buffer under DATA_DIR/buffer."""

    directory: Path
    max_bytes: int
    when_full: str
    segment_bytes: int
    fsync: str
    fsync_interval: float


@dataclass(frozen=True)
class BatchConfig:
    """Limits of one batch."""

    max_lines: int
    max_bytes: int
    max_wait: float


@dataclass(frozen=True)
class RetryConfig:
    """Backoff for retriable outcomes (exponential, full jitter)."""

    initial: float
    maximum: float


@dataclass(frozen=True)
class BacklogLimits:
    """How far behind one sink may fall (LOGSHIP_<SINK>_MAX_BACKLOG, _MAX_BACKLOG_AGE; None: no limit).

    Past a limit the sink gives up its oldest unacknowledged records rather than letting the buffer
    fill and stop collection for every sink (``logship.ship.backlog``).
    """

    max_bytes: int | None = None
    max_age: float | None = None


@dataclass(frozen=True)
class TlsConfig:
    """TLS options of an outgoing connection."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False


@dataclass(frozen=True)
class FileSinkConfig:
    """The `file` sink: NDJSON, rotated by size."""

    path: Path
    max_bytes: int
    keep: int
    batch: BatchConfig | None = None


@dataclass(frozen=True)
class StdoutSinkConfig:
    """The `stdout` sink: NDJSON on standard output."""


@dataclass(frozen=True)
class HttpSinkConfig:
    """The `http` sink: NDJSON POSTed to a URL."""

    url: str
    compression: str
    headers: tuple[tuple[str, str], ...]
    bearer_token: str | None
    username: str | None
    password: str | None
    concurrency: int
    timeout: float
    retry_status: frozenset[int]
    tls: TlsConfig
    batch: BatchConfig | None = None


@dataclass(frozen=True, kw_only=True)
class SinkOptions:
    """What every network sink has: concurrency, timeout, retried statuses, TLS, batch limits."""

    concurrency: int
    timeout: float
    retry_status: frozenset[int]
    tls: TlsConfig
    batch: BatchConfig


@dataclass(frozen=True, kw_only=True)
class LokiSinkConfig(SinkOptions):
    """The `loki` sink."""

    url: str
    encoding: str
    labels: tuple[tuple[str, str], ...]
    structured_metadata: bool
    tenant_id: str | None
    max_line_bytes: int
    username: str | None
    password: str | None
    bearer_token: str | None


@dataclass(frozen=True, kw_only=True)
class ElasticsearchSinkConfig(SinkOptions):
    """The `elasticsearch` sink (Elasticsearch or OpenSearch)."""

    url: str
    index: str
    pipeline: str | None
    username: str | None
    password: str | None
    bearer_token: str | None
    api_key: str | None


@dataclass(frozen=True, kw_only=True)
class ClickHouseSinkConfig(SinkOptions):
    """The `clickhouse` sink."""

    url: str
    database: str
    table: str
    user: str
    password: str | None
    schema: str
    create_table: bool


@dataclass(frozen=True, kw_only=True)
class OtlpSinkConfig(SinkOptions):
    """The `otlp` sink (OTLP/HTTP logs)."""

    endpoint: str
    encoding: str
    compression: str
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True)
class SyslogSinkConfig(SinkOptions):
    """The `syslog` sink: RFC 5424, octet-counted (RFC 6587) over TCP or TLS (RFC 5425), or UDP."""

    transport: str
    host: str
    port: int
    facility: int
    max_message_bytes: int


@dataclass(frozen=True, kw_only=True)
class GelfSinkConfig(SinkOptions):
    """The `gelf` sink (Graylog): HTTP, or null-delimited over TCP/TLS."""

    url: str
    compression: str


@dataclass(frozen=True)
class Config:
    """Everything logship needs to run, parsed and validated."""

    sinks: tuple[str, ...]
    data_dir: Path
    listen: tuple[str, int]
    log_level: str
    log_format: str
    shutdown_timeout: float
    engine: EngineConfig
    collect: CollectConfig
    buffer: BufferConfig
    batch: BatchConfig
    retry: RetryConfig
    sink_configs: Mapping[str, Any] = field(default_factory=dict)
    backlog: Mapping[str, BacklogLimits] = field(default_factory=dict)  # sinks with a limit only
    parse: parse_settings.ParseSettings = field(default_factory=parse_settings.ParseSettings)

    @property
    def checkpoint_path(self) -> Path:
        return self.data_dir / "checkpoints.json"


# --- parsing ------------------------------------------------------------------------------------


def _raw_values(environ: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    """The textual value of each declared variable, with secrets read from NAME_FILE."""
    raw: dict[str, str] = {}
    for variable in VARIABLES:
        value = environ.get(variable.name)
        file_name = variable.name + "_FILE"
        if variable.secret and file_name in environ:
            if value is not None:
                problems.append(f"{variable.name} and {file_name} are both set: give only one of them")
                continue
            try:
                value = Path(environ[file_name]).read_bytes().decode("utf-8").rstrip("\r\n")
            except OSError as exc:
                problems.append(f"{file_name}={environ[file_name]!r}: cannot read the file ({exc.strerror})")
                continue
            except UnicodeDecodeError:
                problems.append(f"{file_name}={environ[file_name]!r}: expected a UTF-8 text file")
                continue
        if value is not None and not (variable.secret and value == ""):  # an empty secret is no secret
            raw[variable.name] = value
    return raw


def _unknown_variables(environ: Mapping[str, str]) -> list[str]:
    allowed = set(VARIABLES_BY_NAME) | _KNOWN_EXTRA
    allowed |= {v.name + "_FILE" for v in VARIABLES if v.secret}
    problems = []
    for name in sorted(environ):
        if name.startswith("LOGSHIP_") and name not in allowed:
            close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.85)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{name}: unknown variable{hint}; `logship --help-config` lists them all")
    return problems


def load(environ: Mapping[str, str] | None = None) -> Config:
    """Parse ``environ`` (default: the process environment) into a Config or raise ConfigError."""
    environ = os.environ if environ is None else environ
    problems = _unknown_variables(environ)
    raw = _raw_values(environ, problems)
    values: dict[str, Any] = {}
    for variable in VARIABLES:
        text = raw.get(variable.name, variable.default)
        if text is None:
            values[variable.name] = None
            continue
        try:
            values[variable.name] = variable.parse(text)
        except ValueError as exc:
            shown = "<secret>" if variable.secret else repr(text)
            problems.append(f"{variable.name}={shown}: expected {exc}")
            # Go on with the default, so that problems between variables are reported now too.
            values[variable.name] = variable.parse(variable.default) if variable.default is not None else None
    config = _build(values, raw, problems)
    if problems:
        raise ConfigError(problems)
    return config


def _tls(values: Mapping[str, Any], sink: str) -> TlsConfig:
    prefix = f"LOGSHIP_{sink.upper()}_TLS_"
    return TlsConfig(values[prefix + "CA_FILE"], values[prefix + "CERT_FILE"], values[prefix + "KEY_FILE"],
                     values[prefix + "INSECURE"])


def _check_tls_files(tls: TlsConfig, sink: str, problems: list[str]) -> None:
    prefix = f"LOGSHIP_{sink.upper()}_TLS_"
    for suffix, path in (("CA_FILE", tls.ca_file), ("CERT_FILE", tls.cert_file), ("KEY_FILE", tls.key_file)):
        if path is not None and not Path(path).is_file():
            problems.append(f"{prefix}{suffix}={path!r}: expected a readable file")
    if (tls.cert_file is None) != (tls.key_file is None):
        problems.append(f"{prefix}CERT_FILE and {prefix}KEY_FILE: expected both or neither")


def _build(values: dict[str, Any], raw: Mapping[str, str], problems: list[str]) -> Config:
    data_dir = Path(values["LOGSHIP_DATA_DIR"])
    cert_path = values["DOCKER_CERT_PATH"]
    engine = EngineConfig(values["DOCKER_HOST"], values["DOCKER_TLS_VERIFY"],
                          Path(cert_path) if cert_path else None)
    collect = CollectConfig(
        max_line_bytes=values["LOGSHIP_MAX_LINE_BYTES"],
        read_linger=values["LOGSHIP_READ_LINGER"],
        extra_fields=values["LOGSHIP_EXTRA_FIELDS"],
        include_names=values["LOGSHIP_INCLUDE_NAMES"],
        exclude_names=values["LOGSHIP_EXCLUDE_NAMES"],
        include_labels=values["LOGSHIP_INCLUDE_LABELS"],
        exclude_labels=values["LOGSHIP_EXCLUDE_LABELS"],
        exclude_images=values["LOGSHIP_EXCLUDE_IMAGES"],
        include_self=values["LOGSHIP_INCLUDE_SELF"],
    )
    buffer = BufferConfig(
        directory=data_dir / "buffer",
        max_bytes=values["LOGSHIP_BUFFER_MAX_BYTES"],
        when_full=values["LOGSHIP_BUFFER_WHEN_FULL"],
        segment_bytes=values["LOGSHIP_BUFFER_SEGMENT_BYTES"],
        fsync=values["LOGSHIP_BUFFER_FSYNC"],
        fsync_interval=values["LOGSHIP_BUFFER_FSYNC_INTERVAL"],
    )
    if buffer.segment_bytes * 2 > buffer.max_bytes:
        problems.append(
            f"LOGSHIP_BUFFER_SEGMENT_BYTES={raw.get('LOGSHIP_BUFFER_SEGMENT_BYTES', '32MiB')!r}: expected at "
            f"most half of LOGSHIP_BUFFER_MAX_BYTES ({buffer.max_bytes} bytes)")
    batch = BatchConfig(values["LOGSHIP_BATCH_MAX_LINES"], values["LOGSHIP_BATCH_MAX_BYTES"],
                        values["LOGSHIP_BATCH_MAX_WAIT"])
    sinks: dict[str, Any] = {}
    for sink in values["LOGSHIP_SINK"]:
        sink_config = _sink_config(sink, values, raw, batch, data_dir, problems)
        if sink_config is not None:
            sinks[sink] = sink_config
    return Config(
        sinks=values["LOGSHIP_SINK"],
        data_dir=data_dir,
        listen=values["LOGSHIP_LISTEN"],
        log_level=values["LOGSHIP_LOG_LEVEL"],
        log_format=values["LOGSHIP_LOG_FORMAT"],
        shutdown_timeout=values["LOGSHIP_SHUTDOWN_TIMEOUT"],
        engine=engine,
        collect=collect,
        buffer=buffer,
        batch=batch,
        retry=RetryConfig(values["LOGSHIP_RETRY_INITIAL"], values["LOGSHIP_RETRY_MAX"]),
        sink_configs=sinks,
        backlog=_backlog_limits(values, raw, buffer, problems),
        parse=parse_settings.from_values(values),
    )


def _backlog_limits(values: Mapping[str, Any], raw: Mapping[str, str], buffer: BufferConfig,
                    problems: list[str]) -> dict[str, BacklogLimits]:
    """The backlog limits of the configured sinks that have one."""
    limits = {}
    # Room for the write segment and the one a give-up starts in: a larger limit would let the buffer
    # fill (and block every sink) before this sink gives anything up.
    most = buffer.max_bytes - 2 * buffer.segment_bytes
    for sink in values["LOGSHIP_SINK"]:
        name = f"LOGSHIP_{sink.upper()}_MAX_BACKLOG"
        max_bytes, max_age = values[name], values[name + "_AGE"]
        if max_bytes is not None and max_bytes > most:
            problems.append(f"{name}={raw[name]!r}: expected at most LOGSHIP_BUFFER_MAX_BYTES minus two "
                            f"LOGSHIP_BUFFER_SEGMENT_BYTES ({max(most, 0)} bytes), or the buffer fills first")
        if max_bytes is not None or max_age is not None:
            limits[sink] = BacklogLimits(max_bytes, max_age)
    return limits


_REQUIRED = {"http": "LOGSHIP_HTTP_URL", "loki": "LOGSHIP_LOKI_URL", "elasticsearch": "LOGSHIP_ELASTICSEARCH_URL",
             "clickhouse": "LOGSHIP_CLICKHOUSE_URL", "otlp": "LOGSHIP_OTLP_ENDPOINT",
             "syslog": "LOGSHIP_SYSLOG_ADDRESS", "gelf": "LOGSHIP_GELF_URL"}


def _options(sink: str, values: Mapping[str, Any], raw: Mapping[str, str], batch: BatchConfig,
             problems: list[str]) -> dict[str, Any]:
    """The SinkOptions fields of one sink."""
    prefix = f"LOGSHIP_{sink.upper()}_"
    tls = _tls(values, sink)
    _check_tls_files(tls, sink, problems)
    return {"concurrency": values[prefix + "CONCURRENCY"], "timeout": values[prefix + "TIMEOUT"],
            "retry_status": values.get(prefix + "RETRY_STATUS") or frozenset(), "tls": tls,
            "batch": _sink_batch_config(sink, values, raw, batch)}


def _sink_batch_config(sink: str, values: Mapping[str, Any], raw: Mapping[str, str],
                       batch: BatchConfig) -> BatchConfig:
    """The sink's own limits, else the global ones when set, else the sink's defaults."""
    prefix = f"LOGSHIP_{sink.upper()}_"
    lines, size = SINK_BATCH_DEFAULTS.get(sink, (batch.max_lines, batch.max_bytes))
    max_lines = values.get(prefix + "BATCH_MAX_LINES") or (
        batch.max_lines if "LOGSHIP_BATCH_MAX_LINES" in raw else lines)
    max_bytes = values.get(prefix + "BATCH_MAX_BYTES") or (
        batch.max_bytes if "LOGSHIP_BATCH_MAX_BYTES" in raw else size)
    return BatchConfig(max_lines, max_bytes, batch.max_wait)


def _auth_conflicts(sink: str, values: Mapping[str, Any], problems: list[str]) -> None:
    prefix = f"LOGSHIP_{sink.upper()}_"
    given = [name for name in ("USERNAME", "BEARER_TOKEN", "API_KEY") if values.get(prefix + name)]
    if len(given) > 1:
        problems.append(f"{' and '.join(prefix + name for name in given)}: expected only one way to authenticate")
    if values.get(prefix + "PASSWORD") and not values.get(prefix + "USERNAME") and sink != "clickhouse":
        problems.append(f"{prefix}PASSWORD is set without {prefix}USERNAME: expected both for basic auth")


def _sink_config(sink: str, values: Mapping[str, Any], raw: Mapping[str, str], batch: BatchConfig,
                 data_dir: Path, problems: list[str]) -> Any:
    """The frozen config of one sink named in LOGSHIP_SINK, or None after reporting what is missing."""
    required = _REQUIRED.get(sink)
    if required and values[required] is None:
        if required in raw:  # given but invalid: already reported
            return None
        problems.append(f"{required} is not set: LOGSHIP_SINK includes {sink}, which needs it "
                        f"({VARIABLES_BY_NAME[required].help})")
        return None
    v = values
    if sink == "file":
        path = v["LOGSHIP_FILE_PATH"]
        return FileSinkConfig(path=Path(path) if path else data_dir / "output" / "containers.ndjson",
                              max_bytes=v["LOGSHIP_FILE_MAX_BYTES"], keep=v["LOGSHIP_FILE_KEEP"],
                              batch=_sink_batch_config(sink, values, raw, batch))
    if sink == "stdout":
        return StdoutSinkConfig()
    options = _options(sink, values, raw, batch, problems)
    if sink in ("http", "loki", "elasticsearch"):
        _auth_conflicts(sink, values, problems)
    if sink == "http":
        return HttpSinkConfig(
            url=v["LOGSHIP_HTTP_URL"], compression=v["LOGSHIP_HTTP_COMPRESSION"], headers=v["LOGSHIP_HTTP_HEADERS"],
            bearer_token=v["LOGSHIP_HTTP_BEARER_TOKEN"], username=v["LOGSHIP_HTTP_USERNAME"],
            password=v["LOGSHIP_HTTP_PASSWORD"], **options)
    if sink == "loki":
        return LokiSinkConfig(
            url=v["LOGSHIP_LOKI_URL"], encoding=v["LOGSHIP_LOKI_ENCODING"], labels=v["LOGSHIP_LOKI_LABELS"],
            structured_metadata=v["LOGSHIP_LOKI_STRUCTURED_METADATA"], tenant_id=v["LOGSHIP_LOKI_TENANT_ID"],
            max_line_bytes=v["LOGSHIP_LOKI_MAX_LINE_BYTES"], username=v["LOGSHIP_LOKI_USERNAME"],
            password=v["LOGSHIP_LOKI_PASSWORD"], bearer_token=v["LOGSHIP_LOKI_BEARER_TOKEN"], **options)
    if sink == "elasticsearch":
        return ElasticsearchSinkConfig(
            url=v["LOGSHIP_ELASTICSEARCH_URL"], index=v["LOGSHIP_ELASTICSEARCH_INDEX"],
            pipeline=v["LOGSHIP_ELASTICSEARCH_PIPELINE"], username=v["LOGSHIP_ELASTICSEARCH_USERNAME"],
            password=v["LOGSHIP_ELASTICSEARCH_PASSWORD"], bearer_token=v["LOGSHIP_ELASTICSEARCH_BEARER_TOKEN"],
            api_key=v["LOGSHIP_ELASTICSEARCH_API_KEY"], **options)
    if sink == "clickhouse":
        return ClickHouseSinkConfig(
            url=v["LOGSHIP_CLICKHOUSE_URL"], database=v["LOGSHIP_CLICKHOUSE_DATABASE"],
            table=v["LOGSHIP_CLICKHOUSE_TABLE"], user=v["LOGSHIP_CLICKHOUSE_USER"],
            password=v["LOGSHIP_CLICKHOUSE_PASSWORD"], schema=v["LOGSHIP_CLICKHOUSE_SCHEMA"],
            create_table=v["LOGSHIP_CLICKHOUSE_CREATE_TABLE"], **options)
    if sink == "otlp":
        return OtlpSinkConfig(
            endpoint=v["LOGSHIP_OTLP_ENDPOINT"], encoding=v["LOGSHIP_OTLP_ENCODING"],
            compression=v["LOGSHIP_OTLP_COMPRESSION"], headers=v["LOGSHIP_OTLP_HEADERS"], **options)
    if sink == "syslog":
        transport, host, port = v["LOGSHIP_SYSLOG_ADDRESS"]
        return SyslogSinkConfig(transport=transport, host=host, port=port, facility=v["LOGSHIP_SYSLOG_FACILITY"],
                                max_message_bytes=v["LOGSHIP_SYSLOG_MAX_MESSAGE_BYTES"], **options)
    if sink == "gelf":
        return GelfSinkConfig(url=v["LOGSHIP_GELF_URL"], compression=v["LOGSHIP_GELF_COMPRESSION"], **options)
    raise AssertionError(f"unhandled sink {sink}")  # SINK_NAMES and this function go together


# --- documentation --------------------------------------------------------------------------------


def markdown_table() -> str:
    """The README's configuration table, generated from VARIABLES."""
    rows = ["| Variable | Default | Description |", "| --- | --- | --- |"]
    for variable in VARIABLES:
        name = f"`{variable.name}`" + (" (or `_FILE`)" if variable.secret else "")
        default = f"`{variable.default}`" if variable.default else "—"
        rows.append(f"| {name} | {default} | {variable.help} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - used to regenerate the README table
    if "--markdown" in sys.argv:
        print(markdown_table())
