"""The ``clickhouse`` sink, the Sink class: send, healthcheck, aclose.

The wire format and the answers are described in ``logship.sinks.clickhouse``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

import orjson
from yarl import URL

from logship.ship.outcome import Outcome, Retry, retry
from logship.sinks._http import Answer, HttpTransport, auth_headers, body_excerpt, encode_once
from logship.sinks.base import Batch, SinkError
from logship.sinks.clickhouse.classify import AUTH_CODES, _said, classify, error_code
from logship.sinks.clickhouse.encode import insert_body
from logship.sinks.clickhouse.spec import ClickHouseSinkConfig

log = logging.getLogger(__package__)  # the sink's logger name: logship.sinks.clickhouse

SCHEMAS = ("compat", "modern")
# The first version with everything modern.sql and the insert need without experimental switches:
# Map (behind allow_experimental_map_type in 21.x releases), DateTime64 (20.1), TTL and
# ttl_only_drop_parts, tokenbf_v1 and bloom_filter indexes, non_replicated_deduplication_window and
# the insert_deduplication_token setting (22.x). 22.3 is the LTS release that has them all.
MODERN_MIN_VERSION = (22, 3)
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
        raise ValueError(f"unexpected answer to SELECT version(): {body_excerpt(body)!r}") from exc


def insert_params(config: ClickHouseSinkConfig, server: ServerInfo, token: str) -> dict[str, str]:
    """The URL parameters of an insert: the query and only settings this server knows."""
    params = {"query": insert_query(config), "input_format_skip_unknown_fields": "1"}
    if server.deduplication_token:
        params["insert_deduplication_token"] = token
    if "async_insert" in server.settings:
        params["async_insert"] = "0"
    return params


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
                return outcome if isinstance(outcome, Retry) else retry(
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
                    said = _said(code, answer.body) if code is not None else body_excerpt(answer.body)
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
        body, token = await encode_once(insert_body, batch, self.schema, threaded=True)  # measured: encode_once
        params = insert_params(self.config, self._server, token)
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
            raise SinkError(f"{self._ping_url}: answered HTTP {answer.status}: {body_excerpt(answer.body)}")
        result = await self._query("SELECT 1")
        if isinstance(result, Outcome):
            raise SinkError(f"{self._url}: {result.detail or result.reason}")
        if result.status != 200:
            code = error_code(result.headers, result.body)
            if code in AUTH_CODES or (code is None and result.status in (401, 403)):
                said = _said(code, result.body) if code is not None else f"HTTP {result.status}"
                raise SinkError(f"{self._url}: credentials refused for user {self.config.user!r}: {said}",
                                retriable=False)
            said = _said(code, result.body) if code is not None else body_excerpt(result.body)
            raise SinkError(f"{self._url}: SELECT 1 failed: HTTP {result.status}: {said}")
        problem = await self._prepare()
        if problem is not None:
            raise SinkError(f"{self._url}: {problem.detail or problem.reason}")
        exists = await self._query(f"EXISTS TABLE {table_name(self.config)}")
        if isinstance(exists, Outcome) or exists.status != 200:
            detail = exists.detail if isinstance(exists, Outcome) else body_excerpt(exists.body)
            raise SinkError(f"{self._url}: cannot check the table {table_name(self.config)}: {detail}")
        if exists.body.strip() != b"1":
            assert self._server is not None
            raise SinkError(f"table {table_name(self.config)} does not exist on ClickHouse {self._server.version}: "
                            f"create it from configs/clickhouse/{self.schema}.sql or set "
                            "LOGSHIP_CLICKHOUSE_CREATE_TABLE=true")

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._transport.aclose()
