"""The otlp sink: classify (the OTLP/HTTP spec's answers), the resource mapping, both encodings, and the
real sink against a fake collector that checks requests as the spec says."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import logging
import os
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from logship import __version__
from logship.config import TlsConfig, load
from logship.ship.outcome import OutcomeKind
from logship.sinks.base import Batch, SinkError
from logship.sinks.otlp import encode as otlp_encode
from logship.sinks.otlp.classify import classify
from logship.sinks.otlp.encode import encode, parse_image, record_attributes, resource_attributes
from logship.sinks.otlp.sink import OtlpSink, logs_url
from logship.sinks.otlp.spec import OtlpSinkConfig
from tests.fakes.certs import CertificateAuthority
from tests.fakes.otlp import FakeCollector, json_violations, status_body
from tests.sinks import running
from tests.sinks.records import CONTAINER_ID, decoded, parsed, parsed_batch, records, sample_batch
from tests.support import check_report, closed_port, report_line

DELIVERED, RETRY, REJECTED = OutcomeKind.DELIVERED, OutcomeKind.RETRY, OutcomeKind.REJECTED
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DEFAULTS: OtlpSinkConfig = load({"LOGSHIP_SINK": "otlp",
                                 "LOGSHIP_OTLP_ENDPOINT": "http://127.0.0.1:9"}).sink_configs["otlp"]
RETRY_STATUS = DEFAULTS.retry_status
ENCODINGS = ("protobuf", "json")
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}

SAMPLE_RESOURCE = {
    "container.id": CONTAINER_ID,
    "container.name": "shop_web.1.atuvfibd6g47",
    "container.label.team": "shop",
    "container.image.name": "nginx",
    "container.image.tags": ["1.27"],
    "container.runtime": "docker",
    "container.runtime.name": "docker",
    "service.name": "web",
    "service.namespace": "shop",
    "host.name": "node-3",
    "host.id": "zacqlko8qhngr3lo9tjnswjdz",
    "docker.compose.project": "shop",
    "docker.compose.service": "web",
    "docker.swarm.service.id": "hot4rfp8id5g",
    "docker.swarm.service.name": "shop_web",
    "docker.swarm.service.label.tier": "front",
    "docker.swarm.task.id": "atuvfibd6g47",
    "docker.swarm.task.name": "shop_web.1.atuvfibd6g47",
    "docker.swarm.task.slot": 1,
    "docker.swarm.node.id": "zacqlko8qhngr3lo9tjnswjdz",
}
SAMPLE_NS = [1795624362123456789, 1795624362123456790, 1795624363000000001]  # the sample's Docker timestamps


def config(endpoint: str = "http://127.0.0.1:9", **changes: Any) -> OtlpSinkConfig:
    return dataclasses.replace(DEFAULTS, endpoint=endpoint, timeout=5.0, **changes)


def batch(*recs: bytes) -> Batch:
    return Batch(list(recs), sum(map(len, recs)))


def response(rejected: int = 0, message: str = "") -> bytes:
    answer = ExportLogsServiceResponse()
    if rejected or message:
        answer.partial_success.rejected_log_records = rejected
        answer.partial_success.error_message = message
    return answer.SerializeToString()


def request_of(body: bytes, headers: dict[str, str]) -> Any:
    if headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    if headers["Content-Type"] == "application/json":
        return json_format.ParseDict(orjson.loads(body), ExportLogsServiceRequest())
    return ExportLogsServiceRequest.FromString(body)


# --- classify ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "headers", "body", "kind", "reason", "after", "split"), [
    # full success: partial_success unset (protobuf, JSON, or no body at all)
    (200, PROTOBUF, response(), DELIVERED, "", None, False),
    (200, JSON, b"{}", DELIVERED, "", None, False),
    (200, {}, b"", DELIVERED, "", None, False),
    # partial success: some records dropped for good, the batch is not retried
    (200, PROTOBUF, response(1, "record 2: invalid body"), DELIVERED, "partial_success", None, False),
    (200, JSON, b'{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"too old"}}', DELIVERED,
     "partial_success", None, False),
    # every record rejected: the whole batch is rejected (dead-lettered)
    (200, JSON, b'{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"quota"}}', REJECTED,
     "otlp partial success: the collector rejected all 3 log records: quota", None, False),
    (200, PROTOBUF, response(3), REJECTED, "otlp partial success: the collector rejected all 3 log records", None,
     False),
    # partialSuccess with 0 rejected: a warning only
    (200, JSON, b'{"partialSuccess":{"rejectedLogRecords":"0","errorMessage":"deprecated field"}}', DELIVERED,
     "warning", None, False),
    (200, PROTOBUF, response(0, "deprecated field"), DELIVERED, "warning", None, False),
    # a 2xx body that is not an ExportLogsServiceResponse: the collector accepted
    (200, PROTOBUF, b"<html>ok</html>", DELIVERED, "unreadable_answer", None, False),
    (200, JSON, b"{not json", DELIVERED, "unreadable_answer", None, False),
    # retryable: 429, 502, 503, 504, with Retry-After
    (429, PROTOBUF, status_body(8, "rate limited", "application/x-protobuf"), RETRY, "http_429", None, False),
    (429, {**JSON, "Retry-After": "3"}, status_body(8, "rate limited", "application/json"), RETRY, "http_429",
     3.0, False),
    (503, {"Retry-After": "10"}, b"", RETRY, "http_503", 10.0, False),
    (502, {}, b"bad gateway", RETRY, "http_502", None, False),
    (504, {}, b"", RETRY, "http_504", None, False),
    # not retryable per the spec: 400, 500 and the rest, with the Status message
    (400, JSON, status_body(3, "invalid log record", "application/json"), REJECTED, "http 400: invalid log record",
     None, False),
    (400, PROTOBUF, status_body(3, "proto: bad wire type", "application/x-protobuf"), REJECTED,
     "http 400: proto: bad wire type", None, False),
    (500, JSON, status_body(13, "internal", "application/json"), REJECTED, "http 500: internal", None, False),
    (404, {"Content-Type": "text/plain"}, b"404 page not found", REJECTED, "http 404: 404 page not found", None,
     False),
    (415, JSON, b"{malformed", REJECTED, "http 415: {malformed", None, False),
    # 413: the payload is not sent again as it is; its halves are
    (413, JSON, status_body(8, "request too large", "application/json"), REJECTED, "http 413: request too large",
     None, True),
    # credentials: kept in the buffer, as every sink does
    (401, JSON, status_body(16, "unauthenticated", "application/json"), RETRY, "http_401", None, False),
    (403, {}, b"", RETRY, "http_403", None, False),
])
def test_classify(status: int, headers: dict[str, str], body: bytes, kind: OutcomeKind, reason: str,
                  after: float | None, split: bool) -> None:
    outcome = classify(status, headers, body, RETRY_STATUS, records=3)
    assert (outcome.kind, outcome.reason, outcome.after, outcome.split) == (kind, reason, after, split)


def test_classify_details() -> None:
    partial = classify(200, PROTOBUF, response(1, "record 2: invalid body"), RETRY_STATUS, records=3)
    assert partial.detail == ("the collector rejected 1 of 3 log records (not retried, as OTLP requires; it does "
                              "not say which): record 2: invalid body")
    assert partial.retry_items == () and partial.rejected_items == ()  # settled as delivered
    assert classify(200, JSON, b'{"partialSuccess":{"rejectedLogRecords":5}}', RETRY_STATUS).reason == \
        "partial_success"  # the count unknown: never a whole-batch rejection
    assert "credentials refused" in classify(401, {}, b"", RETRY_STATUS).detail
    assert classify(500, {}, b"", frozenset({500})).kind is RETRY  # LOGSHIP_OTLP_RETRY_STATUS decides


def test_the_default_retry_statuses_are_the_spec_s() -> None:
    assert frozenset({429, 502, 503, 504}) == RETRY_STATUS


# --- the mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(("image", "expected"), [
    ("nginx:1.27", {"container.image.name": "nginx", "container.image.tags": ["1.27"]}),
    ("nginx", {"container.image.name": "nginx"}),
    ("registry:5000/team/app:2.0", {"container.image.name": "registry:5000/team/app",
                                    "container.image.tags": ["2.0"]}),
    ("registry:5000/team/app", {"container.image.name": "registry:5000/team/app"}),
    ("nginx:1.27@sha256:0123abcd", {"container.image.name": "nginx", "container.image.tags": ["1.27"],
                                    "container.image.repo_digests": ["nginx@sha256:0123abcd"]}),
    ("nginx@sha256:0123abcd", {"container.image.name": "nginx",
                               "container.image.repo_digests": ["nginx@sha256:0123abcd"]}),
    ("sha256:0123abcd", {"container.image.id": "sha256:0123abcd"}),
    ("", {}),
])
def test_parse_image(image: str, expected: dict[str, Any]) -> None:
    assert dict(parse_image(image)) == expected


def test_resource_attributes_of_every_metadata_field() -> None:
    fields = decoded(sample_batch())[0]
    assert dict(resource_attributes(fields)) == SAMPLE_RESOURCE
    assert record_attributes(fields) == ()


def test_extra_fields_and_partial_become_record_attributes() -> None:
    fields = {**decoded(sample_batch())[0], "env": {"name": "prod"}, "region": "eu",
              "partial": {"ordinal": 2, "last": False}}
    assert dict(record_attributes(fields)) == {"env.name": "prod", "region": "eu", "logship.partial.ordinal": 2,
                                               "logship.partial.last": False}


# --- encode ------------------------------------------------------------------------------------


def test_protobuf_and_json_encode_the_same_request() -> None:
    protobuf_body, protobuf_headers = encode(sample_batch(), config(), observed_ns=42)
    json_body, json_headers = encode(sample_batch(), config(encoding="json"), observed_ns=42)
    assert protobuf_headers == {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    assert json_headers == {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    assert request_of(protobuf_body, protobuf_headers) == request_of(json_body, json_headers)


def test_json_follows_otlp_json_rules() -> None:
    body, _ = encode(sample_batch(), config(encoding="json", compression="none"), observed_ns=1764088362000000001)
    document = orjson.loads(body)
    assert json_violations(document) == []
    [resource_logs] = document["resourceLogs"]
    attributes = {a["key"]: a["value"] for a in resource_logs["resource"]["attributes"]}
    assert attributes["docker.swarm.task.slot"] == {"intValue": "1"}  # int64 as a decimal string
    assert attributes["container.image.tags"] == {"arrayValue": {"values": [{"stringValue": "1.27"}]}}
    [scope_logs] = resource_logs["scopeLogs"]
    assert scope_logs["scope"] == {"name": "logship", "version": __version__}
    first = scope_logs["logRecords"][0]
    assert first == {"timeUnixNano": "1795624362123456789", "observedTimeUnixNano": "1764088362000000001",
                     "body": {"stringValue": "GET /health 200"},
                     "attributes": [{"key": "log.iostream", "value": {"stringValue": "stdout"}}]}
    assert "severityNumber" not in first and "severity_number" not in body.decode()


def test_records_are_grouped_by_container() -> None:
    other = decoded(sample_batch())[2]
    other["container"] = {**other["container"], "id": "f" * 64, "name": "db.1.x"}
    recs = [*sample_batch().records[:2], orjson.dumps(other), sample_batch().records[2]]
    body, _ = encode(batch(*recs), config(compression="none"), observed_ns=1)
    request = ExportLogsServiceRequest.FromString(body)
    assert [len(r.scope_logs[0].log_records) for r in request.resource_logs] == [3, 1]
    ids = [{a.key: a.value.string_value for a in r.resource.attributes}["container.id"]
           for r in request.resource_logs]
    assert ids == [CONTAINER_ID, "f" * 64]
    assert [r.body.string_value for r in request.resource_logs[0].scope_logs[0].log_records] == [
        "GET /health 200", 'multi\nline "quoted" \\ ] é 日本 😀', "error: boom"]  # batch order kept



@pytest.mark.parametrize(("endpoint", "url"), [
    ("http://collector:4318", "http://collector:4318/v1/logs"),
    ("http://collector:4318/", "http://collector:4318/v1/logs"),
    ("http://collector:4318/v1/logs", "http://collector:4318/v1/logs"),
    ("https://loki:3100/otlp", "https://loki:3100/otlp/v1/logs"),  # Loki's own OTLP ingest
])
def test_logs_url(endpoint: str, url: str) -> None:
    assert logs_url(endpoint) == url


@pytest.mark.parametrize("changes", [{"encoding": "thrift"}, {"compression": "brotli"}])
def test_unknown_settings_are_refused(changes: dict[str, str]) -> None:
    with pytest.raises(SinkError) as caught:
        OtlpSink(config(**changes))
    assert not caught.value.retriable


# --- the real sink against the fake collector ---------------------------------------------------


async def started(sink_config: OtlpSinkConfig) -> OtlpSink:
    return await running.started(OtlpSink(sink_config))


async def send(sink_config: OtlpSinkConfig, *batches: Batch) -> list[Any]:
    return await running.send_all(OtlpSink(sink_config), batches)


@pytest.mark.parametrize("compression", ["gzip", "none"])
@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_every_field_arrives_where_otlp_expects_it(encoding: str, compression: str) -> None:
    async with FakeCollector(require_headers={"X-Api-Key": "k3y"}) as collector:
        before = time.time_ns()
        [outcome] = await send(config(collector.url, encoding=encoding, compression=compression,
                                      headers=(("X-Api-Key", "k3y"),)), sample_batch())
        after = time.time_ns()
    assert outcome.kind is DELIVERED and outcome.reason == ""
    [export] = collector.exports
    assert export.status == 200 and export.log_records == 3
    assert export.headers["Content-Type"] == {"protobuf": "application/x-protobuf", "json": "application/json"}[
        encoding]
    assert export.headers.get("Content-Encoding", "none") == compression
    assert export.headers["User-Agent"].startswith("logship/")
    received = collector.records()
    sent = decoded(sample_batch())
    assert len(received) == len(sent)
    for got, rec, ns in zip(received, sent, SAMPLE_NS, strict=True):
        assert got.resource == SAMPLE_RESOURCE
        assert (got.scope_name, got.scope_version) == ("logship", __version__)
        assert got.time_unix_nano == ns  # the Docker timestamp, nanoseconds kept
        assert before <= got.observed_time_unix_nano <= after
        assert got.body == rec["message"]
        assert got.attributes == {"log.iostream": rec["stream"]}
        assert (got.severity_number, got.severity_text) == (0, "")  # no level parsing yet
    if encoding == "json":
        assert len(collector.json_documents) == 1


async def test_partial_success_is_delivered_and_logged_per_batch(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeCollector() as collector:
        collector.partial(1, "log record 0: body too large", times=2)
        with caplog.at_level(logging.WARNING, logger="logship.sinks.otlp"):
            outcomes = await send(config(collector.url), sample_batch(), sample_batch())
    assert [(o.kind, o.reason) for o in outcomes] == [(DELIVERED, "partial_success")] * 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "logship.sinks.otlp"]
    assert len(warnings) == 2
    assert "rejected 1 of 3 log records" in warnings[0] and "body too large" in warnings[0]
    assert len(collector.records()) == 4  # the collector kept 2 of each batch


async def test_partial_success_of_every_record_rejects_the_batch() -> None:
    async with FakeCollector() as collector:
        collector.partial(3, "tenant over quota")
        [outcome] = await send(config(collector.url, encoding="json"), sample_batch())
    assert outcome.kind is REJECTED and "tenant over quota" in outcome.reason


async def test_a_warning_is_logged_when_it_changes(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeCollector() as collector:
        collector.partial(0, "field X is deprecated", times=2)
        collector.partial(0, "field Y is deprecated")
        with caplog.at_level(logging.WARNING, logger="logship.sinks.otlp"):
            outcomes = await send(config(collector.url), sample_batch(), sample_batch(), sample_batch())
    assert [o.kind for o in outcomes] == [DELIVERED] * 3
    warnings = [r.getMessage() for r in caplog.records if r.name == "logship.sinks.otlp"]
    assert len(warnings) == 2 and "field X" in warnings[0] and "field Y" in warnings[1]


def test_an_unreadable_answer_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    sink = OtlpSink(config())
    outcome = classify(200, PROTOBUF, b"<html>", RETRY_STATUS, records=3)
    with caplog.at_level(logging.WARNING, logger="logship.sinks.otlp"):
        sink._log(outcome)
        sink._log(outcome)
    assert outcome.kind is DELIVERED
    assert len([r for r in caplog.records if r.name == "logship.sinks.otlp"]) == 1


async def test_scripted_errors_are_classified() -> None:
    async with FakeCollector() as collector:
        collector.fail(429, headers={"Retry-After": "4"}, message="rate limited")
        collector.fail(503, headers={"Retry-After": "1"})
        collector.fail(500, message="exporter failed")
        collector.fail(400, message="bad record")
        collector.fail(413, message="request too large")
        outcomes = await send(config(collector.url, encoding="json"), *[sample_batch()] * 5)
    assert [(o.kind, o.reason, o.after) for o in outcomes[:2]] == [(RETRY, "http_429", 4.0), (RETRY, "http_503", 1.0)]
    assert [(o.kind, o.reason, o.split) for o in outcomes[2:]] == [
        (REJECTED, "http 500: exporter failed", False), (REJECTED, "http 400: bad record", False),
        (REJECTED, "http 413: request too large", True)]
    assert collector.records() == []


async def test_the_fake_refuses_snake_case_and_enum_names() -> None:
    document = {"resource_logs": [{"scopeLogs": [{"logRecords": [{"severityNumber": "SEVERITY_NUMBER_INFO",
                                                                   "timeUnixNano": 1.5}]}]}]}
    problems = json_violations(document)
    assert any("lowerCamelCase" in p for p in problems)
    assert any("enums must be integers" in p for p in problems)
    assert any("64-bit integer" in p for p in problems)


async def test_missing_credentials_are_retried() -> None:
    async with FakeCollector(require_headers={"Authorization": "Bearer right"}) as collector:
        [outcome] = await send(config(collector.url, headers=(("Authorization", "Bearer wrong"),)), sample_batch())
    assert (outcome.kind, outcome.reason) == (RETRY, "http_401")


async def test_a_large_batch_is_encoded_off_the_loop() -> None:
    recs = [orjson.dumps({**decoded(sample_batch())[0], "timestamp": f"2026-11-25T16:32:42.{i:09d}Z",
                          "message": f"line {i} " + "p" * 200}) for i in range(2000)]
    async with FakeCollector() as collector:
        [outcome] = await send(config(collector.url), batch(*recs))
    assert outcome.kind is DELIVERED
    assert [r.body for r in collector.records()] == [f"line {i} " + "p" * 200 for i in range(2000)]


# --- healthcheck -------------------------------------------------------------------------------


async def healthcheck(sink_config: OtlpSinkConfig) -> None:
    await running.health_checked(OtlpSink(sink_config))


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_healthcheck_sends_an_empty_export(encoding: str) -> None:
    async with FakeCollector() as collector:
        await healthcheck(config(collector.url, encoding=encoding))
    [export] = collector.exports
    assert (export.status, export.log_records) == (200, 0)
    assert collector.records() == []


async def test_healthcheck_failures() -> None:
    with closed_port() as port, pytest.raises(SinkError, match="cannot connect") as refused:
        await healthcheck(config(f"http://127.0.0.1:{port}"))
    assert refused.value.retriable
    async with FakeCollector(require_headers={"Authorization": "Bearer right"}) as collector:
        with pytest.raises(SinkError, match="credentials refused") as credentials:
            await healthcheck(config(collector.url))
        with pytest.raises(SinkError, match="OTLP/HTTP base URL") as wrong_path:
            await healthcheck(config(collector.url + "/nope/v1/logs", headers=(("Authorization", "Bearer right"),)))
        collector.fail(503, message="collector starting")
        with pytest.raises(SinkError, match="collector starting") as unavailable:
            await healthcheck(config(collector.url, headers=(("Authorization", "Bearer right"),)))
    assert not credentials.value.retriable and not wrong_path.value.retriable
    assert unavailable.value.retriable


# --- TLS ---------------------------------------------------------------------------------------


async def test_tls_with_our_ca(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    async with FakeCollector(ca.server_context()) as collector:
        tls_config = config(collector.url, tls=TlsConfig(ca_file=str(ca.ca_file)))
        await healthcheck(tls_config)
        [outcome] = await send(tls_config, sample_batch())
    assert outcome.kind is DELIVERED
    assert len(collector.records()) == 3


async def test_tls_wrong_ca(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "right")
    other = CertificateAuthority(tmp_path / "other", name="other-ca")
    async with FakeCollector(ca.server_context()) as collector:
        wrong = config(collector.url, tls=TlsConfig(ca_file=str(other.ca_file)))
        with pytest.raises(SinkError, match="certificate verify failed") as caught:
            await healthcheck(wrong)
        [outcome] = await send(wrong, sample_batch())
    assert not caught.value.retriable
    assert (outcome.kind, outcome.reason) == (RETRY, "tls")
    assert collector.exports == []


# --- `logship check` -----------------------------------------------------------------------------


async def logship_check(tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``python -m logship check`` with ``env`` (and no inherited LOGSHIP_ variable)."""
    result = await asyncio.to_thread(check_report, tmp_path, {"DOCKER_HOST": "unix:///var/run/docker.sock",
                                                              "LOGSHIP_LOG_FORMAT": "text", "LOGSHIP_SINK": "otlp",
                                                              **env})
    return result.returncode, result.stdout


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_check_succeeds(tmp_path: Path, encoding: str) -> None:
    async with FakeCollector() as collector:
        code, output = await logship_check(tmp_path, {"LOGSHIP_OTLP_ENDPOINT": collector.url,
                                                      "LOGSHIP_OTLP_ENCODING": encoding})
    assert report_line(output, "sink otlp").startswith("ok   sink otlp: reachable")
    engine_ok = report_line(output, "engine").startswith("ok")
    if IN_CI or engine_ok:
        assert engine_ok, output
        assert code == 0, output


async def test_check_fails_with_a_clear_reason(tmp_path: Path) -> None:
    with closed_port() as port:
        code, output = await logship_check(tmp_path, {"LOGSHIP_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"})
    sink_line = report_line(output, "sink otlp")
    assert sink_line.startswith(f"FAIL sink otlp: http://127.0.0.1:{port}/v1/logs: cannot connect")
    assert code == 1, output
    ca = CertificateAuthority(tmp_path / "right")
    other = CertificateAuthority(tmp_path / "other", name="other-ca")
    async with FakeCollector(ca.server_context()) as collector:
        code, output = await logship_check(tmp_path, {"LOGSHIP_OTLP_ENDPOINT": collector.url,
                                                      "LOGSHIP_OTLP_TLS_CA_FILE": str(other.ca_file)})
    assert "certificate verify failed" in report_line(output, "sink otlp")
    assert code == 1, output


# --- the parsed fields (RECORD.md): level and attributes ------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_level_and_attributes_arrive_as_severity_and_key_values(encoding: str) -> None:
    async with FakeCollector() as collector:
        [outcome] = await send(config(collector.url, encoding=encoding), parsed_batch())
    assert outcome.kind is DELIVERED
    received = sorted(collector.records(), key=lambda record: record.time_unix_nano)
    assert [(got.severity_number, got.severity_text) for got in received] == [
        (17, "ERROR"), (13, "WARN"), (17, "ERROR"), (0, "")]
    assert [got.attributes for got in received] == [
        {"log.iostream": "stdout", "user": 42, "db.host": "pg-1", "db.ok": False, "tags": ["a", "b"],
         "_stream": "kafka"},
        {"log.iostream": "stdout"},
        {"log.iostream": "stderr", "log.lines": 3},
        {"log.iostream": "stdout", "order": "A-17", "amount": 12.5},
    ]
    assert all(got.resource == SAMPLE_RESOURCE for got in received)


def test_every_level_maps_to_its_severity_number() -> None:
    [base] = records([("stdout", "2026-11-25T16:32:42.000000001Z", "x\n")])
    recs = [parsed(base, level=level) for level in ("trace", "debug", "info", "warn", "error", "fatal")]
    groups = otlp_encode.group(batch(*recs))
    assert [record[5] for resource in groups for record in resource.records] == [
        (1, "TRACE"), (5, "DEBUG"), (9, "INFO"), (13, "WARN"), (17, "ERROR"), (21, "FATAL")]
