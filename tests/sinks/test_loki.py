"""The loki sink: classify (Loki's documented answers), both encodings, labels, metadata, long lines,
headers, TLS, and the real sink against a fake Loki that checks pushes as Loki's distributor does."""

from __future__ import annotations

import asyncio
import calendar
import dataclasses
import gzip
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
import cramjam
import orjson
import pytest

from logship.config import TlsConfig, load
from logship.record import split_utf8 as cut_utf8
from logship.ship.outcome import OutcomeKind
from logship.sinks.base import Batch, SinkError
from logship.sinks.loki.body import encode
from logship.sinks.loki.classify import classify
from logship.sinks.loki.encode import encode_protobuf, escape_label_value, label_set, sanitize_label_name, streams
from logship.sinks.loki.sink import LokiSink, endpoints, request_headers
from logship.sinks.loki.spec import LokiSinkConfig
from tests.fakes.certs import CertificateAuthority
from tests.fakes.loki import NOT_READY, RATE_LIMITED, FakeLoki, PushRequest, parse_label_set
from tests.sinks import running
from tests.sinks.records import decoded, parsed, parsed_batch, records, sample_batch
from tests.support import check_report, closed_port, report_line

DELIVERED, RETRY, REJECTED = OutcomeKind.DELIVERED, OutcomeKind.RETRY, OutcomeKind.REJECTED
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Every field as structured metadata, as the default was before issue 15.4 (the tests below check the mapping
# of each); the default set is checked by tests/sinks/test_loki_metadata.py.
DEFAULTS: LokiSinkConfig = load({"LOGSHIP_SINK": "loki", "LOGSHIP_LOKI_URL": "http://127.0.0.1:9",
                                 "LOGSHIP_LOKI_STRUCTURED_METADATA": "all"}).sink_configs["loki"]
RETRY_STATUS = DEFAULTS.retry_status  # 408,429,500,502,503,504
ENCODINGS = ("protobuf", "json")

# What the sample batch's records carry besides labels, as Loki structured metadata.
SAMPLE_METADATA = {
    "container_id": "6ca5" + "0" * 56 + "beef",
    "container_name": "shop_web.1.atuvfibd6g47",
    "container_image_name": "nginx:1.27",
    "container_label_team": "shop",
    "compose_project": "shop",
    "compose_service": "web",
    "swarm_service_id": "hot4rfp8id5g",
    "swarm_service_name": "shop_web",
    "swarm_service_label_tier": "front",
    "swarm_task_id": "atuvfibd6g47",
    "swarm_task_name": "shop_web.1.atuvfibd6g47",
    "swarm_task_slot": "1",
    "swarm_node_id": "zacqlko8qhngr3lo9tjnswjdz",
    "host_id": "zacqlko8qhngr3lo9tjnswjdz",
}


def config(url: str = "http://127.0.0.1:9", **changes: Any) -> LokiSinkConfig:
    return dataclasses.replace(DEFAULTS, url=url, timeout=5.0, **changes)


def batch(*recs: bytes) -> Batch:
    return Batch(list(recs), sum(map(len, recs)))


def record(timestamp: str = "2026-11-25T16:32:42.123456789Z", message: str = "hello", **fields: Any) -> bytes:
    """A record with the sample's metadata, changed by ``fields`` (None removes a field)."""
    base = decoded(sample_batch())[0]
    base.update(timestamp=timestamp, message=message)
    for key, value in fields.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return orjson.dumps(base)


def expected_ns(timestamp: str) -> int:
    """Unix nanoseconds of a Docker timestamp, computed independently of the sink."""
    seconds = calendar.timegm(time.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S"))
    return seconds * 10**9 + int(timestamp[20:-1].ljust(9, "0"))


def push_request(body: bytes) -> Any:
    return PushRequest.FromString(bytes(cramjam.snappy.decompress_raw(body)))


# --- classify ----------------------------------------------------------------------------------

TOO_OLD = (b"entry for stream '{service_name=\"web\"}' has timestamp too old: 2020-01-01T00:00:00Z, oldest "
           b"acceptable timestamp is: 2026-11-18T16:00:00Z\n")
DISALLOWED = (b"stream '{service_name=\"web\"}' includes structured metadata, but this feature is disallowed. "
              b"Please see `limits_config.allow_structured_metadata` or contact your Loki administrator to enable it.")


@pytest.mark.parametrize(("status", "headers", "body", "kind", "reason", "after", "split"), [
    # success: pushHandler answers 204 No Content; any 2xx counts (Promtail's rule)
    (204, {}, b"", DELIVERED, "", None, False),
    (200, {}, b"", DELIVERED, "", None, False),
    # block_ingestion_until: a 2xx (260 by default) that stored nothing
    (260, {}, b"ingestion blocked for user fake until '2026-12-01T00:00:00Z' with status code '260'", REJECTED,
     "http 260: ingestion blocked for user fake until '2026-12-01T00:00:00Z' with status code '260' (Loki stored "
     "nothing: ingestion is blocked for this tenant)", None, False),
    # rate limits: retried, Retry-After honoured (either spelling)
    (429, {"Retry-After": "5"}, RATE_LIMITED.encode(), RETRY, "http_429", 5.0, False),
    (429, {"retry-after": "Thu, 01 Jan 1970 00:00:00 GMT"}, b"", RETRY, "http_429", 0.0, False),
    (429, {}, b"Per stream rate limit exceeded", RETRY, "http_429", None, False),
    # server side: every 5xx is retried, listed in RETRY_STATUS or not
    (500, {}, b"rpc error: code = Unavailable desc = transport is closing", RETRY, "http_500", None, False),
    (503, {"Retry-After": "30"}, b"no healthy ingesters", RETRY, "http_503", 30.0, False),
    (502, {}, b"<html>502 Bad Gateway</html>", RETRY, "http_502", None, False),
    (507, {}, b"", RETRY, "http_507", None, False),
    (408, {}, b"", RETRY, "http_408", None, False),  # from LOGSHIP_LOKI_RETRY_STATUS
    # credentials and tenant: a configuration fault, the records stay in the buffer
    (401, {}, b"no org id\n", RETRY, "http_401", None, False),
    (403, {}, b"forbidden", RETRY, "http_403", None, False),
    # 400: partial acceptance, never retried; Loki's message kept
    (400, {}, TOO_OLD, REJECTED, "http 400 (not retried: Loki may have stored the valid entries of this batch): "
     + TOO_OLD.decode().strip(), None, False),
    (400, {}, b"snappy: corrupt input\n", REJECTED,  # a malformed body
     "http 400 (not retried: Loki may have stored the valid entries of this batch): snappy: corrupt input",
     None, False),
    (400, {}, b"error at least one label pair is required per stream", REJECTED,
     "http 400 (not retried: Loki may have stored the valid entries of this batch): error at least one label "
     "pair is required per stream", None, False),
    # too large at the gateway: split
    (413, {}, b"<html><head><title>413 Request Entity Too Large</title></head></html>", REJECTED,
     "http 413: <html><head><title>413 Request Entity Too Large</title></head></html>", None, True),
    # anything else: final
    (404, {}, b"404 page not found\n", REJECTED, "http 404: 404 page not found", None, False),
    (302, {"Location": "https://loki/"}, b"", REJECTED, "http 302", None, False),
])
def test_classify(status: int, headers: dict[str, str], body: bytes, kind: OutcomeKind, reason: str,
                  after: float | None, split: bool) -> None:
    outcome = classify(status, headers, body, RETRY_STATUS)
    assert (outcome.kind, outcome.reason, outcome.after, outcome.split) == (kind, reason, after, split)
    if kind is RETRY and body:
        assert body.decode().strip()[:10] in outcome.detail


def test_classify_tenant_and_metadata_hints() -> None:
    assert "LOGSHIP_LOKI_TENANT_ID" in classify(401, {}, b"no org id", RETRY_STATUS).detail
    assert "credentials refused" in classify(403, {}, b"", RETRY_STATUS).detail
    outcome = classify(400, {}, DISALLOWED, RETRY_STATUS)
    assert outcome.kind is REJECTED
    assert "LOGSHIP_LOKI_STRUCTURED_METADATA=false" in outcome.reason


# --- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("service_name", "service_name"),
    ("service.name", "service_name"),
    ("container-name", "container_name"),
    ("com.docker.compose.project", "com_docker_compose_project"),
    ("1st", "_1st"),
    ("__reserved", "_reserved"),
    ("_private", "_private"),
    ("é", "_"),
    ("", "_"),
])
def test_sanitize_label_name(name: str, expected: str) -> None:
    assert sanitize_label_name(name) == expected


TRICKY_VALUES = ["plain", 'quo"te', "back\\slash", "new\nline", "tab\there", "cr\rhere", "bell\x07", "del\x7f",
                 "é 日本 😀", '\\"', "}", "a, b=\"c\"", ""]


@pytest.mark.parametrize("value", TRICKY_VALUES)
def test_label_values_round_trip_through_the_label_set_syntax(value: str) -> None:
    text = label_set({"b": value, "a": "x"})
    assert text.startswith('{a="x", b="')  # sorted by name
    assert parse_label_set(text) == [("a", "x"), ("b", value)]
    assert "\n" not in text


def test_escape_label_value() -> None:
    assert escape_label_value('a"b\\c\nd\te\x01') == 'a\\"b\\\\c\\nd\\te\\x01'
    assert escape_label_value("日本") == "日本"


def test_configured_labels_missing_fields_and_sanitised_names() -> None:
    labels = (("service_name", "service.name"), ("env", "labels.env"), ("slot", "swarm.task.slot"),
              ("team_x", "container.labels"))
    recs = [record(message="a"), record(message="b", labels={"env": "prod"})]
    grouped = streams(batch(*recs), config(labels=labels))
    # "labels.env" is missing in the first record: the label is left out; an object is never a label value
    assert [labels_text for labels_text, _, _ in grouped] == [
        '{env="prod", service_name="web", slot="1"}', '{service_name="web", slot="1"}']
    for _, _, entries in grouped:
        metadata = entries[0][2]
        assert "service_name" not in metadata and "swarm_task_slot" not in metadata  # labels are not repeated
        assert metadata["container_label_team"] == "shop"  # its label failed: it stays metadata
    assert "label_env" not in grouped[0][2][0][2]


def test_a_record_without_any_label_gets_loki_s_unknown_service() -> None:
    grouped = streams(batch(record()), config(labels=(("app", "labels.app"),)))
    assert [labels_text for labels_text, _, _ in grouped] == ['{service_name="unknown_service"}']


def test_label_names_from_the_configuration_are_sanitised() -> None:
    grouped = streams(batch(record()), config(labels=(("__svc", "service.name"), ("9x", "host.name"))))
    assert grouped[0][0] == '{_9x="node-3", _svc="web"}'


def test_metadata_flattening_of_extra_and_partial_fields() -> None:
    rec = record(partial={"ordinal": 2, "last": True}, env={"name": "prod", "flags": ["a", "b"], "none": None},
                 empty="")
    metadata = streams(batch(rec), config())[0][2][0][2]
    assert metadata["partial_ordinal"] == "2"
    assert metadata["partial_last"] == "true"
    assert metadata["env_name"] == "prod"
    assert metadata["env_flags"] == '["a","b"]'
    assert "env_none" not in metadata and "empty" not in metadata


# --- encode ------------------------------------------------------------------------------------


def test_protobuf_body_is_raw_snappy_of_a_push_request() -> None:
    body, headers = encode(sample_batch(), config())
    assert headers == {"Content-Type": "application/x-protobuf"}
    assert not body.startswith(b"\xff\x06\x00\x00sNaPpY")  # not the framed format, which Loki cannot read
    request = push_request(body)
    assert [s.labels for s in request.streams] == [
        '{host="node-3", service_name="web", service_namespace="shop", stream="stderr"}',
        '{host="node-3", service_name="web", service_namespace="shop", stream="stdout"}']
    stdout = request.streams[1].entries
    assert [(e.timestamp.seconds, e.timestamp.nanos, e.line) for e in stdout] == [
        (expected_ns("2026-11-25T16:32:42.123456789Z") // 10**9, 123456789, "GET /health 200"),
        (expected_ns("2026-11-25T16:32:42.123456790Z") // 10**9, 123456790, 'multi\nline "quoted" \\ ] é 日本 😀')]
    assert {p.name: p.value for p in stdout[0].structuredMetadata} == SAMPLE_METADATA


def test_protobuf_hand_encoder_is_byte_identical_to_the_protobuf_runtime() -> None:
    grouped = streams(sample_batch(), config())
    reference = PushRequest()
    for labels, _, entries in grouped:
        stream = reference.streams.add(labels=labels)
        for ns, line, metadata, _ in entries:
            entry = stream.entries.add(line=line)
            entry.timestamp.seconds, entry.timestamp.nanos = divmod(ns, 10**9)
            for name, value in metadata.items():
                entry.structuredMetadata.add(name=name, value=value)
    assert encode_protobuf(grouped) == reference.SerializeToString()


def test_json_body() -> None:
    body, headers = encode(sample_batch(), config(encoding="json"))
    assert headers == {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    document = orjson.loads(gzip.decompress(body))
    assert [s["stream"] for s in document["streams"]] == [
        {"host": "node-3", "service_name": "web", "service_namespace": "shop", "stream": "stderr"},
        {"host": "node-3", "service_name": "web", "service_namespace": "shop", "stream": "stdout"}]
    values = document["streams"][1]["values"]
    assert values[0] == [str(expected_ns("2026-11-25T16:32:42.123456789Z")), "GET /health 200", SAMPLE_METADATA]
    assert values[1][0] == "1795624362123456790" and isinstance(values[1][0], str)  # a string of nanoseconds


def test_json_without_metadata_has_two_element_values() -> None:
    rec = orjson.dumps({"timestamp": "2026-11-25T16:32:42Z", "message": "m", "stream": "stdout",
                        "service": {"name": "web"}})
    document = orjson.loads(gzip.decompress(encode(batch(rec), config(encoding="json"))[0]))
    assert document["streams"][0]["values"] == [["1795624362000000000", "m"]]


def test_structured_metadata_off_puts_the_fields_in_a_json_line() -> None:
    grouped = streams(sample_batch(), config(structured_metadata=False))
    _, labels, entries = grouped[1]
    assert labels["service_name"] == "web"
    line = orjson.loads(entries[0][1])
    assert entries[0][2] == {}  # no structured metadata
    assert line == {
        "message": "GET /health 200",
        "container": {"id": SAMPLE_METADATA["container_id"], "name": "shop_web.1.atuvfibd6g47",
                      "image": {"name": "nginx:1.27"}, "labels": {"team": "shop"}},
        "compose": {"project": "shop", "service": "web"},
        "swarm": {"service": {"id": "hot4rfp8id5g", "name": "shop_web", "labels": {"tier": "front"}},
                  "task": {"id": "atuvfibd6g47", "name": "shop_web.1.atuvfibd6g47", "slot": 1},
                  "node": {"id": "zacqlko8qhngr3lo9tjnswjdz"}},
        "host": {"id": "zacqlko8qhngr3lo9tjnswjdz"},  # service.*, host.name and stream are labels
    }
    assert next(iter(line)) == "message"


def test_entries_are_sorted_by_time_within_each_stream() -> None:
    # stdout and stderr interleave out of timestamp order in the buffer
    recs = [record("2026-11-25T16:32:44Z", "c"), record("2026-11-25T16:32:42.5Z", "a"),
            record("2026-11-25T16:32:43Z", "b1"), record("2026-11-25T16:32:43Z", "b2"),
            record("2026-11-25T16:32:41Z", "x", stream="stderr")]
    grouped = streams(batch(*recs), config())
    by_stream = {labels["stream"]: [(ns, line) for ns, line, _, _ in entries] for _, labels, entries in grouped}
    assert by_stream["stdout"] == [(expected_ns("2026-11-25T16:32:42.5Z"), "a"),
                                   (expected_ns("2026-11-25T16:32:43Z"), "b1"),
                                   (expected_ns("2026-11-25T16:32:43Z"), "b2"),  # equal times keep their order
                                   (expected_ns("2026-11-25T16:32:44Z"), "c")]
    assert by_stream["stderr"] == [(expected_ns("2026-11-25T16:32:41Z"), "x")]


@pytest.mark.parametrize(("timestamp", "ns"), [
    ("2026-11-25T16:32:42.123456789Z", 1795624362123456789),
    ("2026-11-25T16:32:42.1Z", 1795624362100000000),  # RFC3339Nano trims trailing zeros
    ("2026-11-25T16:32:42Z", 1795624362000000000),
    ("2026-11-25T17:32:42.000000001+01:00", 1795624362000000001),
])
def test_timestamps_keep_nanoseconds(timestamp: str, ns: int) -> None:
    assert streams(batch(record(timestamp)), config())[0][2][0][0] == ns



# --- long lines --------------------------------------------------------------------------------


def test_cut_utf8_never_splits_a_character() -> None:
    data = ("é" * 10 + "日本" * 5 + "😀" * 3).encode()
    for limit in range(4, 20):
        pieces = cut_utf8(data, limit)
        assert b"".join(pieces) == data
        assert all(len(piece) <= limit for piece in pieces)
        for piece in pieces:
            piece.decode()  # each piece is valid UTF-8 on its own


def test_a_long_line_is_split_into_marked_parts() -> None:
    message = "x" * 250 + "é" * 30  # 310 bytes
    grouped = streams(batch(record(message=message)), config(max_line_bytes=100))
    entries = grouped[0][2]
    assert len(entries) == 4
    assert "".join(line for _, line, _, _ in entries) == message
    assert all(len(line.encode()) <= 100 for _, line, _, _ in entries)
    assert [metadata["line_part"] for _, _, metadata, _ in entries] == ["1/4", "2/4", "3/4", "4/4"]
    base = expected_ns("2026-11-25T16:32:42.123456789Z")
    assert [ns for ns, _, _, _ in entries] == [base, base + 1, base + 2, base + 3]
    assert all(metadata["container_name"] == "shop_web.1.atuvfibd6g47" for _, _, metadata, _ in entries)


def test_a_line_at_the_limit_is_not_split() -> None:
    grouped = streams(batch(record(message="é" * 50)), config(max_line_bytes=100))
    assert [(line, "line_part" in metadata) for _, line, metadata, _ in grouped[0][2]] == [("é" * 50, False)]


def test_a_long_json_line_is_split_into_complete_json_objects() -> None:
    message = 'quote " and \\ and \n newline ' * 40  # escaping makes the JSON longer than the text
    grouped = streams(batch(record(message=message)), config(structured_metadata=False, max_line_bytes=600))
    entries = grouped[0][2]
    assert len(entries) > 1
    lines = [orjson.loads(line) for _, line, _, _ in entries]
    assert all(len(line.encode()) <= 600 for _, line, _, _ in entries)
    assert "".join(line["message"] for line in lines) == message
    assert [line["line_part"] for line in lines] == [f"{n}/{len(lines)}" for n in range(1, len(lines) + 1)]
    assert all(line["container"]["name"] == "shop_web.1.atuvfibd6g47" for line in lines)


async def test_identical_parts_all_reach_loki() -> None:
    # Loki drops an entry equal (time and line) to the previous one: the parts' times differ by 1 ns
    async with FakeLoki(max_line_size=100) as loki:
        sink = await started(config(loki.url, max_line_bytes=100))
        try:
            assert (await sink.send(batch(record(message="z" * 300)))).kind is DELIVERED
        finally:
            await sink.aclose()
    assert [entry.line for entry in loki.entries] == ["z" * 100] * 3
    assert len({entry.ns for entry in loki.entries}) == 3


# --- headers and endpoints ---------------------------------------------------------------------


@pytest.mark.parametrize(("url", "push", "ready"), [
    ("http://loki:3100", "http://loki:3100/loki/api/v1/push", "http://loki:3100/ready"),
    ("http://loki:3100/", "http://loki:3100/loki/api/v1/push", "http://loki:3100/ready"),
    ("http://loki:3100/loki/api/v1/push", "http://loki:3100/loki/api/v1/push", "http://loki:3100/ready"),
    ("https://gw/tenant-a/", "https://gw/tenant-a/loki/api/v1/push", "https://gw/tenant-a/ready"),
])
def test_endpoints(url: str, push: str, ready: str) -> None:
    assert endpoints(url) == (push, ready)


def test_request_headers() -> None:
    assert request_headers(config()) == {}
    assert request_headers(config(tenant_id="shop", bearer_token="t0k")) == {
        "Authorization": "Bearer t0k", "X-Scope-OrgID": "shop"}
    assert request_headers(config(username="loki", password="s3cret"))["Authorization"] == "Basic bG9raTpzM2NyZXQ="
    with pytest.raises(SinkError) as caught:
        LokiSink(config(username="u", password="p", bearer_token="t"))
    assert not caught.value.retriable


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(SinkError, match="LOGSHIP_LOKI_ENCODING"):
        LokiSink(config(encoding="msgpack"))


# --- the real sink against the fake Loki --------------------------------------------------------


async def started(sink_config: LokiSinkConfig) -> LokiSink:
    return await running.started(LokiSink(sink_config))


async def send(sink_config: LokiSinkConfig, *batches: Batch) -> list[Any]:
    return await running.send_all(LokiSink(sink_config), batches)


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_every_field_arrives_where_loki_expects_it(encoding: str) -> None:
    async with FakeLoki(require_tenant=True) as loki:
        [outcome] = await send(config(loki.url, encoding=encoding, tenant_id="shop", bearer_token="t0k"),
                               sample_batch())
    assert outcome.kind is DELIVERED
    [push] = loki.pushes
    assert (push.status, push.encoding) == (204, encoding)
    assert push.headers["X-Scope-OrgID"] == "shop"
    assert push.headers["Authorization"] == "Bearer t0k"
    assert push.headers["User-Agent"].startswith("logship/")
    if encoding == "json":
        assert (push.headers["Content-Type"], push.headers["Content-Encoding"]) == ("application/json", "gzip")
    else:
        assert push.headers["Content-Type"] == "application/x-protobuf"
        assert "Content-Encoding" not in push.headers
    sent = decoded(sample_batch())
    assert len(loki.entries) == len(sent)
    by_line = {entry.line: entry for entry in loki.entries}
    for rec in sent:
        entry = by_line[rec["message"]]
        assert entry.ns == expected_ns(rec["timestamp"])  # nanoseconds kept
        assert entry.tenant == "shop"
        assert entry.labels == {"service_namespace": "shop", "service_name": "web", "host": "node-3",
                                "stream": rec["stream"]}
        assert entry.metadata == SAMPLE_METADATA
    assert set(loki.streams()) == {
        '{host="node-3", service_name="web", service_namespace="shop", stream="stderr"}',
        '{host="node-3", service_name="web", service_namespace="shop", stream="stdout"}'}


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_tricky_label_values_survive_both_encodings(encoding: str) -> None:
    recs = [record(message=f"m{i}", service={"name": value, "namespace": "ns"}) for i, value in
            enumerate(v for v in TRICKY_VALUES if v)]
    async with FakeLoki() as loki:
        [outcome] = await send(config(loki.url, encoding=encoding), batch(*recs))
    assert outcome.kind is DELIVERED, outcome
    assert sorted(entry.labels["service_name"] for entry in loki.entries) == sorted(v for v in TRICKY_VALUES if v)


async def test_basic_auth_through_a_gateway() -> None:
    async with FakeLoki(require_authorization="Basic bG9raTpzM2NyZXQ=") as loki:
        good = await send(config(loki.url, username="loki", password="s3cret"), sample_batch())
        bad = await send(config(loki.url, username="loki", password="wrong"), sample_batch())
    assert good[0].kind is DELIVERED
    assert (bad[0].kind, bad[0].reason) == (RETRY, "http_401")
    assert len(loki.entries) == 3


async def test_a_missing_tenant_is_retried_with_a_hint() -> None:
    async with FakeLoki(require_tenant=True) as loki:
        [outcome] = await send(config(loki.url), sample_batch())
    assert (outcome.kind, outcome.reason) == (RETRY, "http_401")
    assert "LOGSHIP_LOKI_TENANT_ID" in outcome.detail
    assert loki.entries == []


async def test_scripted_answers_are_classified() -> None:
    async with FakeLoki() as loki:
        loki.rate_limit(retry_after="7")
        loki.fail(503, body="no healthy ingesters")
        loki.fail(500, headers={"Retry-After": "1"}, body="rpc error")
        outcomes = await send(config(loki.url), sample_batch(), sample_batch(), sample_batch())
        loki.max_body = 10  # a gateway's body limit
        outcomes += await send(config(loki.url), sample_batch())
        loki.max_body = None
        outcomes += await send(config(loki.url), sample_batch())
    assert [(o.kind, o.reason, o.after) for o in outcomes[:3]] == [
        (RETRY, "http_429", 7.0), (RETRY, "http_503", None), (RETRY, "http_500", 1.0)]
    assert "Ingestion rate limit exceeded" in outcomes[0].detail
    assert (outcomes[3].kind, outcomes[3].split) == (REJECTED, True)
    assert outcomes[4].kind is DELIVERED
    assert len(loki.entries) == 3  # only the last push stored anything


async def test_a_400_is_partial_acceptance_and_not_retried() -> None:
    # The sink allows longer lines than this Loki: Loki stores the valid entries and answers 400.
    recs = [record("2026-11-25T16:32:42Z", "short"), record("2026-11-25T16:32:43Z", "L" * 200)]
    async with FakeLoki(max_line_size=100) as loki:
        [outcome] = await send(config(loki.url, max_line_bytes=1000), batch(*recs))
    assert outcome.kind is REJECTED
    assert "Loki may have stored the valid entries" in outcome.reason
    assert "Max entry size '100' bytes exceeded" in outcome.reason
    assert [entry.line for entry in loki.entries] == ["short"]


async def test_structured_metadata_refused_by_loki_says_what_to_change() -> None:
    async with FakeLoki(allow_structured_metadata=False) as loki:
        [refused] = await send(config(loki.url), sample_batch())
        [accepted] = await send(config(loki.url, structured_metadata=False), sample_batch())
    assert refused.kind is REJECTED and "LOGSHIP_LOKI_STRUCTURED_METADATA=false" in refused.reason
    assert accepted.kind is DELIVERED
    assert all(orjson.loads(entry.line)["container"]["id"] == SAMPLE_METADATA["container_id"]
               for entry in loki.entries)


@pytest.mark.parametrize(("content_type", "body", "message"), [
    ("application/x-protobuf", b"not snappy at all", "snappy: corrupt input"),
    ("application/x-protobuf", bytes(cramjam.snappy.compress(b"\x0a\x02hi")), "snappy: corrupt input"),  # framed
    ("application/x-protobuf", bytes(cramjam.snappy.compress_raw(b"\x0a\xff")), "proto:"),
    ("application/json", b'{"streams": [{"stream": {"a": "b"}, "values": [[1570818238000000000, "x"]]}]}',
     "timestamp must be a string"),
    ("application/json", b'{"streams": [{"stream": {}, "values": [["1", "x"]]}]}',
     "error at least one label pair is required per stream"),
])
async def test_the_fake_refuses_malformed_bodies_like_loki(content_type: str, body: bytes, message: str) -> None:
    async with FakeLoki() as loki, aiohttp.ClientSession() as session, \
            session.post(loki.url + "/loki/api/v1/push", data=body, headers={"Content-Type": content_type}) as answer:
        status, text = answer.status, await answer.read()
    assert status == 400 and message in text.decode()
    outcome = classify(status, {}, text, RETRY_STATUS)
    assert outcome.kind is REJECTED and message in outcome.reason


async def test_send_to_a_loki_that_is_down_is_a_connect_retry() -> None:
    with closed_port() as port:
        [outcome] = await send(config(f"http://127.0.0.1:{port}"), sample_batch())
    assert (outcome.kind, outcome.reason) == (RETRY, "connect")


async def test_a_large_batch_is_encoded_off_the_loop() -> None:
    recs = [record(f"2026-11-25T16:32:42.{i:09d}Z", f"line {i} " + "p" * 200) for i in range(2000)]
    async with FakeLoki() as loki:
        [outcome] = await send(config(loki.url), batch(*recs))
    assert outcome.kind is DELIVERED
    assert [entry.line for entry in loki.entries] == [f"line {i} " + "p" * 200 for i in range(2000)]


# --- healthcheck -------------------------------------------------------------------------------


async def healthcheck(sink_config: LokiSinkConfig) -> None:
    await running.health_checked(LokiSink(sink_config))


async def test_healthcheck_ready() -> None:
    async with FakeLoki() as loki:
        await healthcheck(config(loki.url + "/loki/api/v1/push"))
    assert loki.probes == 1


async def test_healthcheck_not_ready_carries_loki_s_words() -> None:
    async with FakeLoki() as loki:
        loki.ready = False
        with pytest.raises(SinkError, match="Ingester not ready") as caught:
            await healthcheck(config(loki.url))
    assert caught.value.retriable
    assert NOT_READY in str(caught.value)


async def test_healthcheck_wrong_path_is_not_retriable() -> None:
    async with FakeLoki() as loki:
        with pytest.raises(SinkError, match="base URL") as caught:
            await healthcheck(config(loki.url + "/nope"))
    assert not caught.value.retriable


async def test_healthcheck_refused_and_credentials() -> None:
    with closed_port() as port, pytest.raises(SinkError, match="cannot connect"):
        await healthcheck(config(f"http://127.0.0.1:{port}"))
    async with FakeLoki(require_authorization="Bearer right") as loki:
        with pytest.raises(SinkError, match="credentials refused") as caught:
            await healthcheck(config(loki.url, bearer_token="wrong"))
    assert not caught.value.retriable


# --- TLS ---------------------------------------------------------------------------------------


async def test_tls_with_our_ca(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    async with FakeLoki(ca.server_context()) as loki:
        assert loki.url.startswith("https://")
        tls_config = config(loki.url, tls=TlsConfig(ca_file=str(ca.ca_file)))
        await healthcheck(tls_config)
        [outcome] = await send(tls_config, sample_batch())
    assert outcome.kind is DELIVERED
    assert len(loki.entries) == 3


async def test_tls_wrong_ca(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "right")
    other = CertificateAuthority(tmp_path / "other", name="other-ca")
    async with FakeLoki(ca.server_context()) as loki:
        wrong = config(loki.url, tls=TlsConfig(ca_file=str(other.ca_file)))
        with pytest.raises(SinkError, match="certificate verify failed") as caught:
            await healthcheck(wrong)
        [outcome] = await send(wrong, sample_batch())
    assert not caught.value.retriable
    assert (outcome.kind, outcome.reason) == (RETRY, "tls")
    assert loki.entries == []


# --- `logship check` -----------------------------------------------------------------------------


async def logship_check(tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``python -m logship check`` with ``env`` (and no inherited LOGSHIP_ variable)."""
    result = await asyncio.to_thread(check_report, tmp_path, {"DOCKER_HOST": "unix:///var/run/docker.sock",
                                                              "LOGSHIP_LOG_FORMAT": "text", **env})
    return result.returncode, result.stdout


async def test_check_succeeds(tmp_path: Path) -> None:
    async with FakeLoki() as loki:
        code, output = await logship_check(tmp_path, {"LOGSHIP_SINK": "loki", "LOGSHIP_LOKI_URL": loki.url})
    assert report_line(output, "sink loki").startswith("ok   sink loki: reachable")
    engine_ok = report_line(output, "engine").startswith("ok")
    if IN_CI or engine_ok:
        assert engine_ok, output
        assert code == 0, output


@pytest.mark.parametrize("case", ["wrong port", "wrong credentials", "wrong CA"])
async def test_check_fails_with_a_clear_reason(tmp_path: Path, case: str) -> None:
    env = {"LOGSHIP_SINK": "loki"}
    if case == "wrong port":
        with closed_port() as port:
            code, output = await logship_check(tmp_path, {**env, "LOGSHIP_LOKI_URL": f"http://127.0.0.1:{port}"})
        expected = "cannot connect"
    elif case == "wrong credentials":
        async with FakeLoki(require_authorization="Basic bG9raTpyaWdodA==") as loki:
            code, output = await logship_check(tmp_path, {**env, "LOGSHIP_LOKI_URL": loki.url,
                                                          "LOGSHIP_LOKI_USERNAME": "loki",
                                                          "LOGSHIP_LOKI_PASSWORD": "wrong"})
        expected = "credentials refused (HTTP 401)"
    else:
        ca = CertificateAuthority(tmp_path / "right")
        other = CertificateAuthority(tmp_path / "other", name="other-ca")
        async with FakeLoki(ca.server_context()) as loki:
            code, output = await logship_check(tmp_path, {**env, "LOGSHIP_LOKI_URL": loki.url,
                                                          "LOGSHIP_LOKI_TLS_CA_FILE": str(other.ca_file)})
        expected = "certificate verify failed"
    sink_line = report_line(output, "sink loki")
    assert sink_line.startswith("FAIL sink loki: "), output
    assert expected in sink_line, sink_line
    assert code == 1, output


# --- the parsed fields (RECORD.md): level and attributes ------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_level_and_attributes_arrive_as_structured_metadata(encoding: str) -> None:
    async with FakeLoki() as loki:
        [outcome] = await send(config(loki.url, encoding=encoding), parsed_batch())
    assert outcome.kind is DELIVERED
    entries = sorted(loki.entries, key=lambda entry: entry.ns)
    assert [entry.line for entry in entries] == [line["message"] for line in decoded(parsed_batch())]
    for entry in entries:  # the labels do not change: no label per level unless asked for
        assert set(entry.labels) == {"service_namespace", "service_name", "host", "stream"}
        assert {key: entry.metadata[key] for key in SAMPLE_METADATA} == SAMPLE_METADATA
    own = [{key: value for key, value in entry.metadata.items() if key not in SAMPLE_METADATA} for entry in entries]
    assert own == [
        {"detected_level": "error", "user": "42", "db_host": "pg-1", "db_ok": "false", "tags": '["a","b"]',
         "_stream": "kafka"},
        {"detected_level": "warn"},
        {"detected_level": "error", "log_lines": "3"},
        {"order": "A-17", "amount": "12.5"},
    ]


async def test_a_level_label_only_when_asked_for() -> None:
    labels = (*DEFAULTS.labels, ("level", "log.level"))
    async with FakeLoki() as loki:
        [outcome] = await send(config(loki.url, labels=labels), parsed_batch())
    assert outcome.kind is DELIVERED
    entries = sorted(loki.entries, key=lambda entry: entry.ns)
    assert [entry.labels.get("level") for entry in entries] == ["error", "warn", "error", None]
    assert entries[0].metadata["user"] == "42" and "log_level" not in entries[0].metadata


def test_an_attribute_named_like_the_container_s_metadata_is_left_to_it() -> None:
    [base] = records([("stdout", "2026-11-25T16:32:42.000000001Z", "x\n")])
    record = parsed(base, level="info", attributes={"container_name": "spoofed", "host": "h"})
    [(_, labels, [(_, _, metadata, _)])] = streams(batch(record), config())
    assert metadata["container_name"] == "shop_web.1.atuvfibd6g47"
    assert labels["host"] == "node-3" and "host" not in metadata


def test_json_lines_keep_the_parsed_fields_in_the_line() -> None:
    entries = sorted(entry for _, _, found in streams(parsed_batch(), config(structured_metadata=False))
                     for entry in found)
    lines = [orjson.loads(line) for _, line, _, _ in entries]
    assert lines[0]["log"] == {"level": "error"} and lines[0]["attributes"]["user"] == 42
    assert lines[2]["log"] == {"level": "error", "lines": 3}
