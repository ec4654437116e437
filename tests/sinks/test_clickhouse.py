"""The clickhouse sink: classify (ClickHouse's documented answers), the row layouts, and the real client
against a real ClickHouse (Debian's 18.16: the compat layout) started for the session."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import gzip
import re
import subprocess
import time
import uuid
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import orjson
import pytest

from logship.config import BatchConfig, TlsConfig
from logship.metrics import Metrics
from logship.ship.outcome import OutcomeKind
from logship.ship.shipper import Shipper
from logship.sinks.base import Batch, SinkError
from logship.sinks.clickhouse import encode as clickhouse_encode
from logship.sinks.clickhouse import sink as clickhouse_sink
from logship.sinks.clickhouse.classify import classify
from logship.sinks.clickhouse.encode import deduplication_token, encode, split_timestamp
from logship.sinks.clickhouse.sink import (
    ClickHouseSink,
    ServerInfo,
    choose_schema,
    create_table_sql,
    insert_params,
    parse_server_info,
    parse_version,
)
from logship.sinks.clickhouse.spec import ClickHouseSinkConfig
from tests.servers import common
from tests.servers.clickhouse import PASSWORD, USER, ClickHouseServer, QueryError, clickhouse_server  # noqa: F401
from tests.servers.common import free_port
from tests.ship.fake_buffer import FakeBuffer
from tests.ship.helpers import FAST_RETRY, eventually
from tests.sinks import running
from tests.sinks.records import CONTAINER_ID, METADATA, decoded, parsed_batch, records, sample_batch
from tests.support import DockerHarness, check_report, report_line

DELIVERED, RETRY, REJECTED = OutcomeKind.DELIVERED, OutcomeKind.RETRY, OutcomeKind.REJECTED
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})  # LOGSHIP_CLICKHOUSE_RETRY_STATUS's default
REPO = Path(__file__).resolve().parents[2]
SERVER_18 = ServerInfo("18.16.1", frozenset())
SERVER_26 = ServerInfo("26.9.2.1", frozenset({"insert_deduplication_token", "async_insert"}))


def config(url: str = "http://127.0.0.1:9", table: str = "container_logs", **changes: Any) -> ClickHouseSinkConfig:
    base = ClickHouseSinkConfig(url=url, database="default", table=table, user="default", password=None,
                                schema="auto", create_table=False, concurrency=2, timeout=10.0,
                                retry_status=RETRY_STATUS, tls=TlsConfig(),
                                batch=BatchConfig(20000, 16 * 1024**2, 1.0))
    return dataclasses.replace(base, **changes)


def batch(recs: list[bytes]) -> Batch:
    return Batch(recs, sum(map(len, recs)))


def unique_table() -> str:
    return f"logs_{uuid.uuid4().hex[:10]}"


# --- classify: ClickHouse's answers ---------------------------------------------------------------

# Bodies as 18.16 writes them (seen on the test server) and as current servers do (docs, source).
PARSE_18 = (b'Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected " before: abc","Body":"x"}: '
            b"(while read the value of key SwarmTaskSlot): (at row 1)\n, e.what() = DB::Exception\n")
PARSE_MODERN = (b"Code: 27. DB::Exception: Cannot parse input: expected '\"' before: 'abc': (while reading the value "
                b"of key SwarmTaskSlot): (at row 1)\n: While executing ParallelParsingBlockInputFormat. "
                b"(CANNOT_PARSE_INPUT_ASSERTION_FAILED) (version 24.8.4.13 (official build))\n")
WRONG_PASSWORD_18 = (b"Code: 193, e.displayText() = DB::Exception: Wrong password for user shipper, "
                     b"e.what() = DB::Exception\n")
UNKNOWN_USER_18 = b"Code: 192, e.displayText() = DB::Exception: Unknown user nobody, e.what() = DB::Exception\n"
AUTH_MODERN = (b"Code: 516. DB::Exception: shipper: Authentication failed: password is incorrect, or there is no user "
               b"with such name. (AUTHENTICATION_FAILED) (version 24.8.4.13 (official build))\n")


@pytest.mark.parametrize(("status", "headers", "body", "kind", "reason", "split", "after"), [
    (200, {}, b"", DELIVERED, "", False, None),
    (200, {"X-ClickHouse-Summary": '{"written_rows":"3"}'}, b"", DELIVERED, "", False, None),
    # a row ClickHouse cannot take fails the whole insert: split, so the shipper finds the row
    (500, {}, PARSE_18, REJECTED, "clickhouse Code 27: ", True, None),                  # 18.16: 500!
    (400, {"X-ClickHouse-Exception-Code": "27"}, PARSE_MODERN, REJECTED, "clickhouse Code 27: ", True, None),
    (400, {}, b"Code: 26, e.displayText() = DB::Exception: Cannot parse JSON string: expected opening quote",
     REJECTED, "clickhouse Code 26: ", True, None),
    (400, {}, b"Code: 72, e.displayText() = DB::Exception: Unsigned type must not contain '-' symbol",
     REJECTED, "clickhouse Code 72: ", True, None),
    (500, {}, b"Code: 131, e.displayText() = DB::Exception: Too large value for FixedString(64): (at row 2)",
     REJECTED, "clickhouse Code 131: ", True, None),
    (400, {}, b"Code: 117. DB::Exception: Unknown field found while parsing JSONEachRow format: x. (INCORRECT_DATA)",
     REJECTED, "clickhouse Code 117: ", True, None),
    (500, {}, b"Code: 407. DB::Exception: Decimal math overflow. (DECIMAL_OVERFLOW)", REJECTED,
     "clickhouse Code 407: ", True, None),
    # credentials: a configuration fault, the records stay in the buffer
    (401, {}, WRONG_PASSWORD_18, RETRY, "auth", False, None),
    (401, {}, UNKNOWN_USER_18, RETRY, "auth", False, None),
    (403, {"X-ClickHouse-Exception-Code": "516"}, AUTH_MODERN, RETRY, "auth", False, None),
    # the table or database is missing, or another configuration fault
    (404, {}, b"Code: 60, e.displayText() = DB::Exception: Table default.nope doesn't exist., e.what() = "
              b"DB::Exception", RETRY, "unknown_table", False, None),
    (404, {}, b"Code: 81, e.displayText() = DB::Exception: Database nodb doesn't exist", RETRY, "unknown_table",
     False, None),
    (404, {}, b"Code: 115, e.displayText() = DB::Exception: Unknown setting insert_deduplication_token",
     RETRY, "config", False, None),
    (400, {}, b"Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1", RETRY, "config",
     False, None),
    # overload and transient faults
    (500, {}, b"Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED)", RETRY,
     "code_241", False, None),
    (500, {}, b"Code: 252. DB::Exception: Too many parts (300). Merges are processing significantly slower than "
              b"inserts. (TOO_MANY_PARTS)", RETRY, "code_252", False, None),
    (500, {"X-ClickHouse-Exception-Code": "252"}, b"something went wrong", RETRY, "code_252", False, None),
    (503, {}, b"Code: 209. DB::Exception: Timeout exceeded while reading from socket. (SOCKET_TIMEOUT)", RETRY,
     "code_209", False, None),
    # no code: a proxy or a dying server, as the http sink
    (503, {}, b"", RETRY, "http_503", False, None),
    (503, {"Retry-After": "5"}, b"upstream unavailable", RETRY, "http_503", False, 5.0),
    (502, {}, b"<html><body>502 Bad Gateway</body></html>", RETRY, "http_502", False, None),
    (500, {}, b"\xff\xfe\x00garbage\x80", RETRY, "http_500", False, None),                  # malformed body
    (413, {}, b"<html>413 Request Entity Too Large</html>", REJECTED,
     "http 413: <html>413 Request Entity Too Large</html>", True, None),
    (401, {}, b"", RETRY, "http_401", False, None),
    # another code: by its status
    (500, {}, b"Code: 354, e.displayText() = DB::Exception: inflate failed: data error", RETRY, "http_500",
     False, None),
    (400, {}, b"Code: 9999. DB::Exception: something new", REJECTED, "clickhouse Code 9999: ", False, None),
])
def test_classify(status: int, headers: dict[str, str], body: bytes, kind: OutcomeKind, reason: str, split: bool,
                  after: float | None) -> None:
    outcome = classify(status, headers, body, RETRY_STATUS)
    assert outcome.kind is kind
    assert outcome.reason.startswith(reason) if kind is REJECTED else outcome.reason == reason
    assert (outcome.split, outcome.after) == (split, after)
    if kind is RETRY and body and not body.startswith(b"\xff"):
        assert outcome.detail


def test_classify_details_say_what_to_do() -> None:
    auth = classify(401, {}, WRONG_PASSWORD_18, RETRY_STATUS)
    assert auth.detail == "credentials refused: Code 193: DB::Exception: Wrong password for user shipper"
    modern = classify(403, {}, AUTH_MODERN, RETRY_STATUS)
    assert modern.detail.startswith("credentials refused: Code 516: DB::Exception: shipper: Authentication failed")
    table = classify(404, {}, b"Code: 60, e.displayText() = DB::Exception: Table default.x doesn't exist.",
                     RETRY_STATUS)
    assert "LOGSHIP_CLICKHOUSE_CREATE_TABLE=true" in table.detail and "Code 60" in table.detail
    parse = classify(500, {}, PARSE_18, RETRY_STATUS)
    assert "Cannot parse input" in parse.reason and len(parse.reason) < 240


# --- versions, settings, token --------------------------------------------------------------------


@pytest.mark.parametrize(("version", "configured", "schema"), [
    ("18.16.1", "auto", "compat"),
    ("21.8.15.7", "auto", "compat"),
    ("22.2.3.5", "auto", "compat"),
    ("22.3.2.2-lts", "auto", "modern"),
    ("24.8.4.13", "auto", "modern"),
    ("26.9.2.1", "auto", "modern"),
    ("26.9.2.1", "compat", "compat"),
    ("18.16.1", "modern", "modern"),
])
def test_choose_schema(version: str, configured: str, schema: str) -> None:
    assert choose_schema(configured, parse_version(version)) == schema


def test_parse_version_and_server_info() -> None:
    assert parse_version("24.3.2.23-lts") == (24, 3, 2, 23)
    with pytest.raises(ValueError):
        parse_version("unknown")
    assert parse_server_info(b'{"version":"18.16.1","settings":[]}\n') == SERVER_18
    info = parse_server_info(b'{"version":"26.9.2.1","settings":["async_insert","insert_deduplication_token"]}\n')
    assert info == SERVER_26 and info.deduplication_token
    with pytest.raises(ValueError, match="unexpected answer"):
        parse_server_info(b"<html>proxy</html>")


def test_insert_params_send_only_settings_the_server_has() -> None:
    old = insert_params(config(), SERVER_18, "t0k")
    assert old == {"query": "INSERT INTO `default`.`container_logs` FORMAT JSONEachRow",
                   "input_format_skip_unknown_fields": "1"}
    new = insert_params(config(database="my db", table="a`b"), SERVER_26, "t0k")
    assert new == {"query": "INSERT INTO `my db`.`a\\`b` FORMAT JSONEachRow", "input_format_skip_unknown_fields": "1",
                   "insert_deduplication_token": "t0k", "async_insert": "0"}


def test_deduplication_token_is_a_hash_of_the_records() -> None:
    recs = sample_batch().records
    assert deduplication_token(batch(recs)) == deduplication_token(batch(list(recs)))
    assert deduplication_token(batch(recs)) != deduplication_token(batch(recs[::-1]))
    assert deduplication_token(batch(recs[:2])) != deduplication_token(batch(recs[1:]))
    assert deduplication_token(batch([b"ab", b"c"])) != deduplication_token(batch([b"a", b"bc"]))
    assert re.fullmatch(r"[0-9a-f]{40}", deduplication_token(batch(recs)))


# --- rows ------------------------------------------------------------------------------------------


def ddl_columns(schema: str) -> list[str]:
    body = clickhouse_sink.DDL[schema].split("(", 1)[1].rsplit(")", 1)[0]
    body = body.split("\n)\nENGINE")[0]
    names = []
    for line in body.splitlines():
        line = line.strip()
        if line and not line.startswith("INDEX") and line[0].isalpha():
            names.append(line.split()[0])
    return names


def test_ddl_column_lists() -> None:
    assert ddl_columns("compat")[:3] == ["EventDate", "Timestamp", "TimestampNs"]
    assert "LabelKeys" in ddl_columns("compat") and "ResourceAttributes" in ddl_columns("modern")
    assert "idx_body" not in ddl_columns("modern")


@pytest.mark.parametrize("schema", ["compat", "modern"])
def test_every_column_is_always_sent(schema: str) -> None:
    odd = [b'{"message":"no metadata at all"}', b"[1,2]", b"not json", b'{"timestamp":"2026-11-25T16:32:42Z"}']
    for line in encode(batch([*sample_batch().records, *odd]), schema).splitlines():
        assert sorted(orjson.loads(line)) == sorted(ddl_columns(schema))


@pytest.mark.parametrize("schema", ["compat", "modern"])
def test_shipped_sql_files_are_the_built_in_statements(schema: str) -> None:
    text = (REPO / "configs" / "clickhouse" / f"{schema}.sql").read_text()
    statement = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    assert statement.strip() == clickhouse_sink.DDL[schema].strip()
    assert "{database}.{table}" in statement


def test_create_table_sql_quotes_the_names() -> None:
    sql = create_table_sql("compat", "logs", "docker`x")
    assert sql.startswith("CREATE TABLE IF NOT EXISTS `logs`.`docker\\`x`\n(")


def test_compat_row_of_a_record_with_every_field() -> None:
    first, second, third = (orjson.loads(line) for line in encode(sample_batch(), "compat").splitlines())
    assert first == {
        "EventDate": "2026-11-25", "Timestamp": 1795624362, "TimestampNs": 123456789,
        "ServiceName": "web", "ServiceNamespace": "shop", "HostName": "node-3", "HostId": "zacqlko8qhngr3lo9tjnswjdz",
        "ContainerId": CONTAINER_ID, "ContainerName": "shop_web.1.atuvfibd6g47", "ImageName": "nginx:1.27",
        "Stream": "stdout", "SeverityText": "INFO", "SeverityNumber": 9, "Body": "GET /health 200",
        "ComposeProject": "shop", "ComposeService": "web",
        "SwarmServiceId": "hot4rfp8id5g", "SwarmServiceName": "shop_web", "SwarmTaskId": "atuvfibd6g47",
        "SwarmTaskName": "shop_web.1.atuvfibd6g47", "SwarmTaskSlot": 1, "SwarmNodeId": "zacqlko8qhngr3lo9tjnswjdz",
        "LabelKeys": ["team"], "LabelValues": ["shop"],
        "AttributeKeys": ["swarm.service.labels.tier"], "AttributeValues": ["front"],
    }
    assert second["Body"] == 'multi\nline "quoted" \\ ] é 日本 \U0001F600'
    assert (second["TimestampNs"], third["Timestamp"], third["TimestampNs"]) == (123456790, 1795624363, 1)
    assert (third["Stream"], third["SeverityText"], third["SeverityNumber"]) == ("stderr", "ERROR", 17)


def test_modern_row_of_a_record_with_every_field() -> None:
    first, second, third = (orjson.loads(line) for line in encode(sample_batch(), "modern").splitlines())
    assert first == {
        "Timestamp": "1795624362.123456789", "TimestampTime": 1795624362,
        "ServiceName": "web", "ServiceNamespace": "shop", "HostName": "node-3", "ContainerId": CONTAINER_ID,
        "ContainerName": "shop_web.1.atuvfibd6g47", "ImageName": "nginx:1.27", "Stream": "stdout",
        "SeverityText": "INFO", "SeverityNumber": 9, "Body": "GET /health 200",
        "ResourceAttributes": {
            "service.name": "web", "service.namespace": "shop", "host.name": "node-3",
            "host.id": "zacqlko8qhngr3lo9tjnswjdz", "container.id": CONTAINER_ID,
            "container.name": "shop_web.1.atuvfibd6g47", "container.image.name": "nginx:1.27",
            "docker.compose.project": "shop", "docker.compose.service": "web",
            "docker.swarm.service.id": "hot4rfp8id5g", "docker.swarm.service.name": "shop_web",
            "docker.swarm.task.id": "atuvfibd6g47", "docker.swarm.task.name": "shop_web.1.atuvfibd6g47",
            "docker.swarm.task.slot": "1", "docker.swarm.node.id": "zacqlko8qhngr3lo9tjnswjdz",
            "container.label.team": "shop", "docker.swarm.service.label.tier": "front"},
        "LogAttributes": {"log.iostream": "stdout"},
    }
    assert second["Body"] == 'multi\nline "quoted" \\ ] é 日本 \U0001F600'
    assert third["Timestamp"] == "1795624363.000000001" and third["LogAttributes"] == {"log.iostream": "stderr"}


@pytest.mark.parametrize("schema", ["compat", "modern"])
def test_fast_path_rows_equal_the_row_builders(schema: str) -> None:
    cut = records([("stdout", "2026-11-25T16:32:44.000000000Z", "x" * 300 + "\n")])
    recs = [*sample_batch().records, *cut, b'{"timestamp":"2026-11-25T16:32:42.1Z","message":"short form"}']
    fast = encode(batch(recs), schema).splitlines()
    slow = [clickhouse_encode.ROW_BUILDERS[schema](orjson.loads(record)) for record in recs]
    assert [orjson.loads(line) for line in fast] == slow


def test_other_fields_are_kept_as_attributes() -> None:
    record = copy.deepcopy(decoded(sample_batch())[0])
    record["partial"] = {"ordinal": 2, "last": False}
    record["env"] = {"name": "prod"}
    record["container"]["runtime"] = "runc"
    record["swarm"]["task"]["slot"] = "not a number"
    row = clickhouse_encode.compat_row(copy.deepcopy(record))
    attributes = dict(zip(row["AttributeKeys"], row["AttributeValues"], strict=True))
    assert attributes == {"container.runtime": "runc", "partial.ordinal": "2", "partial.last": "false",
                          "env.name": "prod", "swarm.service.labels.tier": "front"}
    assert row["SwarmTaskSlot"] == 0
    modern = clickhouse_encode.modern_row(record)
    assert modern["LogAttributes"] == {"log.iostream": "stdout", "container.runtime": "runc",
                                       "partial.ordinal": "2", "partial.last": "false", "env.name": "prod"}


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-25T16:32:42.123456789Z", (1795624362, 123456789)),
    ("2026-11-25T16:32:42Z", (1795624362, 0)),
    ("2026-11-25T16:32:42.5Z", (1795624362, 500000000)),
    ("2026-11-25T17:32:42.000000001+01:00", (1795624362, 1)),
    ("2026-11-25T16:32:42.1234567891234Z", (1795624362, 123456789)),
    ("1970-01-01T00:00:00.000000000Z", (0, 0)),
    ("yesterday", (0, 0)),
    (None, (0, 0)),
])
def test_split_timestamp(text: Any, expected: tuple[int, int]) -> None:
    assert split_timestamp(text) == expected


@pytest.mark.parametrize("schema", ["compat", "modern"])
def test_encode_20000_records_well_under_200ms(schema: str) -> None:
    lines = [("stdout" if i % 3 else "stderr", f"2026-11-25T16:{i // 6000 % 60:02d}:{i // 100 % 60:02d}.{i:09d}Z",
              f"GET /item/{i} HTTP/1.1 200 {'x' * (i % 200)}\n") for i in range(20_000)]
    big = batch(records(lines))
    assert len(big.records) == 20_000
    best = min(_timed(lambda: encode(big, schema)) for _ in range(3))
    assert best < 0.2, f"encode took {best * 1000:.0f} ms"
    body = encode(big, schema)
    assert gzip.decompress(clickhouse_encode.compress(body)) == body


def _timed(function: Any) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def test_modern_rows_on_a_current_engine() -> None:
    """The modern layout and token against ClickHouse 26.x in-process (the optional chdb package)."""
    chdb_session = pytest.importorskip("chdb.session", reason="the optional chdb package is not installed")
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        session = chdb_session.Session(directory)
        session.query(create_table_sql("modern", "default", "m"))
        body = encode(sample_batch(), "modern").decode()
        for _ in range(2):  # the same batch twice: the token makes the second a no-op
            session.query("INSERT INTO default.m SETTINGS insert_deduplication_token='t1', "
                          "input_format_skip_unknown_fields=1, async_insert=0 FORMAT JSONEachRow\n" + body)
        rows = [orjson.loads(line) for line in str(session.query(
            "SELECT toString(toUnixTimestamp64Nano(Timestamp)) AS ns, Body, ResourceAttributes, LogAttributes "
            "FROM default.m ORDER BY Timestamp", "JSONEachRow")).splitlines() if line]
        session.close()
    assert [row["ns"] for row in rows] == ["1795624362123456789", "1795624362123456790", "1795624363000000001"]
    assert rows[1]["Body"] == 'multi\nline "quoted" \\ ] é 日本 \U0001F600'
    assert rows[0]["ResourceAttributes"]["container.label.team"] == "shop"
    assert rows[2]["LogAttributes"] == {"log.iostream": "stderr"}


# --- the real server ------------------------------------------------------------------------------


def started(sink_config: ClickHouseSinkConfig) -> AbstractAsyncContextManager[ClickHouseSink]:
    return running.running(ClickHouseSink(sink_config))


COLUMNS = ("EventDate, toUnixTimestamp(Timestamp) AS Seconds, TimestampNs, ServiceName, ServiceNamespace, HostName, "
           "HostId, ContainerId, ContainerName, ImageName, Stream, SeverityText, SeverityNumber, Body, "
           "ComposeProject, ComposeService, SwarmServiceId, SwarmServiceName, SwarmTaskId, SwarmTaskName, "
           "SwarmTaskSlot, SwarmNodeId, LabelKeys, LabelValues, AttributeKeys, AttributeValues")


def stored(server: ClickHouseServer, table: str) -> list[dict[str, Any]]:
    return server.rows(f"SELECT {COLUMNS} FROM default.{table} ORDER BY Timestamp, TimestampNs")


def create(server: ClickHouseServer, table: str, schema: str = "compat") -> None:
    server.query(create_table_sql(schema, "default", table))


async def test_sample_batch_round_trip(clickhouse_server: ClickHouseServer) -> None:  # noqa: F811
    server = clickhouse_server
    table = unique_table()
    create(server, table)
    async with started(config(server.url, table)) as sink:
        assert sink.schema == "compat" and sink.server is not None and sink.server.version == server.version
        assert not sink.server.deduplication_token  # 18.16 has no such setting: it is not sent
        outcome = await sink.send(sample_batch())
    assert outcome.kind is DELIVERED, outcome
    rows = stored(server, table)
    expected = decoded(sample_batch())
    assert [row["Seconds"] for row in rows] == [1795624362, 1795624362, 1795624363]
    assert [row["TimestampNs"] for row in rows] == [123456789, 123456790, 1]
    assert [row["Body"] for row in rows] == [record["message"] for record in expected]
    assert rows[1]["Body"] == 'multi\nline "quoted" \\ ] é 日本 \U0001F600'
    for row in rows:
        assert row["EventDate"] == "2026-11-25"
        assert (row["ServiceName"], row["ServiceNamespace"]) == ("web", "shop")
        assert (row["HostName"], row["HostId"]) == ("node-3", "zacqlko8qhngr3lo9tjnswjdz")
        assert (row["ContainerId"], row["ContainerName"], row["ImageName"]) == (
            CONTAINER_ID, "shop_web.1.atuvfibd6g47", "nginx:1.27")
        assert (row["ComposeProject"], row["ComposeService"]) == ("shop", "web")
        assert (row["SwarmServiceId"], row["SwarmServiceName"], row["SwarmTaskId"], row["SwarmTaskName"],
                row["SwarmTaskSlot"], row["SwarmNodeId"]) == (
            "hot4rfp8id5g", "shop_web", "atuvfibd6g47", "shop_web.1.atuvfibd6g47", 1, "zacqlko8qhngr3lo9tjnswjdz")
        assert (row["LabelKeys"], row["LabelValues"]) == (["team"], ["shop"])
        assert (row["AttributeKeys"], row["AttributeValues"]) == (["swarm.service.labels.tier"], ["front"])
    assert [(row["Stream"], row["SeverityText"], row["SeverityNumber"]) for row in rows] == [
        ("stdout", "INFO", 9), ("stdout", "INFO", 9), ("stderr", "ERROR", 17)]
    # the labels arrays answer the documented query
    assert server.rows(f"SELECT LabelValues[indexOf(LabelKeys, 'team')] AS team FROM default.{table} LIMIT 1") == [
        {"team": "shop"}]


async def test_user_with_a_password_and_a_large_batch(clickhouse_server: ClickHouseServer) -> None:  # noqa: F811
    server = clickhouse_server
    table = unique_table()
    create(server, table)
    lines = [("stdout", f"2026-11-25T16:{i // 6000 % 60:02d}:{i // 100 % 60:02d}.{i:09d}Z", f"line {i}\n")
             for i in range(20_000)]
    async with started(config(server.url, table, user=USER, password=PASSWORD)) as sink:
        outcome = await sink.send(batch(records(lines)))
    assert outcome.kind is DELIVERED, outcome
    assert server.rows(f"SELECT count() AS n, uniqExact(Body) AS bodies FROM default.{table}") == [
        {"n": "20000", "bodies": "20000"}]


async def test_create_table_at_start(clickhouse_server: ClickHouseServer) -> None:  # noqa: F811
    server = clickhouse_server
    table = unique_table()
    async with started(config(server.url, table, create_table=True)) as sink:
        assert server.query(f"EXISTS TABLE default.{table}").strip() == b"1"
        assert b"PARTITION BY EventDate" in server.query(f"SHOW CREATE TABLE default.{table}")
        await sink.healthcheck()
        assert (await sink.send(sample_batch())).kind is DELIVERED
        # dropped behind logship's back: the next insert is retried, and the table made again first
        server.query(f"DROP TABLE default.{table}")
        lost = await sink.send(sample_batch())
        assert (lost.kind, lost.reason) == (RETRY, "unknown_table")
        assert (await sink.send(sample_batch())).kind is DELIVERED
    assert len(stored(server, table)) == 3


async def test_missing_table_is_retried_and_named(clickhouse_server: ClickHouseServer) -> None:  # noqa: F811
    table = unique_table()
    async with started(config(clickhouse_server.url, table)) as sink:
        outcome = await sink.send(sample_batch())
        assert (outcome.kind, outcome.reason) == (RETRY, "unknown_table")
        assert "LOGSHIP_CLICKHOUSE_CREATE_TABLE" in outcome.detail and table in outcome.detail
        with pytest.raises(SinkError, match=f"table `default`.`{table}` does not exist on ClickHouse 18.16"):
            await sink.healthcheck()


async def test_modern_schema_refused_by_an_old_server_says_why(clickhouse_server: ClickHouseServer) -> None:  # noqa: F811
    if clickhouse_server.major_minor() >= (22, 3):
        pytest.skip("this server takes the modern table")
    async with started(config(clickhouse_server.url, unique_table(), schema="modern", create_table=True)) as sink:
        outcome = await sink.send(sample_batch())
    assert (outcome.kind, outcome.reason) == (RETRY, "config")
    assert "modern schema" in outcome.detail and "18.16" in outcome.detail


async def test_poison_row_is_bisected_to_the_dead_letter_file(clickhouse_server: ClickHouseServer,  # noqa: F811
                                                              tmp_path: Path) -> None:
    server = clickhouse_server
    table = unique_table()
    # A table whose ContainerId is FixedString(64): a longer id fails the whole insert (Code 131, HTTP 500).
    server.query(create_table_sql("compat", "default", table).replace("ContainerId      String",
                                                                      "ContainerId      FixedString(64)"))
    poison_metadata = copy.deepcopy(METADATA)
    poison_metadata["container"]["id"] = "f" * 70
    good = records([("stdout", f"2026-11-25T16:32:4{i}.000000000Z", f"good {i}\n") for i in range(7)])
    poison = records([("stdout", "2026-11-25T16:32:45.500000000Z", "poison\n")], metadata=poison_metadata)
    buffer = FakeBuffer(sink="clickhouse")
    buffer.append(*good[:5], *poison, *good[5:])
    async with started(config(server.url, table)) as sink:
        shipper = Shipper(sink, buffer, BatchConfig(100, 1_000_000, 0.05), FAST_RETRY, 1, tmp_path / "dead-letter",
                          Metrics())
        task = asyncio.create_task(shipper.run())
        try:
            await eventually(lambda: buffer.all_acked, timeout=30)
        finally:
            await shipper.drain(timeout=2)
            await asyncio.wait_for(task, 5)
    assert [row["Body"] for row in stored(server, table)] == [f"good {i}" for i in range(7)]
    letters = [orjson.loads(line) for line in shipper.dead_letter_path.read_bytes().splitlines()]
    assert len(letters) == 1
    assert letters[0]["record"]["message"] == "poison"
    assert letters[0]["reason"].startswith("clickhouse Code 131: ")


async def test_healthcheck(clickhouse_server: ClickHouseServer) -> None:  # noqa: F811
    server = clickhouse_server
    table = unique_table()
    create(server, table)
    async with started(config(server.url, table, user=USER, password=PASSWORD)) as sink:
        await sink.healthcheck()
    async with started(config(server.url, table, user=USER, password="wrong")) as sink:
        with pytest.raises(SinkError, match="credentials refused for user 'shipper': Code 193") as caught:
            await sink.healthcheck()
        assert not caught.value.retriable
        outcome = await sink.send(sample_batch())
        assert (outcome.kind, outcome.reason) == (RETRY, "auth")
        assert "credentials refused" in outcome.detail
    async with started(config(server.url, table, user="nobody")) as sink:
        with pytest.raises(SinkError, match="credentials refused for user 'nobody': Code 192"):
            await sink.healthcheck()


async def test_server_down_at_start_and_send(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with started(config(url, timeout=2.0)) as sink:  # start does not fail: the server may come later
        assert "not ready at start" in caplog.text
        outcome = await sink.send(sample_batch())
        assert (outcome.kind, outcome.reason) == (RETRY, "connect")
        with pytest.raises(SinkError, match="cannot connect") as caught:
            await sink.healthcheck()
        assert caught.value.retriable


def test_unusable_user_is_a_configuration_error() -> None:
    with pytest.raises(SinkError, match="LOGSHIP_CLICKHOUSE_USER") as caught:
        ClickHouseSink(config(user="a:b"))
    assert not caught.value.retriable


def test_queries_are_answered_as_documented(clickhouse_server: ClickHouseServer) -> None:  # noqa: F811
    """The answers classify's rows rely on, as this server gives them."""
    with pytest.raises(QueryError) as caught:
        clickhouse_server.query("SELECT 1", user=USER, password="wrong")
    assert caught.value.status == 401 and caught.value.body.startswith(b"Code: 193")
    table = unique_table()
    create(clickhouse_server, table)
    with pytest.raises(QueryError) as caught:
        clickhouse_server.query(f"INSERT INTO default.{table} FORMAT JSONEachRow", data=b'{"SwarmTaskSlot":"x"}\n')
    assert classify(caught.value.status, {}, caught.value.body, RETRY_STATUS).split


# --- logship check --------------------------------------------------------------------------------


def run_check(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    return check_report(tmp_path, {"LOGSHIP_SINK": "clickhouse", **variables})


def sink_line(result: subprocess.CompletedProcess[str]) -> str:
    return report_line(result.stdout, "sink clickhouse")


def test_check_succeeds(clickhouse_server: ClickHouseServer, docker_harness: DockerHarness,  # noqa: F811
                        tmp_path: Path) -> None:
    result = run_check(tmp_path, LOGSHIP_CLICKHOUSE_URL=clickhouse_server.url, LOGSHIP_CLICKHOUSE_USER=USER,
                       LOGSHIP_CLICKHOUSE_PASSWORD=PASSWORD, LOGSHIP_CLICKHOUSE_TABLE=unique_table(),
                       LOGSHIP_CLICKHOUSE_CREATE_TABLE="true")
    assert result.returncode == 0, result.stdout
    assert sink_line(result).startswith("ok   sink clickhouse")


def test_check_wrong_port(tmp_path: Path) -> None:
    result = run_check(tmp_path, LOGSHIP_CLICKHOUSE_URL=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1, result.stdout
    assert sink_line(result).startswith("FAIL sink clickhouse:") and "cannot connect" in sink_line(result)


def test_check_wrong_credentials(clickhouse_server: ClickHouseServer, tmp_path: Path) -> None:  # noqa: F811
    result = run_check(tmp_path, LOGSHIP_CLICKHOUSE_URL=clickhouse_server.url, LOGSHIP_CLICKHOUSE_USER=USER,
                       LOGSHIP_CLICKHOUSE_PASSWORD="not-the-password")
    assert result.returncode == 1, result.stdout
    line = sink_line(result)
    assert line.startswith("FAIL sink clickhouse:") and "credentials refused for user 'shipper': Code 193" in line


# --- the server helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("in_ci", "outcome"), [(True, pytest.fail.Exception), (False, pytest.skip.Exception)])
def test_a_missing_server_binary_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch, in_ci: bool,
                                                                 outcome: type[BaseException]) -> None:
    monkeypatch.setattr(common, "IN_CI", in_ci)
    with pytest.raises(outcome, match="no-such-server is not installed"):
        common.require_binary("no-such-server", "no-such-package")


@pytest.mark.parametrize("schema", ["compat", "modern"])
def test_shipped_table_definitions_are_the_ones_logship_creates(schema: str) -> None:
    """configs/clickhouse/<schema>.sql (for people) and the sink's DDL (for CREATE_TABLE) stay one statement."""
    from logship.sinks.clickhouse.sink import DDL

    path = Path(__file__).resolve().parents[2] / "configs" / "clickhouse" / f"{schema}.sql"
    statement = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("--"))
    assert statement.strip() == DDL[schema].strip()


# --- the parsed fields (RECORD.md): level and attributes ------------------------------------------

PARSED_SEVERITY = [("ERROR", 17), ("WARN", 13), ("ERROR", 17), ("INFO", 9)]  # the last has no level: stdout's
PARSED_ATTRIBUTES = [
    {"user": "42", "db.host": "pg-1", "db.ok": "false", "tags": '["a","b"]', "_stream": "kafka"},
    {}, {"log.lines": "3"}, {"order": "A-17", "amount": "12.5"}]


@pytest.mark.parametrize("schema", ["compat", "modern"])
def test_parsed_rows_equal_the_row_builders(schema: str) -> None:
    body = encode(parsed_batch(), schema).splitlines()
    built = [clickhouse_encode.ROW_BUILDERS[schema](record) for record in decoded(parsed_batch())]
    assert [orjson.loads(line) for line in body] == [orjson.loads(orjson.dumps(row)) for row in built]


def test_modern_rows_of_parsed_records() -> None:
    rows = [orjson.loads(line) for line in encode(parsed_batch(), "modern").splitlines()]
    assert [(row["SeverityText"], row["SeverityNumber"]) for row in rows] == PARSED_SEVERITY
    assert [{key: value for key, value in row["LogAttributes"].items() if key != "log.iostream"} for row in rows] == (
        PARSED_ATTRIBUTES)
    assert [row["LogAttributes"]["log.iostream"] for row in rows] == ["stdout", "stdout", "stderr", "stdout"]


def test_modern_parsed_rows_on_a_current_engine() -> None:
    """LowCardinality(String) SeverityText and the LogAttributes Map on ClickHouse 26.x (optional chdb)."""
    chdb_session = pytest.importorskip("chdb.session", reason="the optional chdb package is not installed")
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        session = chdb_session.Session(directory)
        session.query(create_table_sql("modern", "default", "p"))
        session.query("INSERT INTO default.p SETTINGS input_format_skip_unknown_fields=1 FORMAT JSONEachRow\n"
                      + encode(parsed_batch(), "modern").decode())
        rows = [orjson.loads(line) for line in str(session.query(
            "SELECT SeverityText, SeverityNumber, LogAttributes['user'] AS user FROM default.p ORDER BY Timestamp",
            "JSONEachRow")).splitlines() if line]
        session.close()
    assert [(row["SeverityText"], row["SeverityNumber"]) for row in rows] == PARSED_SEVERITY
    assert [row["user"] for row in rows] == ["42", "", "", ""]


async def test_parsed_records_round_trip_on_an_old_server(clickhouse_server: ClickHouseServer) -> None:  # noqa: F811
    server = clickhouse_server
    table = unique_table()
    create(server, table)
    async with started(config(server.url, table)) as sink:
        outcome = await sink.send(parsed_batch())
    assert outcome.kind is DELIVERED, outcome
    rows = stored(server, table)
    assert [(row["SeverityText"], row["SeverityNumber"]) for row in rows] == PARSED_SEVERITY
    assert [dict(zip(row["AttributeKeys"], row["AttributeValues"], strict=True)) for row in rows] == [
        {"swarm.service.labels.tier": "front", **attributes} for attributes in PARSED_ATTRIBUTES]
    assert [row["Body"] for row in rows] == [record["message"] for record in decoded(parsed_batch())]
    # the documented queries: by level, and an attribute by name
    assert server.rows(f"SELECT toUInt8(count()) AS n FROM default.{table} WHERE SeverityText = 'ERROR'") == [
        {"n": 2}]
    assert server.rows(f"SELECT AttributeValues[indexOf(AttributeKeys, 'user')] AS user FROM default.{table} "
                       "WHERE has(AttributeKeys, 'user')") == [{"user": "42"}]
