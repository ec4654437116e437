"""The elasticsearch sink: classify (ES's documented answers), encode, and the real client against the contract fake."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from logship.collect.lines import LineAssembler
from logship.config import BatchConfig, TlsConfig, load
from logship.metrics import Metrics
from logship.ship.outcome import DELIVERED as DELIVERED_OUTCOME
from logship.ship.outcome import OutcomeKind
from logship.ship.shipper import Shipper
from logship.sinks.base import Batch, SinkError
from logship.sinks.elasticsearch.classify import classify
from logship.sinks.elasticsearch.encode import bulk_lines, check_index, document_id, encode
from logship.sinks.elasticsearch.sink import FILTER_PATH, ElasticsearchSink, request_headers
from logship.sinks.elasticsearch.spec import ElasticsearchSinkConfig
from tests.fakes.certs import CertificateAuthority
from tests.fakes.elasticsearch import MAPPER_PARSING, REJECTED_EXECUTION, FakeElasticsearch, filter_path
from tests.ship.fake_buffer import FakeBuffer
from tests.ship.helpers import FAST_RETRY, eventually
from tests.sinks import running
from tests.sinks.records import METADATA, decoded, frame, parsed, parsed_batch, records, sample_batch
from tests.support import IN_CI, check_report, closed_port, example_env, report_line

DELIVERED, RETRY, REJECTED = OutcomeKind.DELIVERED, OutcomeKind.RETRY, OutcomeKind.REJECTED
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})  # LOGSHIP_ELASTICSEARCH_RETRY_STATUS's default


def config(url: str = "http://127.0.0.1:9", **changes: Any) -> ElasticsearchSinkConfig:
    base = ElasticsearchSinkConfig(
        url=url, index="logs-docker-default", pipeline=None, username=None, password=None, bearer_token=None,
        api_key=None, concurrency=2, timeout=5.0, retry_status=RETRY_STATUS, tls=TlsConfig(),
        batch=BatchConfig(5000, 5 * 1024**2, 1.0))
    return dataclasses.replace(base, **changes)


def batch_of(records_: list[bytes]) -> Batch:
    return Batch(list(records_), sum(map(len, records_)))


def pairs(body: bytes) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(action, source) pairs of an uncompressed bulk body."""
    assert body.endswith(b"\n")
    lines = [orjson.loads(line) for line in body[:-1].split(b"\n")]
    return list(zip(lines[::2], lines[1::2], strict=True))


def bulk_answer(*items: dict[str, Any], took: int = 3) -> bytes:
    errors = any(next(iter(item.values())).get("status", 200) >= 300 for item in items)
    return orjson.dumps({"took": took, "errors": errors, "items": list(items)})


def item(status: int, error_type: str | None = None, reason: str = "", **error: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"_index": ".ds-logs-docker-default-2026.11.25-000001", "_id": "x", "status": status}
    if error_type:
        result["error"] = {"type": error_type, "reason": reason, **error}
    return {"create": result}


CREATED = item(201)
CONFLICT = item(409, "version_conflict_engine_exception",
                "[x]: version conflict, document already exists (current version [1])", index_uuid="u", shard="0",
                index=".ds-logs-docker-default-2026.11.25-000001")
ES_REJECTED = item(429, "es_rejected_execution_exception", "rejected execution of coordinating operation")
OS_REJECTED = item(429, "rejected_execution_exception", "rejected execution of primary operation")
MAPPING = item(400, "mapper_parsing_exception", "failed to parse field [status] of type [long] in document with "
               "id 'x'. Preview of field's value: 'ok'",
               caused_by={"type": "illegal_argument_exception", "reason": 'For input string: "ok"'})
NO_TIMESTAMP = item(400, "document_parsing_exception",
                    "[1:2] failed to parse: data stream timestamp field [@timestamp] is missing")
UNAVAILABLE = item(503, "unavailable_shards_exception", "[logs][0] primary shard is not active")
READ_ONLY = item(403, "cluster_block_exception",
                 "index [logs] blocked by: [FORBIDDEN/12/index read-only / allow delete (api)];")
NO_INDEX = item(404, "index_not_found_exception", "no such index [logs-docker-default]")


def es_error(status: int, kind: str, reason: str) -> bytes:
    return orjson.dumps({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason},
                         "status": status})


# --- classify: ES's documented answers -----------------------------------------------------------


@pytest.mark.parametrize(("status", "headers", "body", "count", "kind", "reason", "after", "retry_items",
                          "rejected_items"), [
    # success
    (200, {}, b'{"took":30,"errors":false,"items":[{"create":{"status":201}}]}', 1, DELIVERED, "", None, (), ()),
    (200, {}, b'{"errors":false}', 5000, DELIVERED, "", None, (), ()),  # filter_path trims a clean answer
    # 409 on create: the document is there already (a retried item): success
    (200, {}, bulk_answer(CREATED, CONFLICT, CONFLICT), 3, DELIVERED, "", None, (), ()),
    # partial success: 429 and 5xx items again (ES and OpenSearch type names), 4xx dead-lettered
    (200, {}, bulk_answer(CREATED, ES_REJECTED, MAPPING, UNAVAILABLE, CONFLICT, OS_REJECTED), 6, DELIVERED,
     "partial", None, (1, 3, 5),
     ((2, "mapper_parsing_exception: failed to parse field [status] of type [long] in document with id 'x'. "
          "Preview of field's value: 'ok' (caused by illegal_argument_exception: For input string: \"ok\")"),)),
    (200, {}, bulk_answer(NO_TIMESTAMP, CREATED), 2, DELIVERED, "partial", None, (),
     ((0, "document_parsing_exception: [1:2] failed to parse: data stream timestamp field [@timestamp] is "
          "missing"),)),
    (200, {}, bulk_answer(NO_INDEX), 1, DELIVERED, "partial", None, (),
     ((0, "index_not_found_exception: no such index [logs-docker-default]"),)),
    # the cluster's state, not the record's fault: items sent again
    (200, {}, bulk_answer(READ_ONLY, CREATED), 2, DELIVERED, "partial", None, (0,), ()),
    # every item to send again: a plain retry
    (200, {}, bulk_answer(ES_REJECTED, OS_REJECTED), 2, RETRY, "http_429", None, (), ()),
    (200, {}, bulk_answer(UNAVAILABLE), 1, RETRY, "http_503", None, (), ()),
    # a 200 that is not the bulk answer: everything again (create + _id makes that safe)
    (200, {}, b"<html>upstream sent too big header</html>", 3, RETRY, "malformed", None, (), ()),
    (200, {}, b'{"acknowledged":true}', 3, RETRY, "malformed", None, (), ()),
    (200, {}, bulk_answer(CREATED, ES_REJECTED), 3, RETRY, "malformed", None, (), ()),  # items ≠ documents
    (200, {}, b'{"errors":true,"items":[{"create":{}}]}', 1, RETRY, "malformed", None, (), ()),
    # too large: split
    (413, {}, b"", 5000, REJECTED, "http 413", None, (), ()),
    # rate limited, overloaded: the whole request again, honouring Retry-After
    (429, {"Retry-After": "5"}, es_error(429, "es_rejected_execution_exception", "rejected execution"), 2, RETRY,
     "http_429", 5.0, (), ()),
    (429, {}, es_error(429, "circuit_breaking_exception", "[parent] Data too large"), 2, RETRY, "http_429", None,
     (), ()),
    (503, {"retry-after": "2"}, es_error(503, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no "
                                         "master];"), 2, RETRY, "http_503", 2.0, (), ()),
    (502, {}, b"<html>502 Bad Gateway</html>", 2, RETRY, "http_502", None, (), ()),
    (500, {}, es_error(500, "null_pointer_exception", "boom"), 2, RETRY, "http_500", None, (), ()),
    (402, {}, es_error(402, "service_quota_exceeded_exception", "quota"), 2, RETRY, "http_402", None, (), ()),
    (408, {}, b"", 2, RETRY, "http_408", None, (), ()),
    # credentials: kept in the buffer, like the http sink
    (401, {}, es_error(401, "security_exception", "unable to authenticate user [x]"), 2, RETRY, "http_401", None,
     (), ()),
    (403, {}, es_error(403, "security_exception", "action [indices:data/write/bulk] is unauthorized"), 2, RETRY,
     "http_403", None, (), ()),
    # client errors: rejected with ES's error
    (400, {}, es_error(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"),
     2, REJECTED, "http 400: illegal_argument_exception: The bulk request must be terminated by a newline [\\n]",
     None, (), ()),
    (406, {}, b'{"error":"Content-Type header [text/plain] is not supported","status":406}', 2, REJECTED,
     "http 406: Content-Type header [text/plain] is not supported", None, (), ()),
    (404, {}, b"404 page not found", 2, REJECTED, "http 404: 404 page not found", None, (), ()),
])
def test_classify(status: int, headers: dict[str, str], body: bytes, count: int, kind: OutcomeKind, reason: str,
                  after: float | None, retry_items: tuple[int, ...],
                  rejected_items: tuple[tuple[int, str], ...]) -> None:
    outcome = classify(status, headers, body, count, RETRY_STATUS)
    assert (outcome.kind, outcome.reason, outcome.after) == (kind, reason, after)
    assert (outcome.retry_items, outcome.rejected_items) == (retry_items, rejected_items)
    assert outcome.split == (status == 413)


def test_classify_details() -> None:
    assert "credentials refused" in classify(401, {}, b"", 1).detail
    malformed = classify(200, {}, b"not json", 1)
    assert "409" in malformed.detail and "safe" in malformed.detail
    long_reason = classify(200, {}, bulk_answer(item(400, "mapper_parsing_exception", "x" * 10_000)), 1)
    assert len(long_reason.rejected_items[0][1]) < 400


# --- encode --------------------------------------------------------------------------------------


def test_encode_sample_batch() -> None:
    batch = sample_batch()
    body, headers = encode(batch, config())
    assert headers == {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    found = pairs(gzip.decompress(body))
    assert len(found) == 3
    for (action, source), record in zip(found, decoded(batch), strict=True):
        assert list(action) == ["create"]
        assert action["create"]["_index"] == "logs-docker-default"
        assert len(action["create"]["_id"]) == 22
        # The record, its timestamp renamed @timestamp (first, 9 digits kept), nothing else changed.
        assert next(iter(source)) == "@timestamp"
        assert source["@timestamp"] == record["timestamp"]
        assert {k: v for k, v in source.items() if k != "@timestamp"} == {
            k: v for k, v in record.items() if k != "timestamp"}
    assert found[0][1]["@timestamp"] == "2026-11-25T16:32:42.123456789Z"
    assert found[1][1]["message"] == 'multi\nline "quoted" \\ ] é 日本 \U0001F600'


def ids(batch: Batch, index: str = "logs-docker-default") -> list[str]:
    return [action["create"]["_id"] for action, _ in pairs(bulk_lines(batch, index))]


def test_ids_are_stable_across_attempts_batches_and_restarts() -> None:
    batch = sample_batch()
    first = ids(batch)
    assert first == ids(sample_batch())  # a new process builds the same records
    assert ids(batch_of(batch.records[1:])) == first[1:]  # only some items resent
    assert ids(batch_of(batch.records[::-1])) == first[::-1]
    assert len(set(first)) == 3
    record = decoded(batch)[0]
    assert first[0] == document_id(record["container"]["id"], "stdout", record["timestamp"], None, record["message"])


def test_ids_ignore_metadata_that_can_change() -> None:
    # Enrichment (service labels read on a manager only) or LOGSHIP_EXTRA_FIELDS may differ after a restart.
    record = decoded(sample_batch())[0]
    changed = {**record, "env": {"name": "prod"}, "service": {"name": "other"}}
    assert ids(batch_of([orjson.dumps(record)])) == ids(batch_of([orjson.dumps(changed)]))


def test_ids_distinguish_parts_of_a_cut_line_and_equal_timestamps() -> None:
    # A line cut at max_line_bytes: every part has the line's timestamp; the partial ordinal tells them apart.
    assembler = LineAssembler(METADATA, {}, 16384)
    cut = assembler.feed([frame(1, "2026-11-25T16:32:42.000000001Z", "x" * 40_000 + "\n")])
    assert len(cut) == 3 and len({orjson.loads(r)["timestamp"] for r in cut}) == 1
    assert len(set(ids(batch_of(cut)))) == 3
    # Equal timestamps (impossible from dockerd, but a coarse clock…): the message still tells lines apart;
    # other streams and other containers too.
    base = decoded(sample_batch())[0]
    variants = [base, {**base, "message": "other"}, {**base, "stream": "stderr"},
                {**base, "container": {**base["container"], "id": "f" * 64}}]
    assert len(set(ids(batch_of([orjson.dumps(v) for v in variants])))) == 4


def test_dated_index_uses_each_records_own_utc_date() -> None:
    recs = records([("stdout", "2026-11-25T23:59:59.999999999Z", "late\n"),
                    ("stdout", "2026-11-26T00:00:00.000000001Z", "early\n")])
    found = pairs(bulk_lines(batch_of(recs), "docker-%Y.%m.%d"))
    assert [action["create"]["_index"] for action, _ in found] == ["docker-2026.11.25", "docker-2026.11.26"]
    # Names must be lower case in ES: %b's "Nov" is lowered.
    found = pairs(bulk_lines(batch_of(recs[:1]), "logs-%b-%Y"))
    assert found[0][0]["create"]["_index"] == "logs-nov-2026"
    # An offset is converted to UTC (Docker always sends Z; other producers might not).
    other = orjson.dumps({"timestamp": "2026-11-26T01:30:00.5+02:00", "message": "m"})
    assert pairs(bulk_lines(batch_of([other]), "d-%Y.%m.%d"))[0][0]["create"]["_index"] == "d-2026.11.25"


@pytest.mark.parametrize("index", ["Logs", "logs docker", "_logs", "logs/docker", "logs-%Y-" + "x" * 300])
def test_index_names_es_would_refuse_are_a_startup_error(index: str) -> None:
    with pytest.raises(SinkError, match="LOGSHIP_ELASTICSEARCH_INDEX") as caught:
        check_index(index)
    assert not caught.value.retriable
    with pytest.raises(SinkError):
        ElasticsearchSink(config(index=index))


def test_a_record_in_another_order_or_not_an_object_still_gives_a_valid_bulk_body() -> None:
    reordered = orjson.dumps({"message": "m", "timestamp": "2026-11-25T16:32:42.123456789Z", "stream": "stdout"})
    found = pairs(bulk_lines(batch_of([reordered, b"[1,2]", b"not json"]), "logs-docker-default"))
    assert found[0][1] == {"@timestamp": "2026-11-25T16:32:42.123456789Z", "message": "m", "stream": "stdout"}
    # Not records (a bug elsewhere): sent as bare messages, which ES refuses for that item alone (no @timestamp).
    assert found[1][1] == {"message": "[1,2]"} and found[2][1] == {"message": "not json"}


def test_encode_5000_records_fast() -> None:
    lines = [("stdout" if i % 3 else "stderr", f"2026-11-25T16:{i // 600:02d}:{i // 10 % 60:02d}.{i:09d}Z",
              f"GET /api/v1/things?id={i} 200 {i * 7}ms\n") for i in range(5000)]
    batch = batch_of(records(lines))
    assert len(batch.records) == 5000
    for index in ("logs-docker-default", "docker-%Y.%m.%d"):
        best = float("inf")
        for _ in range(5):  # CPU time, best of 5: other processes on a busy CI machine do not count
            started = time.process_time()
            encode(batch, config(index=index))
            best = min(best, time.process_time() - started)
        assert best < 0.05, f"{index}: {best * 1000:.1f} ms for 5000 records"


def test_auth_headers() -> None:
    assert request_headers(config(api_key="aWQ6a2V5")) == {"Authorization": "ApiKey aWQ6a2V5"}
    assert request_headers(config(bearer_token="t")) == {"Authorization": "Bearer t"}
    assert request_headers(config(username="elastic", password="changeme")) == {
        "Authorization": "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="}
    assert request_headers(config()) == {}
    with pytest.raises(SinkError) as caught:
        request_headers(config(api_key="k", username="u"))
    assert not caught.value.retriable


def test_fake_filter_path_behaves_like_es() -> None:
    answer = orjson.loads(bulk_answer(CREATED, MAPPING))
    shown = filter_path(answer, [p.split(".") for p in FILTER_PATH.split(",")])
    assert shown == {"errors": True, "items": [{"create": {"status": 201}},
                                               {"create": {"status": 400, "error": MAPPING["create"]["error"]}}]}


# --- the fake checks what ES checks ---------------------------------------------------------------


@pytest.mark.parametrize(("body", "headers", "status", "text"), [
    (b'{"index":{"_index":"logs","_id":"a"}}\n{"@timestamp":"2026-11-25T16:32:42Z"}\n', {}, 400,
     "accept only create"),
    (b'{"create":{"_index":"logs"}}\n{"@timestamp":"2026-11-25T16:32:42Z"}\n', {}, 400, "no _id"),
    (b'{"create":{"_id":"a"}}\n{"@timestamp":"2026-11-25T16:32:42Z"}\n', {}, 400, "index is missing"),
    (b'{"create":{"_index":"logs","_id":"a"}}\n{"@timestamp":"2026-11-25T16:32:42Z"}', {}, 400,
     "must be terminated by a newline"),
    (b'{"create":{"_index":"logs","_id":"a"}}\n{"@timestamp":"2026-11-25T16:32:42Z"}\n',
     {"Content-Type": "application/json"}, 406, "is not supported"),
])
async def test_the_fake_refuses_what_es_refuses(es: FakeElasticsearch, body: bytes, headers: dict[str, str],
                                                status: int, text: str) -> None:
    async with aiohttp.ClientSession() as session, session.post(
            es.url + "/_bulk", data=body, headers={"Content-Type": "application/x-ndjson", **headers}) as response:
        assert response.status == status
        assert text in await response.text()
    assert es.documents == {}


# --- the real sink against the contract fake -----------------------------------------------------


@pytest.fixture
async def es() -> AsyncIterator[FakeElasticsearch]:
    async with FakeElasticsearch() as fake:
        yield fake


async def started(sink_config: ElasticsearchSinkConfig) -> ElasticsearchSink:
    return await running.started(ElasticsearchSink(sink_config))


async def send(sink_config: ElasticsearchSinkConfig, *batches: Batch) -> list[Any]:
    return await running.send_all(ElasticsearchSink(sink_config), batches)


@pytest.mark.parametrize(("auth", "header"), [
    ({"api_key": "aWQ6a2V5"}, "ApiKey aWQ6a2V5"),
    ({"username": "elastic", "password": "s3cret"}, "Basic ZWxhc3RpYzpzM2NyZXQ="),
    ({"bearer_token": "tok"}, "Bearer tok"),
])
async def test_send_sample_batch(es: FakeElasticsearch, auth: dict[str, str], header: str) -> None:
    es.require_authorization = header
    [outcome] = await send(config(es.url, pipeline="docker-logs", **auth), sample_batch())
    assert outcome is DELIVERED_OUTCOME
    [request] = es.requests
    assert request.path == "/_bulk"
    assert request.params == {"filter_path": "errors,items.*.status,items.*.error", "pipeline": "docker-logs"}
    assert request.headers["Content-Type"] == "application/x-ndjson"
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Authorization"] == header
    assert es.item_statuses() == [201, 201, 201]
    stored = es.sources("logs-docker-default")
    expected = decoded(sample_batch())
    assert len(stored) == 3
    for document, record in zip(stored, expected, strict=True):
        assert document["@timestamp"] == record["timestamp"]  # 9 digits: date_nanos precision
        assert document["message"] == record["message"]
        assert document["stream"] == record["stream"]
        assert document["container"] == record["container"]  # id, name, image.name, labels
        assert document["service"] == {"name": "web", "namespace": "shop"}
        assert document["compose"] == {"project": "shop", "service": "web"}
        assert document["swarm"] == record["swarm"]  # service (labels), task (slot), node
        assert document["host"] == {"name": "node-3", "id": "zacqlko8qhngr3lo9tjnswjdz"}
        assert "timestamp" not in document
    assert stored[2]["stream"] == "stderr" and stored[2]["@timestamp"] == "2026-11-25T16:32:43.000000001Z"


async def test_without_pipeline_no_pipeline_param(es: FakeElasticsearch) -> None:
    await send(config(es.url + "/"), sample_batch())  # a trailing slash in the URL too
    assert es.requests[0].path == "/_bulk"
    assert "pipeline" not in es.requests[0].params


async def test_a_lost_response_then_a_retry_stores_each_document_once(es: FakeElasticsearch) -> None:
    es.lose_responses(1)
    first, second = await send(config(es.url), sample_batch(), sample_batch())
    assert first.kind is RETRY and first.reason == "connect"  # indexed, but we could not know
    assert second is DELIVERED_OUTCOME
    assert es.item_statuses(0) == [201, 201, 201]
    assert es.item_statuses(1) == [409, 409, 409]  # already there: counted as delivered
    assert len(es.documents) == 3  # exactly once


async def test_a_malformed_200_then_a_retry_stores_each_document_once(es: FakeElasticsearch) -> None:
    es.malformed_responses(1)
    first, second = await send(config(es.url), sample_batch(), sample_batch())
    assert (first.kind, first.reason) == (RETRY, "malformed")
    assert second is DELIVERED_OUTCOME
    assert es.item_statuses(1) == [409, 409, 409]
    assert len(es.documents) == 3


async def test_whole_request_answers(es: FakeElasticsearch) -> None:
    es.fail(429, headers={"Retry-After": "7"})
    es.fail(413)
    es.fail(401)
    es.fail(503)
    outcomes = await send(config(es.url), *[sample_batch()] * 5)
    assert [(o.kind, o.reason) for o in outcomes[:4]] == [
        (RETRY, "http_429"), (REJECTED, "http 413"), (RETRY, "http_401"), (RETRY, "http_503")]
    assert outcomes[0].after == 7.0
    assert outcomes[1].split
    assert "security_exception" in outcomes[2].detail
    assert outcomes[4] is DELIVERED_OUTCOME
    assert len(es.documents) == 3


async def test_item_answers(es: FakeElasticsearch) -> None:
    es.fail_items({0: REJECTED_EXECUTION, 2: MAPPER_PARSING})
    [outcome] = await send(config(es.url), sample_batch())
    assert outcome.retry_items == (0,)
    assert outcome.rejected_items == ((2, f"{MAPPER_PARSING.type}: {MAPPER_PARSING.reason}"),)
    assert len(es.documents) == 1


async def test_a_document_without_timestamp_is_refused_by_the_data_stream(es: FakeElasticsearch) -> None:
    [outcome] = await send(config(es.url), batch_of([b'{"message":"no time"}', sample_batch().records[0]]))
    assert outcome.retry_items == ()
    assert outcome.rejected_items == ((0, "document_parsing_exception: [1:2] failed to parse: data stream "
                                          "timestamp field [@timestamp] is missing"),)


# --- through the real shipper: only failed items again, rejected ones dead-lettered ---------------


async def ship(sink: ElasticsearchSink, recs: list[bytes], tmp_path: Path) -> tuple[FakeBuffer, Metrics, Path]:
    buffer = FakeBuffer(sink="elasticsearch")
    metrics = Metrics()
    shipper = Shipper(sink, buffer, BatchConfig(100, 1_000_000, 0.05), FAST_RETRY, 1, tmp_path / "dead-letter",
                      metrics)
    task = asyncio.create_task(shipper.run())
    buffer.append(*recs)
    try:
        await eventually(lambda: buffer.all_acked)
    finally:
        await shipper.drain(timeout=2.0)
        await asyncio.wait_for(task, 5)
    return buffer, metrics, shipper.dead_letter_path


async def test_shipper_resends_only_retry_items_and_dead_letters_rejected_ones(es: FakeElasticsearch,
                                                                               tmp_path: Path) -> None:
    es.fail_items({0: REJECTED_EXECUTION, 1: MAPPER_PARSING})
    sink = await started(config(es.url))
    recs = sample_batch().records
    try:
        _, metrics, dead_letter_path = await ship(sink, recs, tmp_path)
    finally:
        await sink.aclose()
    assert [len(request.sources) for request in es.requests] == [3, 1]  # only item 0 went again
    assert es.requests[1].sources[0]["message"] == "GET /health 200"
    assert es.item_statuses(0) == [429, 400, 201] and es.item_statuses(1) == [201]
    assert sorted(doc["message"] for doc in es.sources()) == ["GET /health 200", "error: boom"]
    [dead] = [orjson.loads(line) for line in dead_letter_path.read_bytes().splitlines()]
    assert dead["sink"] == "elasticsearch"
    assert dead["reason"] == f"mapper_parsing_exception: {MAPPER_PARSING.reason}"
    assert dead["record"] == orjson.loads(recs[1])
    sample = metrics.registry.get_sample_value
    assert sample("logship_lines_shipped_total", {"sink": "elasticsearch"}) == 2
    assert sample("logship_lines_rejected_total", {"sink": "elasticsearch", "reason": "store"}) == 1


async def test_shipper_splits_on_413_and_retries_a_whole_429(es: FakeElasticsearch, tmp_path: Path) -> None:
    es.fail(413)
    es.fail(429, headers={"Retry-After": "0"})
    sink = await started(config(es.url))
    try:
        await ship(sink, sample_batch().records, tmp_path)
    finally:
        await sink.aclose()
    # 413 for 3 → halves of 1 (429, then again) and 2.
    assert [len(request.sources) for request in es.requests] == [3, 1, 1, 2]
    assert es.statuses == [413, 429, 200, 200]
    assert len(es.documents) == 3


# --- healthcheck and TLS --------------------------------------------------------------------------


async def test_healthcheck(es: FakeElasticsearch) -> None:
    es.require_authorization = "ApiKey good"
    sink = await started(config(es.url, api_key="good"))
    try:
        await sink.healthcheck()
    finally:
        await sink.aclose()
    assert es.probes[0]["Authorization"] == "ApiKey good"
    sink = await started(config(es.url, api_key="bad"))
    try:
        with pytest.raises(SinkError, match="credentials refused") as caught:
            await sink.healthcheck()
        assert not caught.value.retriable
    finally:
        await sink.aclose()


async def test_healthcheck_wrong_port() -> None:
    with closed_port() as port:
        sink = await started(config(f"http://127.0.0.1:{port}"))
        try:
            with pytest.raises(SinkError, match="cannot connect") as caught:
                await sink.healthcheck()
            assert caught.value.retriable
            outcome = await sink.send(sample_batch())
            assert (outcome.kind, outcome.reason) == (RETRY, "connect")
        finally:
            await sink.aclose()


async def test_tls_with_our_ca_and_with_a_wrong_one(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "right")
    other = CertificateAuthority(tmp_path / "other", name="other-ca")
    async with FakeElasticsearch(ssl_context=ca.server_context()) as fake:
        assert fake.url.startswith("https://")
        [outcome] = await send(config(fake.url, tls=TlsConfig(ca_file=str(ca.ca_file))), sample_batch())
        assert outcome is DELIVERED_OUTCOME
        sink = await started(config(fake.url, tls=TlsConfig(ca_file=str(other.ca_file))))
        try:
            await started_healthcheck_fails(sink, "certificate verify failed")
            outcome = await sink.send(sample_batch())
            assert (outcome.kind, outcome.reason) == (RETRY, "tls")
        finally:
            await sink.aclose()
    assert len(fake.documents) == 3


async def started_healthcheck_fails(sink: ElasticsearchSink, text: str) -> None:
    with pytest.raises(SinkError, match="certificate") as caught:
        await sink.healthcheck()
    assert text in str(caught.value)
    assert not caught.value.retriable


# --- logship check as a process --------------------------------------------------------------------


async def logship_check(tmp_path: Path, **env: str) -> tuple[int, str]:
    result = await asyncio.to_thread(check_report, tmp_path, {"LOGSHIP_SINK": "elasticsearch", **env}, timeout=60)
    if "FAIL engine" in result.stdout and not IN_CI:
        pytest.skip(f"logship check needs a Docker engine: {result.stdout}")
    return result.returncode, result.stdout


def sink_line(output: str) -> str:
    return report_line(output, "sink elasticsearch")


async def test_check_success(es: FakeElasticsearch, tmp_path: Path) -> None:
    code, output = await logship_check(tmp_path, LOGSHIP_ELASTICSEARCH_URL=es.url)
    assert code == 0, output
    assert sink_line(output).startswith("ok   sink elasticsearch"), output


async def test_check_wrong_port(tmp_path: Path) -> None:
    with closed_port() as port:
        code, output = await logship_check(tmp_path, LOGSHIP_ELASTICSEARCH_URL=f"http://127.0.0.1:{port}")
    assert code == 1, output
    assert sink_line(output).startswith("FAIL sink elasticsearch") and "cannot connect" in sink_line(output)


async def test_check_wrong_credentials(es: FakeElasticsearch, tmp_path: Path) -> None:
    es.require_authorization = "ApiKey right"
    code, output = await logship_check(tmp_path, LOGSHIP_ELASTICSEARCH_URL=es.url,
                                       LOGSHIP_ELASTICSEARCH_API_KEY="wrong")
    assert code == 1, output
    assert sink_line(output).startswith("FAIL sink elasticsearch") and "credentials refused" in sink_line(output)
    assert "HTTP 401" in sink_line(output)


async def test_check_wrong_ca(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "right")
    other = CertificateAuthority(tmp_path / "other", name="other-ca")
    async with FakeElasticsearch(ssl_context=ca.server_context()) as fake:
        code, output = await logship_check(tmp_path, LOGSHIP_ELASTICSEARCH_URL=fake.url,
                                           LOGSHIP_ELASTICSEARCH_TLS_CA_FILE=str(other.ca_file))
        assert code == 1, output
        assert "certificate verify failed" in sink_line(output), output
        code, output = await logship_check(tmp_path, LOGSHIP_ELASTICSEARCH_URL=fake.url,
                                           LOGSHIP_ELASTICSEARCH_TLS_CA_FILE=str(ca.ca_file))
        assert code == 0, output


# --- the example env file -------------------------------------------------------------------------


def test_example_env_file_is_valid(tmp_path: Path) -> None:
    config = load({**example_env("elasticsearch.env"), "LOGSHIP_DATA_DIR": str(tmp_path)})
    assert config.sinks == ("elasticsearch",)


# --- the parsed fields (RECORD.md): level and attributes ------------------------------------------


async def test_level_and_attributes_are_stored_as_ecs_fields(es: FakeElasticsearch) -> None:
    [outcome] = await send(config(es.url), parsed_batch())
    assert outcome is DELIVERED_OUTCOME
    stored = sorted(es.sources("logs-docker-default"), key=lambda document: document["@timestamp"])
    assert [document.get("log") for document in stored] == [
        {"level": "error"}, {"level": "warn"}, {"level": "error", "lines": 3}, None]
    assert stored[0]["attributes"] == {"user": 42, "db": {"host": "pg-1", "ok": False}, "tags": ["a", "b"],
                                       "_stream": "kafka"}
    assert stored[3]["attributes"] == {"order": "A-17", "amount": 12.5}
    assert all(document["stream"] in ("stdout", "stderr") for document in stored)


def test_a_parsed_document_is_the_record_s_bytes() -> None:
    body = bulk_lines(parsed_batch(), "logs-docker-default").splitlines()
    for document, record in zip(body[1::2], parsed_batch().records, strict=True):
        assert document == b'{"@timestamp":' + record[len(b'{"timestamp":'):]


def test_the_id_does_not_depend_on_parsing() -> None:
    plain = records([("stdout", "2026-11-25T16:32:42.123456789Z", "db down\n")])
    with_level = [parsed(plain[0], level="error", attributes={"user": 42})]
    assert (bulk_lines(Batch(plain, 1), "i").splitlines()[0] == bulk_lines(Batch(with_level, 1), "i").splitlines()[0])
