"""The ``clickhouse`` sink: each batch is one ``INSERT INTO db.table FORMAT JSONEachRow`` over HTTP.

Wire format: ``POST <LOGSHIP_CLICKHOUSE_URL>?query=INSERT INTO `db`.`table` FORMAT JSONEachRow
&input_format_skip_unknown_fields=1[&insert_deduplication_token=<hash>][&async_insert=0]``; the body is
one JSON object per line (the last line too ends with ``\\n``), gzip level 1 with ``Content-Encoding:
gzip`` (every server decompresses a request body without ``enable_http_compression``, which only
governs responses: checked on 18.16). Authentication: ``Authorization: Basic`` from
LOGSHIP_CLICKHOUSE_USER / _PASSWORD (ClickHouse 18.16 and later accept it). One batch is one insert,
and ClickHouse inserts it atomically (one block: up to ``max_insert_block_size``, 1,048,576 rows).

Row layouts (``LOGSHIP_CLICKHOUSE_SCHEMA``), each the column list of a shipped table definition, every
column always sent (18.16 fills a missing column with its type's default, not the DDL's DEFAULT):

- ``compat`` (``configs/clickhouse/compat.sql``: 18.16 has no Map, DateTime64 or TTL): ``Timestamp``
  Unix seconds (a JSON integer: time-zone free) plus ``TimestampNs`` (0..999,999,999), ``EventDate`` (UTC
  day, the partition), one String column per metadata field, ``LabelKeys``/``LabelValues`` (the
  container's labels) and ``AttributeKeys``/``AttributeValues`` (every other field, flattened with dots).
- ``modern`` (``configs/clickhouse/modern.sql``, OpenTelemetry exporter style): ``Timestamp`` as the
  string ``"<seconds>.<9 digits>"`` (DateTime64(9) overflows on a nanosecond integer), ``TimestampTime``,
  ``ResourceAttributes`` (OpenTelemetry names) and ``LogAttributes`` as JSON objects (Map columns).
- ``auto``: ``SELECT version()`` at start; ``modern`` from 22.3 on (MODERN_MIN_VERSION), else ``compat``.

Severity: ``SeverityText``/``SeverityNumber`` are the parsed ``log.level`` (upper case; OpenTelemetry's
numbers, ``record.OTLP_SEVERITY``); a line without a level takes the stream's (stdout → INFO/9, stderr →
ERROR/17), the convention of Google Cloud Logging's agent; the ``Stream`` column keeps the fact itself.
A parsed line's ``attributes`` (and ``log.lines``) go to ``LogAttributes`` / ``AttributeKeys``+``Values``
under their own dotted paths, after the container's fields (a name those have is left to them).
A record that is not a JSON object (never made by the collector) is stored with its text as ``Body``
and ``logship.error`` among the attributes.

Deduplication: ``insert_deduplication_token`` (a SHA-256 of the batch's records) is sent only when the
server has that setting (looked up in ``system.settings`` at start: ClickHouse refuses unknown settings,
18.16 with ``Code: 115``). A resent batch (after a timeout whose insert did land) is then dropped by the
server, within the table's ``non_replicated_deduplication_window`` (modern.sql sets 1000) or
``replicated_deduplication_window``. ``async_insert=0`` is sent where it exists, so that the token and
the batch stay one insert. Without either (compat on old servers) delivery is at least once.

Answers (``classify``): the ``Code: N`` in the body (or ``X-ClickHouse-Exception-Code``) decides, not the
status alone (18.16 answers 500 to a parse error, 404 to an unknown table):

- 2xx: delivered;
- a row ClickHouse cannot take (parse/type/range codes, DATA_CODES): rejected with ``split``: one bad
  row fails the whole insert, so the shipper bisects until the bad row alone is dead-lettered;
- credentials (192, 193, 194, 195, 497, 516): retried, reason ``auth``, "credentials refused" (a
  configuration fault: dead-lettering would throw every record away until someone fixes it);
- table or database missing (60, 81), or another configuration fault (CONFIG_CODES): retried, with what
  to do in the detail (with LOGSHIP_CLICKHOUSE_CREATE_TABLE the table is created again first);
- overload and transient faults (TRANSIENT_CODES: 241 memory, 252 too many parts, timeouts…): retried;
- no code (a proxy, a server that died): as the ``http`` sink: 413 split, 401/403 and the statuses in
  LOGSHIP_CLICKHOUSE_RETRY_STATUS retried (Retry-After honoured), others rejected;
- another code: retried if its status is in LOGSHIP_CLICKHOUSE_RETRY_STATUS, else rejected.
No answer at all: ``connect``, ``tls`` or ``timeout`` retry (HttpTransport).
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from yarl import URL

from logship.config import ClickHouseSinkConfig
from logship.record import OTLP_SEVERITY, Line, Reader, decode, flatten
from logship.ship.outcome import DELIVERED, Outcome, OutcomeKind, rejected, retry
from logship.sinks import http
from logship.sinks.base import Batch, SinkError
from logship.sinks.gzip_body import gzip_compress
from logship.sinks.transport import Answer, HttpTransport, auth_headers, encode_off_loop, header
from logship.timestamps import split_seconds

log = logging.getLogger(__name__)

SCHEMAS = ("compat", "modern")
# The first version with everything modern.sql and the insert need without experimental switches:
# Map (behind allow_experimental_map_type in 21.x releases), DateTime64 (20.1), TTL and
# ttl_only_drop_parts, tokenbf_v1 and bloom_filter indexes, non_replicated_deduplication_window and
# the insert_deduplication_token setting (22.x). 22.3 is the LTS release that has them all.
MODERN_MIN_VERSION = (22, 3)

# Codes from ClickHouse's ErrorCodes.cpp.
DATA_CODES = frozenset({
    6,    # CANNOT_PARSE_TEXT
    26,   # CANNOT_PARSE_QUOTED_STRING
    27,   # CANNOT_PARSE_INPUT_ASSERTION_FAILED (18.16 answers 500)
    32,   # ATTEMPT_TO_READ_AFTER_EOF
    38,   # CANNOT_PARSE_DATE
    41,   # CANNOT_PARSE_DATETIME
    53,   # TYPE_MISMATCH
    69,   # ARGUMENT_OUT_OF_BOUND
    70,   # CANNOT_CONVERT_TYPE
    72,   # CANNOT_PARSE_NUMBER
    117,  # INCORRECT_DATA
    131,  # TOO_LARGE_STRING_SIZE (a FixedString column; 18.16 answers 500)
    321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    407,  # DECIMAL_OVERFLOW
})
AUTH_CODES = frozenset({
    192,  # UNKNOWN_USER
    193,  # WRONG_PASSWORD
    194,  # REQUIRED_PASSWORD
    195,  # IP_ADDRESS_NOT_ALLOWED
    497,  # ACCESS_DENIED
    516,  # AUTHENTICATION_FAILED
})
TABLE_CODES = frozenset({60, 81})  # UNKNOWN_TABLE, UNKNOWN_DATABASE
CONFIG_CODES = frozenset({
    16,   # NO_SUCH_COLUMN_IN_TABLE
    62,   # SYNTAX_ERROR
    115,  # UNKNOWN_SETTING
    164,  # READONLY
})
TRANSIENT_CODES = frozenset({
    159,  # TIMEOUT_EXCEEDED
    201,  # QUOTA_EXCEEDED (QUOTA_EXPIRED in old servers)
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    203,  # NO_FREE_CONNECTION
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY
    252,  # TOO_MANY_PARTS
    319,  # UNKNOWN_STATUS_OF_INSERT
    394,  # QUERY_WAS_CANCELLED
    425,  # SYSTEM_ERROR
    439,  # CANNOT_SCHEDULE_TASK
    999,  # KEEPER_EXCEPTION
})
_CODE = re.compile(rb"Code: (\d+)")
_MAX_DATETIME = 2**32 - 1  # DateTime is a UInt32 of seconds: 1970..2106
_SETTINGS_WANTED = ("insert_deduplication_token", "async_insert")

# --- the table definitions (configs/clickhouse/*.sql hold the same statements, with comments) ------

COMPAT_DDL = """CREATE TABLE IF NOT EXISTS {database}.{table}
(
    EventDate        Date,
    Timestamp        DateTime,
    TimestampNs      UInt32,
    ServiceName      String,
    ServiceNamespace String,
    HostName         String,
    HostId           String,
    ContainerId      String,
    ContainerName    String,
    ImageName        String,
    Stream           String,
    SeverityText     String,
    SeverityNumber   UInt8,
    Body             String,
    ComposeProject   String,
    ComposeService   String,
    SwarmServiceId   String,
    SwarmServiceName String,
    SwarmTaskId      String,
    SwarmTaskName    String,
    SwarmTaskSlot    UInt32,
    SwarmNodeId      String,
    LabelKeys        Array(String),
    LabelValues      Array(String),
    AttributeKeys    Array(String),
    AttributeValues  Array(String)
)
ENGINE = MergeTree
PARTITION BY EventDate
ORDER BY (ServiceName, Timestamp)
SETTINGS index_granularity = 8192
"""

MODERN_DDL = """CREATE TABLE IF NOT EXISTS {database}.{table}
(
    Timestamp          DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime      DateTime DEFAULT toDateTime(Timestamp),
    ServiceName        LowCardinality(String) CODEC(ZSTD(1)),
    ServiceNamespace   LowCardinality(String) CODEC(ZSTD(1)),
    HostName           LowCardinality(String) CODEC(ZSTD(1)),
    ContainerId        String CODEC(ZSTD(1)),
    ContainerName      LowCardinality(String) CODEC(ZSTD(1)),
    ImageName          LowCardinality(String) CODEC(ZSTD(1)),
    Stream             LowCardinality(String) CODEC(ZSTD(1)),
    SeverityText       LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber     UInt8,
    Body               String CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes      Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
)
ENGINE = MergeTree
PARTITION BY toDate(TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
TTL TimestampTime + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
"""

DDL = {"compat": COMPAT_DDL, "modern": MODERN_DDL}


def quote_identifier(name: str) -> str:
    """``name`` as a backquoted ClickHouse identifier (backslash and backquote escaped)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def table_name(config: ClickHouseSinkConfig) -> str:
    return f"{quote_identifier(config.database)}.{quote_identifier(config.table)}"


def create_table_sql(schema: str, database: str, table: str) -> str:
    """The CREATE TABLE IF NOT EXISTS statement of ``schema`` for ``database``.``table``."""
    return DDL[schema].replace("{database}", quote_identifier(database)).replace("{table}", quote_identifier(table))


def insert_query(config: ClickHouseSinkConfig) -> str:
    return f"INSERT INTO {table_name(config)} FORMAT JSONEachRow"


# --- server version and schema --------------------------------------------------------------------


def parse_version(text: str) -> tuple[int, ...]:
    """``"18.16.1"`` → (18, 16, 1); ``"24.3.2.23-lts"`` → (24, 3, 2, 23). Raises ValueError."""
    parts = re.findall(r"\d+", text.split("-")[0])
    if len(parts) < 2:
        raise ValueError(f"not a ClickHouse version: {text!r}")
    return tuple(int(part) for part in parts)


def choose_schema(configured: str, version: tuple[int, ...]) -> str:
    """The row layout: ``configured`` unless it is ``auto``, then by the server's version."""
    if configured in SCHEMAS:
        return configured
    return "modern" if version[:2] >= MODERN_MIN_VERSION else "compat"


@dataclass(frozen=True)
class ServerInfo:
    """What logship learnt about the server at start."""

    version: str
    settings: frozenset[str]  # which of _SETTINGS_WANTED the server knows

    @property
    def deduplication_token(self) -> bool:
        return "insert_deduplication_token" in self.settings


SERVER_INFO_QUERY = ("SELECT version() AS version, groupArray(name) AS settings FROM system.settings WHERE name IN ("
                     + ", ".join(f"'{name}'" for name in _SETTINGS_WANTED) + ") FORMAT JSONEachRow")


def parse_server_info(body: bytes) -> ServerInfo:
    """The answer of SERVER_INFO_QUERY. Raises ValueError for anything else."""
    try:
        row = orjson.loads(body.strip().splitlines()[0])
        version = str(row["version"])
        parse_version(version)
        return ServerInfo(version, frozenset(str(name) for name in row["settings"]))
    except (orjson.JSONDecodeError, IndexError, KeyError, TypeError) as exc:
        raise ValueError(f"unexpected answer to SELECT version(): {http.body_excerpt(body)!r}") from exc


def deduplication_token(batch: Batch) -> str:
    """A hash of the batch's records: the same records give the same token, so a resent batch is dropped."""
    digest = hashlib.sha256()
    for record in batch.records:
        digest.update(b"%d:" % len(record))
        digest.update(record)
    return digest.hexdigest()[:40]


def insert_params(config: ClickHouseSinkConfig, server: ServerInfo, token: str) -> dict[str, str]:
    """The URL parameters of an insert: the query and only settings this server knows."""
    params = {"query": insert_query(config), "input_format_skip_unknown_fields": "1"}
    if server.deduplication_token:
        params["insert_deduplication_token"] = token
    if "async_insert" in server.settings:
        params["async_insert"] = "0"
    return params


# --- rows ------------------------------------------------------------------------------------------

_EPOCH = datetime.date(1970, 1, 1)
_DAY_TEXT: dict[int, str] = {}
_SEVERITY = {"stdout": ("INFO", 9), "stderr": ("ERROR", 17)}


def _day_text(seconds: int) -> str:
    day = seconds // 86400
    text = _DAY_TEXT.get(day)
    if text is None:
        text = datetime.date.fromordinal(_EPOCH.toordinal() + day).isoformat()
        if len(_DAY_TEXT) < 4096:
            _DAY_TEXT[day] = text
    return text


def split_timestamp(text: Any) -> tuple[int, int]:
    """A record's timestamp as (Unix seconds, nanoseconds); (0, 0) when it cannot be read."""
    return (split_seconds(text) if isinstance(text, str) else None) or (0, 0)


def _text(value: Any) -> str:
    """A field as a String column's value."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | float | dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _take(mapping: Any, key: str) -> Any:
    """Pop ``key`` from a dict (None when ``mapping`` is not one), so what is left is "everything else"."""
    return mapping.pop(key, None) if isinstance(mapping, dict) else None


def _take_dict(mapping: Any, key: str) -> dict[str, Any]:
    value = _take(mapping, key)
    return value if isinstance(value, dict) else ({} if value is None else {"": value})


def _slot(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_DATETIME:
        return value
    if isinstance(value, str) and value.isdigit() and int(value) <= _MAX_DATETIME:
        return int(value)
    return 0


def _fields(record: dict[str, Any]) -> dict[str, Any]:
    """The record's fields by role, removed from ``record``; what stays in it are the other fields."""
    container = _take_dict(record, "container")
    service = _take_dict(record, "service")
    compose = _take_dict(record, "compose")
    swarm = _take_dict(record, "swarm")
    host = _take_dict(record, "host")
    swarm_service = _take_dict(swarm, "service")
    task = _take_dict(swarm, "task")
    node = _take_dict(swarm, "node")
    image = _take_dict(container, "image")
    labels = _take_dict(container, "labels")
    stream = _text(_take(record, "stream"))
    seconds, nanos = split_timestamp(_take(record, "timestamp"))
    log_fields = _take(record, "log")
    level = _take(log_fields, "level")
    return {
        "seconds": min(max(seconds, 0), _MAX_DATETIME), "nanos": nanos,
        "message": _text(_take(record, "message")), "stream": stream,
        "service_name": _text(_take(service, "name")), "service_namespace": _text(_take(service, "namespace")),
        "host_name": _text(_take(host, "name")), "host_id": _text(_take(host, "id")),
        "container_id": _text(_take(container, "id")), "container_name": _text(_take(container, "name")),
        "image": _text(_take(image, "name")),
        "compose_project": _text(_take(compose, "project")), "compose_service": _text(_take(compose, "service")),
        "swarm_service_id": _text(_take(swarm_service, "id")),
        "swarm_service_name": _text(_take(swarm_service, "name")),
        "swarm_service_labels": _take_dict(swarm_service, "labels"),
        "task_id": _text(_take(task, "id")), "task_name": _text(_take(task, "name")), "slot": _take(task, "slot"),
        "node_id": _text(_take(node, "id")),
        "labels": {key: _text(value) for key, value in labels.items()},
        "severity": _severity(level, stream),
        "line_attributes": line_attributes(log_fields, _take(record, "attributes")),
        # what is left of the nested objects (fields logship does not map) goes with the rest
        "rest": {"container": container, "service": service, "compose": compose, "host": host,
                 "swarm": {"service": swarm_service, "task": task, "node": node, **swarm}, "image": image},
    }


def _severity(level: Any, stream: str) -> tuple[str, int]:
    """(SeverityText, SeverityNumber): the line's level (OpenTelemetry's numbers), else the stream's."""
    if level in OTLP_SEVERITY:
        return level.upper(), OTLP_SEVERITY[level]
    return _SEVERITY.get(stream, ("", 0))


def _flatten(prefix: tuple[str, ...], value: Any, out: dict[str, str]) -> None:
    """Leaves of ``value`` as ``{"a.b": "text"}`` under ``prefix`` (empty keys left out of the name)."""
    if isinstance(value, dict):
        for path, leaf in flatten(value, prefix):
            out[".".join(filter(None, path))] = _text(leaf)
    elif value is not None:
        out[".".join(filter(None, prefix))] = _text(value)


def _leftovers(record: dict[str, Any], rest: dict[str, Any]) -> dict[str, str]:
    """The fields no column holds, flattened with dots."""
    out: dict[str, str] = {}
    for key in ("container", "service", "compose", "swarm", "host"):
        _flatten((key,), rest[key], out)
    _flatten(("container", "image"), rest["image"], out)
    _flatten((), record, out)
    return out


def line_attributes(log_fields: Any, attributes: Any) -> dict[str, str]:
    """A line's own attributes: what ``log`` holds but the level (``log.lines`` of a joined event), then
    the parsed attributes under their own dotted paths."""
    out: dict[str, str] = {}
    if log_fields:
        _flatten(("log",), log_fields, out)
    if attributes is not None:
        _flatten((), attributes, out)
    return out


def _add_line_attributes(row: dict[str, Any], schema: str, attributes: dict[str, str]) -> None:
    """Add a line's own attributes to ``row`` after its container's (a name taken is left to it)."""
    if not attributes:
        return
    if schema == "compat":
        keys, values = row["AttributeKeys"], row["AttributeValues"]
        taken = set(keys)
        new = [(key, value) for key, value in attributes.items() if key not in taken]
        row["AttributeKeys"] = keys + [key for key, _ in new]
        row["AttributeValues"] = values + [value for _, value in new]
    else:
        merged = row["LogAttributes"]
        row["LogAttributes"] = {**merged, **{key: value for key, value in attributes.items() if key not in merged}}


def _decode(record: bytes) -> dict[str, Any]:
    fields, undecodable = decode(record)
    if undecodable:  # never produced by logship's collector: kept whole, and said so, rather than lost
        fields["logship"] = {"error": "record is not a JSON object"}
    return fields


def compat_row(record: dict[str, Any]) -> dict[str, Any]:
    """One record as a row of compat.sql (consumes ``record``)."""
    f = _fields(record)
    severity_text, severity_number = f["severity"]
    attributes = _leftovers(record, f["rest"])
    for key, value in f["swarm_service_labels"].items():
        attributes[f"swarm.service.labels.{key}"] = _text(value)
    seconds = f["seconds"]
    row = {
        "EventDate": _day_text(seconds),
        "Timestamp": seconds, "TimestampNs": f["nanos"],
        "ServiceName": f["service_name"], "ServiceNamespace": f["service_namespace"],
        "HostName": f["host_name"], "HostId": f["host_id"],
        "ContainerId": f["container_id"], "ContainerName": f["container_name"], "ImageName": f["image"],
        "Stream": f["stream"], "SeverityText": severity_text, "SeverityNumber": severity_number,
        "Body": f["message"],
        "ComposeProject": f["compose_project"], "ComposeService": f["compose_service"],
        "SwarmServiceId": f["swarm_service_id"], "SwarmServiceName": f["swarm_service_name"],
        "SwarmTaskId": f["task_id"], "SwarmTaskName": f["task_name"], "SwarmTaskSlot": _slot(f["slot"]),
        "SwarmNodeId": f["node_id"],
        "LabelKeys": list(f["labels"]), "LabelValues": list(f["labels"].values()),
        "AttributeKeys": list(attributes), "AttributeValues": list(attributes.values()),
    }
    _add_line_attributes(row, "compat", f["line_attributes"])
    return row


_RESOURCE_KEYS = (
    ("service.name", "service_name"), ("service.namespace", "service_namespace"),
    ("host.name", "host_name"), ("host.id", "host_id"),
    ("container.id", "container_id"), ("container.name", "container_name"), ("container.image.name", "image"),
    ("docker.compose.project", "compose_project"), ("docker.compose.service", "compose_service"),
    ("docker.swarm.service.id", "swarm_service_id"), ("docker.swarm.service.name", "swarm_service_name"),
    ("docker.swarm.task.id", "task_id"), ("docker.swarm.task.name", "task_name"),
    ("docker.swarm.node.id", "node_id"),
)


def modern_row(record: dict[str, Any]) -> dict[str, Any]:
    """One record as a row of modern.sql (consumes ``record``)."""
    f = _fields(record)
    severity_text, severity_number = f["severity"]
    resource = {name: f[field] for name, field in _RESOURCE_KEYS if f[field]}
    if f["slot"] is not None:
        resource["docker.swarm.task.slot"] = _text(f["slot"])
    for key, value in f["labels"].items():
        resource[f"container.label.{key}"] = value
    for key, value in f["swarm_service_labels"].items():
        resource[f"docker.swarm.service.label.{key}"] = _text(value)
    attributes = {"log.iostream": f["stream"]} if f["stream"] else {}
    attributes.update(_leftovers(record, f["rest"]))
    seconds = f["seconds"]
    row = {
        "Timestamp": f"{seconds}.{f['nanos']:09d}", "TimestampTime": seconds,
        "ServiceName": f["service_name"], "ServiceNamespace": f["service_namespace"],
        "HostName": f["host_name"], "ContainerId": f["container_id"], "ContainerName": f["container_name"],
        "ImageName": f["image"], "Stream": f["stream"],
        "SeverityText": severity_text, "SeverityNumber": severity_number, "Body": f["message"],
        "ResourceAttributes": resource, "LogAttributes": attributes,
    }
    _add_line_attributes(row, "modern", f["line_attributes"])
    return row


ROW_BUILDERS = {"compat": compat_row, "modern": modern_row}
# The columns that differ from line to line; every other column depends only on the container and stream.
PER_LINE_COLUMNS = {"compat": ("EventDate", "Timestamp", "TimestampNs", "Body"),
                    "modern": ("Timestamp", "TimestampTime", "Body")}

_SEVERITY_COLUMNS = ("SeverityText", "SeverityNumber")


def _line_head(schema: str, seconds: int, nanos: int) -> bytes:
    if schema == "compat":
        return b'{"EventDate":"%b","Timestamp":%d,"TimestampNs":%d,"Body":' % (
            _day_text(seconds).encode(), seconds, nanos)
    return b'{"Timestamp":"%d.%09d","TimestampTime":%d,"Body":' % (seconds, nanos, seconds)


def _shared_row(shared: dict[str, Any], schema: str) -> tuple[bytes, dict[str, Any]]:
    """(the row's columns but the per-line ones, as the end of a JSON object ``,"A":…}\\n``; the whole
    row) of the fields every line of a container and stream shares (consumed)."""
    row = ROW_BUILDERS[schema](shared)
    rest = dict(row)
    for column in PER_LINE_COLUMNS[schema]:
        del rest[column]
    encoded = orjson.dumps(rest)
    return b"," + encoded[1:] + b"\n" if len(encoded) > 2 else b"}\n", row


def _parsed_row(line: Line, shared_row: dict[str, Any], schema: str, seconds: int, nanos: int) -> dict[str, Any]:
    """The row of a line with parsed fields (``log``, ``attributes``): its container's row with the
    per-line columns, the level's severity and the line's own attributes (what the row builders make)."""
    row = dict(shared_row)
    head = line.head
    if schema == "compat":
        row["EventDate"], row["Timestamp"], row["TimestampNs"] = _day_text(seconds), seconds, nanos
    else:
        row["Timestamp"], row["TimestampTime"] = f"{seconds}.{nanos:09d}", seconds
    row["Body"] = head["message"]
    log_fields = head.get("log")
    level = line.level
    if level is not None:
        row["SeverityText"], row["SeverityNumber"] = level.upper(), OTLP_SEVERITY[level]
        log_fields = {key: value for key, value in log_fields.items() if key != "level"}
    _add_line_attributes(row, schema, line_attributes(log_fields, head.get("attributes")))
    return row


def encode(batch: Batch, schema: str) -> bytes:
    """The insert's body (uncompressed): one JSONEachRow line per record, in ``schema``'s layout.

    Every line of a container and stream shares most columns, built once per batch (``Shared.encoded``):
    a line with only a timestamp, a message and perhaps ``partial`` (every line before parsing) is its
    per-line columns spliced before them; a line with parsed fields is its container's row with its own
    columns set; any other record is built whole.
    """
    build = ROW_BUILDERS[schema]
    dumps = orjson.dumps
    read = Reader().read
    with_partial: dict[tuple[bytes, bytes], tuple[bytes, dict[str, Any]]] = {}
    lines = []
    for record in batch.records:
        line = read(record)
        head = line.head
        if not line.undecodable:
            timestamp, message = head.get("timestamp"), head.get("message")
            seconds, nanos = (split_seconds(timestamp) if type(timestamp) is str else None) or (-1, 0)
            if type(message) is str and 0 <= seconds <= _MAX_DATETIME:
                shared = line.shared
                partial = head.get("partial")
                if partial is None:
                    encoded = shared.encoded
                    if encoded is None:
                        encoded = shared.encoded = _shared_row(shared.copy_fields(), schema)
                    if len(head) == 2:
                        lines.append(_line_head(schema, seconds, nanos) + dumps(message) + encoded[0])
                    else:
                        lines.append(dumps(_parsed_row(line, encoded[1], schema, seconds, nanos)) + b"\n")
                    continue
                if len(head) == 3:  # a part of a cut line: its partial.* attributes go with the container's
                    key = (shared.key, dumps(partial))
                    encoded = with_partial.get(key) or with_partial.setdefault(
                        key, _shared_row({"partial": partial, **shared.copy_fields()}, schema))
                    lines.append(_line_head(schema, seconds, nanos) + dumps(message) + encoded[0])
                    continue
        lines.append(dumps(build(_decode(record))) + b"\n")
    return b"".join(lines)


def compress(body: bytes) -> bytes:
    return gzip_compress(body)


def _encode_compressed(batch: Batch, schema: str) -> bytes:
    return compress(encode(batch, schema))


# --- answers ---------------------------------------------------------------------------------------


def error_code(headers: Mapping[str, str], body: bytes) -> int | None:
    """ClickHouse's exception code: ``X-ClickHouse-Exception-Code`` (modern) or ``Code: N`` in the body."""
    value = header(headers, "X-ClickHouse-Exception-Code")
    if value is not None and value.strip().isdigit():
        return int(value)
    match = _CODE.search(body[:1024])
    return int(match.group(1)) if match else None


def _said(code: int, body: bytes) -> str:
    text = http.body_excerpt(body)
    text = re.sub(r"^Code: \d+[.,]\s*(e\.displayText\(\) = )?", "", text)
    text = re.sub(r",? e\.what\(\) = DB::Exception$", "", text)
    return f"Code {code}: {text}"


def classify(status: int, headers: Mapping[str, str], body: bytes, retry_status: frozenset[int]) -> Outcome:
    """The Outcome of one answer of ClickHouse (rows in the module docstring)."""
    if 200 <= status < 300:
        return DELIVERED
    code = error_code(headers, body)
    if code is None:
        return http.classify(status, headers, body, retry_status)
    said = _said(code, body)
    if code in DATA_CODES:
        return rejected(f"clickhouse {said}", split=True)
    if code in AUTH_CODES:
        return retry("auth", detail=f"credentials refused: {said}")
    if code in TABLE_CODES:
        return retry("unknown_table", detail=f"{said} (create it from configs/clickhouse/compat.sql or modern.sql, "
                                             "or set LOGSHIP_CLICKHOUSE_CREATE_TABLE=true)")
    if code in CONFIG_CODES:
        return retry("config", detail=said)
    if code in TRANSIENT_CODES:
        return retry(f"code_{code}", detail=said)
    if status in retry_status:
        return retry(f"http_{status}", detail=said)
    return rejected(f"clickhouse {said}")


# --- the sink --------------------------------------------------------------------------------------


class ClickHouseSink:
    """Inserts batches over ClickHouse's HTTP interface (at most ``concurrency`` at once)."""

    name = "clickhouse"

    def __init__(self, config: ClickHouseSinkConfig) -> None:
        if ":" in config.user:
            raise SinkError("LOGSHIP_CLICKHOUSE_USER must not contain ':'", retriable=False)
        self.config = config
        url = URL(config.url)
        self._url = str(url)
        self._ping_url = str(url.with_query(None).with_fragment(None)).rstrip("/") + "/ping"
        auth = auth_headers("LOGSHIP_CLICKHOUSE_", username=config.user or "default", password=config.password)
        self._transport = HttpTransport(self.name, config.tls, config.timeout, config.concurrency, auth)
        self._server: ServerInfo | None = None
        self.schema: str | None = config.schema if config.schema in SCHEMAS else None
        self._prepare_lock = asyncio.Lock()
        self._warned = False

    @property
    def server(self) -> ServerInfo | None:
        return self._server

    async def start(self) -> None:
        """Open the session; learn the server's version and create the table (when configured).

        A server that is not there yet is not an error here: ``send`` tries again first.
        """
        await self._transport.start()
        problem = await self._prepare()
        if problem is not None:
            self._warned = True
            log.warning("sink clickhouse: not ready at start (%s); trying again before the first insert",
                        problem.detail or problem.reason)

    async def _query(self, sql: str) -> Answer | Outcome:
        return await self._transport.post(self._url, sql.encode(), {"Content-Type": "text/plain; charset=utf-8"})

    async def _prepare(self) -> Outcome | None:
        """Version, settings and schema (once), then CREATE TABLE if configured; None when ready."""
        async with self._prepare_lock:
            if self._server is not None:
                return None
            answer = await self._query(SERVER_INFO_QUERY)
            if isinstance(answer, Outcome):
                return answer
            if answer.status != 200:
                outcome = classify(answer.status, answer.headers, answer.body, self.config.retry_status)
                return outcome if outcome.kind is OutcomeKind.RETRY else retry(
                    "config", detail=f"SELECT version(): {outcome.reason}")
            try:
                server = parse_server_info(answer.body)
            except ValueError as exc:
                return retry("config", detail=str(exc))
            schema = choose_schema(self.config.schema, parse_version(server.version))
            if self.config.create_table:
                answer = await self._query(create_table_sql(schema, self.config.database, self.config.table))
                if isinstance(answer, Outcome):
                    return answer
                if answer.status != 200:
                    code = error_code(answer.headers, answer.body)
                    said = _said(code, answer.body) if code is not None else http.body_excerpt(answer.body)
                    return retry("auth" if code in AUTH_CODES else "config",
                                 detail=f"creating {table_name(self.config)} ({schema} schema) on ClickHouse "
                                        f"{server.version} failed: {said}")
            self._server, self.schema = server, schema
            log.info("sink clickhouse: ClickHouse %s, %s rows into %s%s", server.version, schema,
                     table_name(self.config), "" if server.deduplication_token else " (no insert_deduplication_token "
                     "on this server: a resent batch is stored twice)")
            return None

    async def send(self, batch: Batch) -> Outcome:
        """Insert ``batch`` and classify the answer; no answer at all becomes a RETRY."""
        problem = await self._prepare()
        if problem is not None:
            return problem
        assert self._server is not None and self.schema is not None
        body = await encode_off_loop(_encode_compressed, batch, self.schema)
        params = insert_params(self.config, self._server, deduplication_token(batch))
        answer = await self._transport.post(self._url, body, {"Content-Type": "application/x-ndjson",
                                                              "Content-Encoding": "gzip"}, params=params)
        if isinstance(answer, Outcome):
            return answer
        outcome = classify(answer.status, answer.headers, answer.body, self.config.retry_status)
        if outcome.reason == "unknown_table" and self.config.create_table:
            self._server = None  # dropped since start: create it again before the next attempt
        return outcome

    async def healthcheck(self) -> None:
        """``GET /ping``, then ``SELECT 1`` with the credentials, then the table: SinkError saying what failed."""
        answer = await self._transport.probe(self._ping_url)
        if answer.status != 200:
            raise SinkError(f"{self._ping_url}: answered HTTP {answer.status}: {http.body_excerpt(answer.body)}")
        result = await self._query("SELECT 1")
        if isinstance(result, Outcome):
            raise SinkError(f"{self._url}: {result.detail or result.reason}")
        if result.status != 200:
            code = error_code(result.headers, result.body)
            if code in AUTH_CODES or (code is None and result.status in (401, 403)):
                said = _said(code, result.body) if code is not None else f"HTTP {result.status}"
                raise SinkError(f"{self._url}: credentials refused for user {self.config.user!r}: {said}",
                                retriable=False)
            said = _said(code, result.body) if code is not None else http.body_excerpt(result.body)
            raise SinkError(f"{self._url}: SELECT 1 failed: HTTP {result.status}: {said}")
        problem = await self._prepare()
        if problem is not None:
            raise SinkError(f"{self._url}: {problem.detail or problem.reason}")
        exists = await self._query(f"EXISTS TABLE {table_name(self.config)}")
        if isinstance(exists, Outcome) or exists.status != 200:
            detail = exists.detail if isinstance(exists, Outcome) else http.body_excerpt(exists.body)
            raise SinkError(f"{self._url}: cannot check the table {table_name(self.config)}: {detail}")
        if exists.body.strip() != b"1":
            assert self._server is not None
            raise SinkError(f"table {table_name(self.config)} does not exist on ClickHouse {self._server.version}: "
                            f"create it from configs/clickhouse/{self.schema}.sql or set "
                            "LOGSHIP_CLICKHOUSE_CREATE_TABLE=true")

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._transport.aclose()
