"""End to end: labelled containers on the real dockerd, one real logship shipping at once to the real
ClickHouse and rsyslog (tests/servers), the Loki, Elasticsearch and OTLP contract fakes and the file sink.
Levels, attributes and joined events read back from each store as docs/sinks/*.md documents them; the
per-container labels of point 5 (parse, multiline, drop, a bad label reported once and the container
shipped with the defaults).
"""

from __future__ import annotations

import asyncio
import shlex
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.base import FakeServer
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.fakes.loki import FakeLoki
from tests.fakes.otlp import FakeCollector
from tests.parse.helpers import blocks
from tests.servers.clickhouse import ClickHouseServer, clickhouse_server  # noqa: F401
from tests.servers.rsyslog import RsyslogServer, rsyslog_server  # noqa: F401
from tests.support import DockerHarness, LogshipProcess, wait_until

pytestmark = pytest.mark.docker


class Fakes:
    """The contract fakes of Loki, Elasticsearch and OTLP on an event loop of their own (logship runs in
    another process)."""

    def __init__(self) -> None:
        self.loki = FakeLoki()
        self.elasticsearch = FakeElasticsearch()
        self.otlp = FakeCollector()
        self._all: tuple[FakeServer[Any], ...] = (self.loki, self.elasticsearch, self.otlp)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Fakes:
        self._thread.start()
        for fake in self._all:
            asyncio.run_coroutine_threadsafe(fake.start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        for fake in self._all:
            asyncio.run_coroutine_threadsafe(fake.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with Fakes() as running:
        yield running


def printf(lines: list[str], stream: str = "") -> str:
    return "printf '%s\\n' " + " ".join(shlex.quote(line) for line in lines) + stream


def test_labelled_containers_read_back_from_every_store(
        docker: DockerHarness, logship: LogshipProcess, clickhouse_server: ClickHouseServer,  # noqa: F811
        rsyslog_server: RsyslogServer, fakes: Fakes) -> None:  # noqa: F811
    run = docker.run_id
    table = f"parse_{run}"
    trace = blocks("python")[0]  # captured from the base image's python3
    trace = [*trace[:-1], f"{trace[-1]} {run}"]
    logship.env.update({
        "LOGSHIP_SINK": "file,clickhouse,syslog,loki,elasticsearch,otlp",
        "LOGSHIP_CLICKHOUSE_URL": clickhouse_server.url, "LOGSHIP_CLICKHOUSE_TABLE": table,
        "LOGSHIP_CLICKHOUSE_CREATE_TABLE": "true",
        "LOGSHIP_SYSLOG_ADDRESS": f"tcp://127.0.0.1:{rsyslog_server.tcp_port}",
        "LOGSHIP_LOKI_URL": fakes.loki.url, "LOGSHIP_ELASTICSEARCH_URL": fakes.elasticsearch.url,
        "LOGSHIP_OTLP_ENDPOINT": fakes.otlp.url,
        "LOGSHIP_CLICKHOUSE_BATCH_MAX_LINES": "50", "LOGSHIP_SYSLOG_BATCH_MAX_LINES": "50"})
    logship.start()
    logship.health_url()
    names = {key: f"{key}-{run}" for key in ("auto", "logfmt", "plain", "badlabel")}
    docker.run("; ".join([printf([f'{{"level":"error","msg":"db down {run}","user":42,"db":{{"host":"pg"}}}}']),
                          printf(trace, " >&2"), printf([f"[warn] disk 91% full {run}"]), "sleep 2"]),
               name=names["auto"])
    docker.run(printf([f'level=warn msg="cache cold {run}" shard=3']), name=names["logfmt"],
               labels={"logship.parse": "logfmt"})
    docker.run("; ".join([printf(trace, " >&2"), printf([f"GET /health 200 {run}", f"GET /orders 200 {run}"]),
                          "sleep 2"]), name=names["plain"],
               labels={"logship.multiline": "off", "logship.drop": "^GET /health", "logship.parse": "none"})
    docker.run(printf([f'{{"level":"info","msg":"still parsed {run}"}}']), name=names["badlabel"],
               labels={"logship.parse": "xml", "logship.multiline.timeout": "soon"})
    expected = {"auto": 3, "logfmt": 1, "plain": len(trace) + 1, "badlabel": 1}

    def file_records() -> dict[str, list[dict[str, Any]]] | None:
        logship.assert_alive()
        got = {key: [r for r in logship.records() if r["container"]["name"] == name] for key, name in names.items()}
        return got if all(len(got[key]) >= count for key, count in expected.items()) else None

    records = wait_until(file_records, 90, message="every container's records in the file sink")
    for sink in ("file", "clickhouse", "syslog", "loki", "elasticsearch", "otlp"):
        logship.wait_drained(sink, timeout=60)

    # file (the record as NDJSON, RECORD.md / logship.record)
    [json_line] = [r for r in records["auto"] if r["message"] == f"db down {run}"]
    [event] = [r for r in records["auto"] if r["stream"] == "stderr"]
    [warn] = [r for r in records["auto"] if r["message"].startswith("[warn]")]
    assert json_line["log"] == {"level": "error"} and json_line["attributes"] == {"user": 42, "db": {"host": "pg"}}
    assert event["message"] == "\n".join(trace) and event["log"]["lines"] == len(trace)
    assert event["log"]["level"] == "error" and warn["log"] == {"level": "warn"}
    [logfmt] = records["logfmt"]
    assert (logfmt["message"], logfmt["log"], logfmt["attributes"]) == (f"cache cold {run}", {"level": "warn"},
                                                                       {"shard": "3"})
    plain = records["plain"]
    assert [r["message"] for r in plain if r["stream"] == "stderr"] == trace  # multiline off: one record a line
    assert [r["message"] for r in plain if r["stream"] == "stdout"] == [f"GET /orders 200 {run}"]
    assert not any("log" in r or "attributes" in r for r in plain)  # parse none
    [bad] = records["badlabel"]
    assert bad["message"] == f"still parsed {run}" and bad["log"] == {"level": "info"}
    assert logship.metric("logship_lines_filtered_total", reason="drop") == 1
    assert logship.metric("logship_parse_label_errors_total", label="logship.parse") == 1
    assert logship.metric("logship_parse_label_errors_total", label="logship.multiline.timeout") == 1
    assert logship.log_text().count("label logship.parse='xml': expected one of auto, json, logfmt, none") == 1

    # ClickHouse (docs/sinks/clickhouse.md: SeverityText/Number, AttributeKeys/Values, the event in Body)
    rows = clickhouse_server.rows(
        f"SELECT ContainerName, Stream, Body, SeverityText, SeverityNumber, AttributeKeys, AttributeValues "
        f"FROM default.{table} WHERE ContainerName = '{names['auto']}' OR ContainerName = '{names['logfmt']}'")
    by_body = {row["Body"]: row for row in rows}
    row = by_body[f"db down {run}"]
    attributes = dict(zip(row["AttributeKeys"], row["AttributeValues"], strict=True))
    assert (row["SeverityText"], row["SeverityNumber"]) == ("ERROR", 17)
    assert attributes["user"] == "42" and attributes["db.host"] == "pg"
    row = by_body["\n".join(trace)]
    attributes = dict(zip(row["AttributeKeys"], row["AttributeValues"], strict=True))
    assert (row["SeverityText"], row["Stream"], attributes["log.lines"]) == ("ERROR", "stderr", str(len(trace)))
    row = by_body[f"cache cold {run}"]
    assert (row["SeverityText"], row["SeverityNumber"]) == ("WARN", 13)
    assert dict(zip(row["AttributeKeys"], row["AttributeValues"], strict=True))["shard"] == "3"
    assert by_body[f"[warn] disk 91% full {run}"]["SeverityText"] == "WARN"

    # rsyslog (docs/sinks/syslog.md: PRI = daemon*8 + severity; [log@32473 level lines]; the event's newlines)
    # The messages holding the run id: 3 of "auto", "logfmt", "badlabel", and 2 of "plain" (its last trace line).
    mine = rsyslog_server.wait_for(lambda m: run in m["msg"], 7, timeout=30)
    by_msg = {m["msg"]: m for m in mine}
    assert by_msg[f"db down {run}"]["pri"] == str(3 * 8 + 3)
    assert 'user="42"' in by_msg[f"db down {run}"]["structured_data"]
    trace_message = by_msg["\n".join(trace)]
    assert trace_message["pri"] == str(3 * 8 + 3)
    assert f'[log@32473 level="error" lines="{len(trace)}"]' in trace_message["structured_data"]
    assert by_msg[f"cache cold {run}"]["pri"] == str(3 * 8 + 4)

    # Loki (docs/sinks/loki.md: detected_level, log_lines, attributes as structured metadata)
    entries = {entry.line: entry for entry in fakes.loki.entries if run in entry.line}
    assert entries[f"db down {run}"].metadata["detected_level"] == "error"
    assert entries[f"db down {run}"].metadata["user"] == "42"
    assert entries[f"db down {run}"].metadata["db_host"] == "pg"
    assert entries["\n".join(trace)].metadata["log_lines"] == str(len(trace))
    assert entries["\n".join(trace)].metadata["detected_level"] == "error"
    assert entries[f"cache cold {run}"].metadata["detected_level"] == "warn"

    # Elasticsearch (docs/sinks/elasticsearch.md: log.level, log.lines, attributes as one object)
    sources = {source["message"]: source for source in fakes.elasticsearch.sources() if run in source["message"]}
    assert sources[f"db down {run}"]["log"] == {"level": "error"}
    assert sources[f"db down {run}"]["attributes"] == {"user": 42, "db": {"host": "pg"}}
    assert sources["\n".join(trace)]["log"]["lines"] == len(trace)
    assert sources["\n".join(trace)]["log"]["level"] == "error"

    # OTLP (docs/sinks/otlp.md: SeverityNumber/Text, attributes as KeyValues, log.lines)
    received = {record.body: record for record in fakes.otlp.records() if run in str(record.body)}
    db_down = received[f"db down {run}"]
    assert (db_down.severity_number, db_down.severity_text) == (17, "ERROR")
    assert db_down.attributes["user"] == 42 and db_down.attributes["db.host"] == "pg"
    joined = received["\n".join(trace)]
    assert (joined.severity_number, joined.attributes["log.lines"]) == (17, len(trace))
    assert (received[f"cache cold {run}"].severity_number, received[f"cache cold {run}"].severity_text) == (13, "WARN")
    assert logship.stop() == 0
