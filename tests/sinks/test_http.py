"""The http sink: classify (documented answers), encode, headers, and the real client against the fake."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import gzip
import importlib.util
import logging
import ssl
import sys
from pathlib import Path

import orjson
import pytest

from logship.config import TlsConfig
from logship.ship.outcome import OutcomeKind
from logship.sinks.base import Batch, SinkError
from logship.sinks.http.classify import classify
from logship.sinks.http.encode import encode
from logship.sinks.http.sink import HttpSink, request_headers
from logship.sinks.http.spec import HttpSinkConfig
from logship.sinks.tls import ssl_context
from tests.fakes.certs import BACKENDS, CertificateAuthority, require_backend
from tests.fakes.http_receiver import HttpReceiver, decode_body
from tests.sinks import running
from tests.sinks.records import parsed_batch

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})  # LOGSHIP_HTTP_RETRY_STATUS's default
OTLP_RETRY_STATUS = frozenset({429, 502, 503, 504})  # OTLP/HTTP: 500 must not be retried

DELIVERED, RETRY, REJECTED = OutcomeKind.DELIVERED, OutcomeKind.RETRY, OutcomeKind.REJECTED
REPO = Path(__file__).resolve().parents[2]
# zstandard is an optional dependency of logship: without it, its cases skip (the error path is tested).
ZSTD = pytest.param("zstd", marks=pytest.mark.skipif(importlib.util.find_spec("zstandard") is None,
                                                     reason="the optional zstandard package is not installed"))


def config(url: str = "http://127.0.0.1:9/ingest", **changes: object) -> HttpSinkConfig:
    base = HttpSinkConfig(url=url, compression="gzip", headers=(), bearer_token=None, username=None,
                          password=None, concurrency=2, timeout=5.0, retry_status=RETRY_STATUS, tls=TlsConfig())
    return dataclasses.replace(base, **changes)


def batch(*records: bytes) -> Batch:
    return Batch(list(records), sum(map(len, records)))


# --- classify ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "headers", "body", "retry_status", "kind", "reason", "after", "split"), [
    # success, as the stores document it
    (200, {}, b"", RETRY_STATUS, DELIVERED, "", None, False),                      # generic, ClickHouse
    (204, {}, b"", RETRY_STATUS, DELIVERED, "", None, False),                      # Loki push
    (202, {}, b"", RETRY_STATUS, DELIVERED, "", None, False),                      # Graylog GELF HTTP
    # too large: split
    (413, {}, b"<html>413 Request Entity Too Large</html>", RETRY_STATUS, REJECTED,
     "http 413: <html>413 Request Entity Too Large</html>", None, True),
    # retriable, with and without Retry-After (either spelling of the header name)
    (503, {}, b"no healthy ingesters", RETRY_STATUS, RETRY, "http_503", None, False),
    (429, {"Retry-After": "2"}, b"rate_limited", RETRY_STATUS, RETRY, "http_429", 2.0, False),
    (429, {"retry-after": "7"}, b"", RETRY_STATUS, RETRY, "http_429", 7.0, False),
    (503, {"Retry-After": "whenever"}, b"", RETRY_STATUS, RETRY, "http_503", None, False),
    (503, {"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, b"", RETRY_STATUS, RETRY, "http_503", 0.0, False),
    (408, {}, b"", RETRY_STATUS, RETRY, "http_408", None, False),
    (500, {}, b"Code: 252. DB::Exception: Too many parts", RETRY_STATUS, RETRY, "http_500", None, False),
    (500, {}, b"internal", OTLP_RETRY_STATUS, REJECTED, "http 500: internal", None, False),
    # credentials: a configuration fault, not the records' — keep them in the buffer
    (401, {}, b"no org id", RETRY_STATUS, RETRY, "http_401", None, False),
    (403, {}, b"", RETRY_STATUS, RETRY, "http_403", None, False),
    # rejected for good, with the status and the start of the body
    (400, {}, b"entry for stream '{app=\"web\"}' has timestamp too old: 2020-01-01T00:00:00Z",
     RETRY_STATUS, REJECTED, "http 400: entry for stream '{app=\"web\"}' has timestamp too old: "
     "2020-01-01T00:00:00Z", None, False),
    (400, {}, b"", RETRY_STATUS, REJECTED, "http 400", None, False),
    (400, {}, b"line one\n\tline two  ", RETRY_STATUS, REJECTED, "http 400: line one line two", None, False),
    (400, {}, b"\xff\xfe\x00bin\x80ary", RETRY_STATUS, REJECTED, "http 400: \ufffd\ufffd\x00bin\ufffdary",
     None, False),                                                                # malformed body
    (404, {}, b"404 page not found", RETRY_STATUS, REJECTED, "http 404: 404 page not found", None, False),
    (302, {"Location": "https://x/"}, b"", RETRY_STATUS, REJECTED, "http 302", None, False),
])
def test_classify(status: int, headers: dict[str, str], body: bytes, retry_status: frozenset[int],
                  kind: OutcomeKind, reason: str, after: float | None, split: bool) -> None:
    outcome = classify(status, headers, body, retry_status)
    assert (outcome.kind, outcome.reason, outcome.after, outcome.split) == (kind, reason, after, split)
    if kind is RETRY and body:
        assert body.decode()[:10] in outcome.detail


def test_classify_keeps_only_an_excerpt_of_a_long_body() -> None:
    outcome = classify(400, {}, b"x" * 100_000, RETRY_STATUS)
    assert outcome.reason.startswith("http 400: xxx")
    assert len(outcome.reason) < 220


def test_classify_credentials_say_so() -> None:
    assert "credentials refused" in classify(401, {}, b"", RETRY_STATUS).detail


# --- encode ------------------------------------------------------------------------------------

RECORDS = (b'{"message":"a"}', b'{"message":"b\\nc"}', '{"message":"é"}'.encode())


def test_encode_none_is_ndjson_with_a_final_newline() -> None:
    body, headers = encode(batch(*RECORDS), "none")
    assert body == b"\n".join(RECORDS) + b"\n"
    assert headers == {"Content-Type": "application/x-ndjson"}


@pytest.mark.parametrize("compression", ["gzip", ZSTD])
def test_encode_compressed_round_trip(compression: str) -> None:
    body, headers = encode(batch(*RECORDS * 1000), compression)
    assert headers == {"Content-Type": "application/x-ndjson", "Content-Encoding": compression}
    assert decode_body(body, compression) == b"\n".join(RECORDS * 1000) + b"\n"
    assert len(body) < 1000  # repetitive lines compress well


def test_encode_gzip_is_standard_gzip() -> None:
    body, _ = encode(batch(*RECORDS), "gzip")
    assert gzip.decompress(body) == b"\n".join(RECORDS) + b"\n"


def test_zstd_without_the_module_is_a_startup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard now raises ImportError
    with pytest.raises(SinkError, match="zstandard") as caught:
        HttpSink(config(compression="zstd"))
    assert not caught.value.retriable
    HttpSink(config(compression="gzip"))  # other compressions do not need it


def test_unknown_compression_is_refused() -> None:
    with pytest.raises(SinkError, match="unknown compression"):
        HttpSink(config(compression="brotli"))


# --- headers -----------------------------------------------------------------------------------


def test_bearer_token_and_extra_headers() -> None:
    headers = request_headers(config(bearer_token="t0k", headers=(("X-Scope-OrgID", "shop"),)))
    assert headers == {"X-Scope-OrgID": "shop", "Authorization": "Bearer t0k"}


def test_basic_auth_built_by_hand() -> None:
    headers = request_headers(config(username="user", password="pa:ss é"))
    assert headers["Authorization"] == "Basic " + base64.b64encode("user:pa:ss é".encode()).decode()
    assert request_headers(config(username="user"))["Authorization"] == "Basic dXNlcjo="  # user:


@pytest.mark.parametrize("changes", [
    {"bearer_token": "t", "username": "u", "password": "p"},
    {"password": "p"},
    {"username": "a:b", "password": "p"},
    {"bearer_token": "t", "headers": (("authorization", "Basic x"),)},
])
def test_contradictory_auth_settings_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(SinkError) as caught:
        request_headers(config(**changes))
    assert not caught.value.retriable


def test_no_auth_no_authorization_header() -> None:
    assert "Authorization" not in request_headers(config())


# --- the client against the fake receiver ------------------------------------------------------


@pytest.fixture
async def receiver():
    async with HttpReceiver() as receiver:
        yield receiver


async def started(sink_config: HttpSinkConfig) -> HttpSink:
    return await running.started(HttpSink(sink_config))


@pytest.mark.parametrize("compression", ["none", "gzip", ZSTD])
async def test_send_delivers(receiver: HttpReceiver, compression: str) -> None:
    sink = await started(config(receiver.url, compression=compression, bearer_token="s3cret",
                                headers=(("X-Tenant", "shop"),)))
    try:
        outcome = await sink.send(batch(*RECORDS))
    finally:
        await sink.aclose()
    assert outcome.kind is DELIVERED
    assert receiver.lines == list(RECORDS)
    sent = receiver.requests[0].headers
    assert sent["Authorization"] == "Bearer s3cret"
    assert sent["X-Tenant"] == "shop"
    assert sent["Content-Type"] == "application/x-ndjson"
    assert sent.get("Content-Encoding", "none") == compression
    assert sent["User-Agent"].startswith("logship/")


async def test_send_large_batch_is_encoded_off_the_loop(receiver: HttpReceiver) -> None:
    records = [b'{"message":"%d"}' % i for i in range(40_000)]  # > 256 KiB
    sink = await started(config(receiver.url))
    try:
        assert (await sink.send(batch(*records))).kind is DELIVERED
    finally:
        await sink.aclose()
    assert receiver.lines == records


async def test_send_classifies_the_answer(receiver: HttpReceiver) -> None:
    receiver.fail(429, headers={"Retry-After": "3"}, body=b"slow down")
    receiver.fail(400, body=b"bad line")
    sink = await started(config(receiver.url))
    try:
        first = await sink.send(batch(b"{}"))
        second = await sink.send(batch(b"{}"))
    finally:
        await sink.aclose()
    assert (first.kind, first.reason, first.after) == (RETRY, "http_429", 3.0)
    assert (second.kind, second.reason) == (REJECTED, "http 400: bad line")


async def test_send_to_a_store_that_is_down_is_a_connect_retry(receiver: HttpReceiver) -> None:
    await receiver.down()
    sink = await started(config(receiver.url))
    try:
        outcome = await sink.send(batch(b"{}"))
    finally:
        await sink.aclose()
    assert (outcome.kind, outcome.reason) == (RETRY, "connect")
    assert outcome.detail


async def test_send_timeout_is_a_timeout_retry(receiver: HttpReceiver) -> None:
    receiver.delay = 0.5
    sink = await started(config(receiver.url, timeout=0.1))
    try:
        outcome = await sink.send(batch(b"{}"))
    finally:
        await sink.aclose()
    assert (outcome.kind, outcome.reason) == (RETRY, "timeout")


async def test_send_before_start_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="start"):
        await HttpSink(config()).send(batch(b"{}"))


async def test_healthcheck_reachable(receiver: HttpReceiver) -> None:
    sink = await started(config(receiver.url))
    try:
        await sink.healthcheck()
    finally:
        await sink.aclose()


async def test_healthcheck_credentials_refused(receiver: HttpReceiver) -> None:
    receiver.require_authorization = "Bearer right"
    sink = await started(config(receiver.url, bearer_token="wrong"))
    try:
        with pytest.raises(SinkError, match="credentials refused") as caught:
            await sink.healthcheck()
        assert not caught.value.retriable
    finally:
        await sink.aclose()


async def test_healthcheck_connection_refused(receiver: HttpReceiver) -> None:
    await receiver.down()
    sink = await started(config(receiver.url))
    try:
        with pytest.raises(SinkError, match="cannot connect") as caught:
            await sink.healthcheck()
        assert caught.value.retriable
    finally:
        await sink.aclose()


# --- TLS ---------------------------------------------------------------------------------------


async def check(sink_config: HttpSinkConfig, send: bool = True) -> None:
    sink = await started(sink_config)
    try:
        await sink.healthcheck()
        if send:
            assert (await sink.send(batch(b'{"tls":true}'))).kind is DELIVERED
    finally:
        await sink.aclose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_tls_with_our_ca(tmp_path: Path, backend: str) -> None:
    ca = CertificateAuthority(tmp_path, backend=require_backend(backend))
    async with HttpReceiver(ssl_context=ca.server_context()) as receiver:
        assert receiver.url.startswith("https://")
        await check(config(receiver.url, tls=TlsConfig(ca_file=str(ca.ca_file))))
        assert receiver.lines == [b'{"tls":true}']


async def test_tls_wrong_ca_fails_the_healthcheck(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "right")
    other = CertificateAuthority(tmp_path / "other", name="other-ca")
    async with HttpReceiver(ssl_context=ca.server_context()) as receiver:
        sink = await started(config(receiver.url, tls=TlsConfig(ca_file=str(other.ca_file))))
        try:
            with pytest.raises(SinkError, match="certificate") as caught:
                await sink.healthcheck()
            assert "TLS: certificate verify failed" in str(caught.value)
            assert not caught.value.retriable
            outcome = await sink.send(batch(b"{}"))
            assert (outcome.kind, outcome.reason) == (RETRY, "tls")
            assert "certificate verify failed" in outcome.detail
        finally:
            await sink.aclose()
        assert receiver.lines == []


async def test_tls_insecure_skips_verification_and_says_so(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    ca = CertificateAuthority(tmp_path)
    async with HttpReceiver(ssl_context=ca.server_context()) as receiver:
        with caplog.at_level(logging.WARNING, logger="logship.sinks.tls"):
            await check(config(receiver.url, tls=TlsConfig(insecure=True)))
    warnings = [r for r in caplog.records if r.name == "logship.sinks.tls" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "verification is off" in warnings[0].getMessage()


async def test_mutual_tls(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    client = ca.issue("logship", server=False)
    async with HttpReceiver(ssl_context=ca.server_context(client_ca=ca)) as receiver:
        with_cert = TlsConfig(ca_file=str(ca.ca_file), cert_file=str(client.cert_file),
                              key_file=str(client.key_file))
        await check(config(receiver.url, tls=with_cert))
        # Without a client certificate the handshake, or the first request, fails.
        sink = await started(config(receiver.url, tls=TlsConfig(ca_file=str(ca.ca_file))))
        try:
            outcome = await sink.send(batch(b"{}"))
        finally:
            await sink.aclose()
        assert outcome.kind is RETRY
        assert receiver.lines == [b'{"tls":true}']


def test_ssl_context_forms(tmp_path: Path) -> None:
    assert ssl_context(TlsConfig()) is True
    assert ssl_context(TlsConfig(insecure=True)) is False
    ca = CertificateAuthority(tmp_path)
    client = ca.issue("logship", server=False)
    context = ssl_context(TlsConfig(ca_file=str(ca.ca_file)))
    assert isinstance(context, ssl.SSLContext) and context.verify_mode is ssl.CERT_REQUIRED
    insecure = ssl_context(TlsConfig(cert_file=str(client.cert_file), key_file=str(client.key_file),
                                     insecure=True))
    assert isinstance(insecure, ssl.SSLContext) and insecure.verify_mode is ssl.CERT_NONE


def test_ssl_context_bad_file_is_a_clear_error(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(SinkError, match="cannot load TLS files") as caught:
        ssl_context(TlsConfig(ca_file=str(garbage)), sink="http")
    assert not caught.value.retriable


async def test_the_receiver_runs_as_a_process(tmp_path: Path) -> None:
    out = tmp_path / "received.ndjson"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.http_receiver", "--port", "0", "--out", str(out),
        "--fail", "503", "--retry-after", "1", cwd=REPO,
        stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert line.startswith("listening on http://127.0.0.1:"), line
        sink = await started(config(line.split()[-1] + "ingest"))
        try:
            first = await sink.send(batch(*RECORDS))
            second = await sink.send(batch(*RECORDS))
        finally:
            await sink.aclose()
        assert (first.kind, first.after, second.kind) == (RETRY, 1.0, DELIVERED)
        assert out.read_bytes() == b"\n".join(RECORDS) + b"\n"
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_parsed_records_arrive_as_their_own_bytes(receiver: HttpReceiver) -> None:
    """The level and attributes are in the NDJSON record as parsing wrote them (RECORD.md)."""
    sent = parsed_batch()
    sink = await started(config(receiver.url, compression="gzip"))
    try:
        assert (await sink.send(sent)).kind is DELIVERED
    finally:
        await sink.aclose()
    assert receiver.lines == sent.records
    assert [orjson.loads(line).get("log") for line in receiver.lines] == [
        {"level": "error"}, {"level": "warn"}, {"level": "error", "lines": 3}, None]
