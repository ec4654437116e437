"""The syslog sink: the RFC 5424 message and its framing, and the real client against a real rsyslog
(plain TCP and RFC 5425 TLS listeners in one process, started for the session) and a local UDP socket."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import re
import socket
import subprocess
import time
import uuid
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import orjson
import pytest

from logship.config import BatchConfig, TlsConfig
from logship.record import cut_utf8
from logship.ship.outcome import OutcomeKind
from logship.sinks.base import Batch, SinkError
from logship.sinks.syslog import encode as syslog_encode
from logship.sinks.syslog.encode import (
    encode,
    encode_datagrams,
    encode_messages,
    header_field,
    sd_name,
    sd_value,
    syslog_timestamp,
)
from logship.sinks.syslog.sink import SyslogSink
from logship.sinks.syslog.spec import SYSLOG_FACILITIES, SyslogSinkConfig
from tests.fakes.certs import CertificateAuthority
from tests.servers.common import free_port
from tests.servers.rsyslog import RsyslogServer, rsyslog_server  # noqa: F401
from tests.sinks import running
from tests.sinks.records import CONTAINER_ID, METADATA, decoded, parsed, records, sample_batch
from tests.support import DockerHarness, check_report, report_line

DELIVERED, RETRY = OutcomeKind.DELIVERED, OutcomeKind.RETRY
DAEMON = SYSLOG_FACILITIES.index("daemon")
SD_DOCKER = ('[docker@32473 container_id="' + CONTAINER_ID + '" container_name="shop_web.1.atuvfibd6g47" '
             'image="nginx:1.27" service="web" service_namespace="shop" compose_project="shop" compose_service="web" '
             'swarm_service="shop_web" swarm_service_id="hot4rfp8id5g" swarm_task="shop_web.1.atuvfibd6g47" '
             'swarm_task_id="atuvfibd6g47" swarm_task_slot="1" node_id="zacqlko8qhngr3lo9tjnswjdz"]')
SD = SD_DOCKER + '[label@32473 tier="front" team="shop"]'
MULTI_LINE = 'multi\nline "quoted" \\ ] é 日本 \U0001F600'


def config(transport: str = "tcp", host: str = "127.0.0.1", port: int = 9, **changes: Any) -> SyslogSinkConfig:
    base = SyslogSinkConfig(transport=transport, host=host, port=port, facility=DAEMON, max_message_bytes=8000,
                            concurrency=1, timeout=5.0, retry_status=frozenset(), tls=TlsConfig(),
                            batch=BatchConfig(1000, 1024**2, 1.0))
    return dataclasses.replace(base, **changes)


def batch(recs: list[bytes]) -> Batch:
    return Batch(recs, sum(map(len, recs)))


def with_host(host: str, lines: list[tuple[str, str, str]], **changes: Any) -> list[bytes]:
    """Records of ``lines`` whose host.name is ``host`` (how a test finds its own messages in rsyslog)."""
    metadata = copy.deepcopy(METADATA)
    metadata["host"]["name"] = host
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = metadata
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return records(lines, metadata)


SAMPLE_LINES = [
    ("stdout", "2026-11-25T16:32:42.123456789Z", "GET /health 200\n"),
    ("stdout", "2026-11-25T16:32:42.123456790Z", MULTI_LINE + "\n"),
    ("stderr", "2026-11-25T16:32:43.000000001Z", "error: boom\n"),
]


# --- the message ----------------------------------------------------------------------------------


def test_sample_batch_messages() -> None:
    first, second, third = encode_messages(sample_batch(), DAEMON, 8000)
    assert first == f"<30>1 2026-11-25T16:32:42.123456Z node-3 web 6ca500000000 stdout {SD} GET /health 200".encode()
    assert second == f"<30>1 2026-11-25T16:32:42.123456Z node-3 web 6ca500000000 stdout {SD} {MULTI_LINE}".encode()
    assert third == f"<27>1 2026-11-25T16:32:43.000000Z node-3 web 6ca500000000 stderr {SD} error: boom".encode()
    assert not any(b"\xef\xbb\xbf" in message for message in (first, second, third))  # no BOM


@pytest.mark.parametrize(("facility", "stream", "pri"), [
    ("daemon", "stdout", 30), ("daemon", "stderr", 27), ("kern", "stdout", 6), ("kern", "stderr", 3),
    ("user", "stdout", 14), ("local0", "stderr", 131), ("local7", "stdout", 190), ("local7", "stderr", 187),
])
def test_pri_is_facility_times_8_plus_severity(facility: str, stream: str, pri: int) -> None:
    recs = records([(stream, "2026-11-25T16:32:42.123456789Z", "x\n")])
    (message,) = encode_messages(batch(recs), SYSLOG_FACILITIES.index(facility), 8000)
    assert message.startswith(b"<%d>1 " % pri)


@pytest.mark.parametrize(("value", "limit", "sanitise", "expected"), [
    ("node-3", 255, False, "node-3"),
    ("node 3", 255, False, "-"),
    ("nöde", 255, False, "-"),
    ("x" * 256, 255, False, "-"),
    ("", 255, False, "-"),
    (None, 255, False, "-"),
    ("my service é", 48, True, "my_service__"),
    ("s" * 60, 48, True, "s" * 48),
    ("tab\there", 48, True, "tab_here"),
])
def test_header_fields(value: Any, limit: int, sanitise: bool, expected: str) -> None:
    assert header_field(value, limit, sanitise) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-25T16:32:42.123456789Z", "2026-11-25T16:32:42.123456Z"),
    ("2026-11-25T16:32:42.999999999Z", "2026-11-25T16:32:42.999999Z"),   # truncated, never rounded
    ("2026-11-25T16:32:42Z", "2026-11-25T16:32:42Z"),
    ("2026-11-25T16:32:42.5+01:00", "2026-11-25T16:32:42.5+01:00"),
    ("2026-11-25T16:32:42.1234567-05:30", "2026-11-25T16:32:42.123456-05:30"),
    ("25/Nov/2026:16:32:42", "-"),
    (None, "-"),
])
def test_timestamps_have_at_most_6_fraction_digits(value: Any, expected: str) -> None:
    assert syslog_timestamp(value) == expected


def test_sd_escaping_and_names() -> None:
    assert sd_value('q"uo]te\\') == 'q\\"uo\\]te\\\\'
    assert sd_value(1) == "1" and sd_value(True) == "true"
    assert sd_name("com.docker.compose.config-hash") == "com.docker.compose.config-hash"
    assert sd_name('a b=c]d"e') == "a_b_c_d_e"
    assert sd_name("é") == "_" and sd_name("") == "_"
    assert sd_name("x" * 40) == "x" * 32


def test_labels_and_other_fields_become_their_own_elements() -> None:
    record = decoded(sample_batch())[0]
    record["container"]["labels"] = {"com.example/owner name": 'q"uo]te\\', "x" * 40: "long"}
    record["partial"] = {"ordinal": 1, "last": False}
    (message,) = encode_messages(batch([orjson.dumps(record)]), DAEMON, 8000)
    assert (f'[label@32473 tier="front" com.example/owner_name="q\\"uo\\]te\\\\" {"x" * 32}="long"]'
            '[fields@32473 partial.ordinal="1" partial.last="false"] GET /health 200').encode() in message


@pytest.mark.parametrize("limit", [480, 600, 2048, 8000])
def test_long_messages_are_cut_at_a_character_boundary(limit: int) -> None:
    text = "é日本\U0001F600" * 3000  # 2-, 3- and 4-byte characters
    (message,) = encode_messages(batch(records([("stdout", "2026-11-25T16:32:42.123456789Z", text + "\n")])),
                                 DAEMON, limit)
    assert limit - 4 < len(message) <= limit
    decoded_text = message.decode()  # valid UTF-8: no character was split
    assert decoded_text.endswith(("é", "日", "本", "\U0001F600"))


def test_when_the_header_alone_is_too_long_the_structured_data_goes_first() -> None:
    long_labels = {f"label{i}": "v" * 40 for i in range(20)}
    recs = with_host("node-3", [("stdout", "2026-11-25T16:32:42.123456789Z", "the message\n")],
                     container__labels=long_labels)
    (fits,) = encode_messages(batch(recs), DAEMON, 8000)
    assert b"[label@32473" in fits
    (untagged,) = encode_messages(batch(recs), DAEMON, 600)
    assert b"[label@32473" not in untagged and SD_DOCKER.encode() in untagged
    assert untagged.endswith(b"] the message")
    (bare,) = encode_messages(batch(recs), DAEMON, 200)
    assert bare == b"<30>1 2026-11-25T16:32:42.123456Z node-3 web 6ca500000000 stdout - the message"


def test_cut_utf8() -> None:
    assert cut_utf8("aé".encode(), 2) == b"a"
    assert cut_utf8("aé".encode(), 3) == "aé".encode()
    assert cut_utf8(b"abc", 0) == b""
    assert cut_utf8("\U0001F600".encode(), 3) == b""


def test_octet_counting_frames() -> None:
    data = encode(sample_batch(), config())
    messages, position = [], 0
    while position < len(data):
        space = data.index(b" ", position)
        length = int(data[position:space])
        messages.append(data[space + 1:space + 1 + length])
        position = space + 1 + length
    assert messages == encode_messages(sample_batch(), DAEMON, 8000)
    assert data.startswith(b"%d <30>1 " % len(messages[0]))


def test_odd_records_still_make_messages() -> None:
    recs = [b'{"message":"no metadata"}', b"not json", b"[1]", b'{"timestamp":"2026-11-25T16:32:42Z","message":7}']
    assert encode_messages(batch(recs), DAEMON, 8000) == [
        b"<30>1 - - - - - - no metadata", b"<30>1 - - - - - - not json", b"<30>1 - - - - - - [1]",
        b"<30>1 2026-11-25T16:32:42Z - - - - - 7"]


def test_fast_path_equals_the_general_path() -> None:
    cut = records([("stdout", "2026-11-25T16:32:44.000000000Z", "x" * 300 + "\n")])
    recs = [*sample_batch().records, *cut]
    general = []
    for record in recs:
        value = orjson.loads(record)
        timestamp, text = syslog_timestamp(value["timestamp"]), value["message"].encode()
        general.append(syslog_encode._message(syslog_encode._Parts(value, DAEMON), timestamp, text, 8000))
    assert encode_messages(batch(recs), DAEMON, 8000) == general


def test_encode_20000_records_well_under_200ms() -> None:
    lines = [("stdout" if i % 3 else "stderr", f"2026-11-25T16:{i // 6000 % 60:02d}:{i // 100 % 60:02d}.{i:09d}Z",
              f"GET /item/{i} \"quoted\" HTTP/1.1 200 {'é' * (i % 200)}\n") for i in range(20_000)]
    big = batch(records(lines))
    assert len(big.records) == 20_000
    best = 1e9
    for _ in range(3):
        started = time.perf_counter()
        encode(big, config())
        best = min(best, time.perf_counter() - started)
    assert best < 0.2, f"encode took {best * 1000:.0f} ms"


# --- against rsyslog --------------------------------------------------------------------------------


def started(sink_config: SyslogSinkConfig) -> AbstractAsyncContextManager[SyslogSink]:
    return running.running(SyslogSink(sink_config))


def server_config(server: RsyslogServer, transport: str, **changes: Any) -> SyslogSinkConfig:
    if transport == "tls":
        return config("tls", port=server.tls_port, tls=TlsConfig(ca_file=str(server.ca_file)), **changes)
    return config("tcp", port=server.tcp_port, **changes)


def sd_params(structured_data: str) -> dict[str, str]:
    """The parameters of rsyslog's structured-data text, unescaped (later elements win)."""
    return {name: re.sub(r'\\(["\\\]])', r"\1", value)
            for name, value in re.findall(r' ([^ =\]"]+)="((?:[^"\\]|\\.)*)"', structured_data)}


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_every_field_arrives(rsyslog_server: RsyslogServer, transport: str) -> None:  # noqa: F811
    host = f"h-{uuid.uuid4().hex[:8]}"
    sent = batch(with_host(host, SAMPLE_LINES))
    async with started(server_config(rsyslog_server, transport)) as sink:
        await sink.healthcheck()
        assert (await sink.send(sent)).kind is DELIVERED
    got = rsyslog_server.wait_for(lambda m: m["hostname"] == host, 3)
    assert len(got) == 3
    assert [m["msg"] for m in got] == ["GET /health 200", MULTI_LINE, "error: boom"]  # whole, newline and all
    assert [m["pri"] for m in got] == ["30", "30", "27"]
    assert [m["timestamp"] for m in got] == ["2026-11-25T16:32:42.123456Z", "2026-11-25T16:32:42.123456Z",
                                             "2026-11-25T16:32:43.000000Z"]
    assert [m["msgid"] for m in got] == ["stdout", "stdout", "stderr"]
    for message in got:
        assert (message["version"], message["app_name"], message["procid"], message["input"]) == (
            "1", "web", CONTAINER_ID[:12], transport)
        assert message["structured_data"] == SD
    assert [m["raw"].encode() for m in got] == encode_messages(sent, DAEMON, 8000)
    assert sd_params(got[0]["structured_data"]) == {
        "container_id": CONTAINER_ID, "container_name": "shop_web.1.atuvfibd6g47", "image": "nginx:1.27",
        "service": "web", "service_namespace": "shop", "compose_project": "shop", "compose_service": "web",
        "swarm_service": "shop_web", "swarm_service_id": "hot4rfp8id5g", "swarm_task": "shop_web.1.atuvfibd6g47",
        "swarm_task_id": "atuvfibd6g47", "swarm_task_slot": "1", "node_id": "zacqlko8qhngr3lo9tjnswjdz",
        "tier": "front", "team": "shop"}


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_sd_escaping_survives(rsyslog_server: RsyslogServer, transport: str) -> None:  # noqa: F811
    host = f"h-{uuid.uuid4().hex[:8]}"
    tricky = 'q"uo]te\\ [x] a\\"b'
    recs = with_host(host, [("stdout", "2026-11-25T16:32:42.123456789Z", "escaped\n")],
                     container__labels={"note": tricky}, container__name='web"]\\1')
    async with started(server_config(rsyslog_server, transport)) as sink:
        assert (await sink.send(batch(recs))).kind is DELIVERED
    (message,) = rsyslog_server.wait_for(lambda m: m["hostname"] == host, 1)
    params = sd_params(message["structured_data"])
    assert (params["note"], params["container_name"]) == (tricky, 'web"]\\1')
    assert message["msg"] == "escaped"


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_a_long_message_arrives_cut_and_the_next_one_whole(rsyslog_server: RsyslogServer,  # noqa: F811
                                                                 transport: str) -> None:
    host = f"h-{uuid.uuid4().hex[:8]}"
    long_text = "start " + "é日本" * 5000 + " end"  # 40 kB, over rsyslog's 8k maxMessageSize
    recs = with_host(host, [("stdout", "2026-11-25T16:32:42.000000001Z", long_text + "\n"),
                            ("stdout", "2026-11-25T16:32:42.000000002Z", "the next one\nwith two lines\n"),
                            ("stderr", "2026-11-25T16:32:42.000000003Z", "and a third\n")])
    async with started(server_config(rsyslog_server, transport)) as sink:
        assert (await sink.send(batch(recs))).kind is DELIVERED
    got = rsyslog_server.wait_for(lambda m: m["hostname"] == host, 3)
    assert len(got) == 3
    cut = got[0]["raw"].encode()
    assert 7990 < len(cut) <= 8000
    assert got[0]["msg"].startswith("start é日本") and long_text.startswith(got[0]["msg"])
    assert [m["msg"] for m in got[1:]] == ["the next one\nwith two lines", "and a third"]
    assert [m["pri"] for m in got] == ["30", "30", "27"]


async def test_many_batches_keep_their_order(rsyslog_server: RsyslogServer) -> None:  # noqa: F811
    host = f"h-{uuid.uuid4().hex[:8]}"
    lines = [("stdout", f"2026-11-25T16:32:{i // 1000:02d}.{i:09d}Z", f"line {i}\n") for i in range(3000)]
    recs = with_host(host, lines)
    async with started(server_config(rsyslog_server, "tcp")) as sink:
        for start in range(0, 3000, 1000):
            assert (await sink.send(batch(recs[start:start + 1000]))).kind is DELIVERED
    got = rsyslog_server.wait_for(lambda m: m["hostname"] == host, 3000, timeout=30)
    assert [m["msg"] for m in got] == [f"line {i}" for i in range(3000)]


async def test_tls_with_the_wrong_ca(rsyslog_server: RsyslogServer, tmp_path: Path) -> None:  # noqa: F811
    other = CertificateAuthority(tmp_path, name="other-ca")
    wrong = config("tls", port=rsyslog_server.tls_port, tls=TlsConfig(ca_file=str(other.ca_file)))
    async with started(wrong) as sink:
        with pytest.raises(SinkError, match="certificate verify failed") as caught:
            await sink.healthcheck()
        assert not caught.value.retriable
        outcome = await sink.send(sample_batch())
        assert (outcome.kind, outcome.reason) == (RETRY, "tls")
        assert "certificate verify failed" in outcome.detail


async def test_tls_by_host_name(rsyslog_server: RsyslogServer) -> None:  # noqa: F811
    host = f"h-{uuid.uuid4().hex[:8]}"
    by_name = server_config(rsyslog_server, "tls", host="localhost")
    async with started(by_name) as sink:
        await sink.healthcheck()
        assert (await sink.send(batch(with_host(host, SAMPLE_LINES[:1])))).kind is DELIVERED
    rsyslog_server.wait_for(lambda m: m["hostname"] == host, 1)


async def test_healthcheck_refused_and_timeout() -> None:
    async with started(config(port=free_port())) as sink:
        with pytest.raises(SinkError, match="connection refused") as caught:
            await sink.healthcheck()
        assert caught.value.retriable
        outcome = await sink.send(sample_batch())
        assert (outcome.kind, outcome.reason) == (RETRY, "connect")
    # A listener that never completes the TLS handshake: the handshake times out.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        async with started(config("tls", port=silent.getsockname()[1], timeout=0.5)) as sink:
            with pytest.raises(SinkError, match=r"no answer within 0\.5s"):
                await sink.healthcheck()
    finally:
        silent.close()


# --- connection handling, with a local listener ------------------------------------------------------


class Listener:
    """A TCP server that keeps what each connection sent; ``drop()`` closes the open connections."""

    def __init__(self) -> None:
        self.received: list[bytearray] = []
        self._writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Listener:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.drop()
        assert self.server is not None
        self.server.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = bytearray()
        self.received.append(data)
        self._writers.append(writer)
        while chunk := await reader.read(65536):
            data += chunk

    def drop(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()


async def until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_one_connection_reopened_after_the_receiver_closed_it() -> None:
    data = encode(sample_batch(), config())
    async with Listener() as listener, started(config(port=listener.port)) as sink:
        assert (await sink.send(sample_batch())).kind is DELIVERED
        assert (await sink.send(sample_batch())).kind is DELIVERED
        await until(lambda: len(listener.received) == 1 and len(listener.received[0]) == 2 * len(data))
        listener.drop()  # the receiver restarts: the sink sees the connection end
        await until(lambda: sink._reader is not None and sink._reader.at_eof())
        assert (await sink.send(sample_batch())).kind is DELIVERED
        await until(lambda: len(listener.received) == 2 and len(listener.received[1]) == len(data))
    assert bytes(listener.received[0]) == data * 2  # both batches on one connection
    assert bytes(listener.received[1]) == data


async def test_a_write_that_does_not_drain_is_a_timeout_retry() -> None:
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.bind(("127.0.0.1", 0))
    stuck.listen()  # accepts (the kernel does) but never reads
    try:
        big = batch(records([("stdout", f"2026-11-25T16:32:42.{i:09d}Z", "x" * 7000 + "\n") for i in range(3000)]))
        async with started(config(port=stuck.getsockname()[1], timeout=0.5)) as sink:
            outcome = await sink.send(big)
        assert (outcome.kind, outcome.reason) == (RETRY, "timeout")
    finally:
        stuck.close()


# --- UDP ------------------------------------------------------------------------------------------


async def test_udp_sends_one_datagram_per_message(caplog: pytest.LogCaptureFixture) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    try:
        udp = config("udp", port=receiver.getsockname()[1], max_message_bytes=1000)
        recs = with_host("node-3", [*SAMPLE_LINES, ("stdout", "2026-11-25T16:32:44.000000000Z", "y" * 5000 + "\n")])
        with caplog.at_level(logging.WARNING, logger="logship.sinks.syslog"):
            async with started(udp) as sink:
                await sink.healthcheck()
                assert (await sink.send(batch(recs))).kind is DELIVERED
        datagrams = [receiver.recv(70000) for _ in range(4)]
    finally:
        receiver.close()
    assert datagrams == encode_datagrams(batch(recs), udp)
    assert datagrams[1].decode().endswith(MULTI_LINE)  # no framing: the message alone, newline and all
    assert datagrams[0].startswith(b"<30>1 ") and len(datagrams[3]) == 1000
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "UDP" in r.getMessage()]
    assert len(warnings) == 1 and "lost" in warnings[0].getMessage()


def test_udp_datagrams_are_at_most_65507_bytes() -> None:
    recs = records([("stdout", "2026-11-25T16:32:42.000000000Z", "z" * 100_000 + "\n")])
    (datagram,) = encode_datagrams(batch(recs), config("udp", max_message_bytes=1024**2))
    assert len(datagram) == 65507


# --- logship check --------------------------------------------------------------------------------


def run_check(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    return check_report(tmp_path, {"LOGSHIP_SINK": "syslog", **variables})


def sink_line(result: subprocess.CompletedProcess[str]) -> str:
    return report_line(result.stdout, "sink syslog")


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_check_succeeds(rsyslog_server: RsyslogServer, docker_harness: DockerHarness, tmp_path: Path,  # noqa: F811
                        transport: str) -> None:
    port = rsyslog_server.tls_port if transport == "tls" else rsyslog_server.tcp_port
    variables = {"LOGSHIP_SYSLOG_ADDRESS": f"{transport}://localhost:{port}"}
    if transport == "tls":
        variables["LOGSHIP_SYSLOG_TLS_CA_FILE"] = str(rsyslog_server.ca_file)
    result = run_check(tmp_path, **variables)
    assert result.returncode == 0, result.stdout
    assert sink_line(result).startswith("ok   sink syslog")


def test_check_wrong_port(tmp_path: Path) -> None:
    result = run_check(tmp_path, LOGSHIP_SYSLOG_ADDRESS=f"tcp://127.0.0.1:{free_port()}")
    assert result.returncode == 1, result.stdout
    assert sink_line(result).startswith("FAIL sink syslog:") and "connection refused" in sink_line(result)


def test_check_wrong_ca(rsyslog_server: RsyslogServer, tmp_path: Path) -> None:  # noqa: F811
    other = CertificateAuthority(tmp_path / "ca", name="other-ca")
    result = run_check(tmp_path, LOGSHIP_SYSLOG_ADDRESS=f"tls://127.0.0.1:{rsyslog_server.tls_port}",
                       LOGSHIP_SYSLOG_TLS_CA_FILE=str(other.ca_file))
    assert result.returncode == 1, result.stdout
    line = sink_line(result)
    assert line.startswith("FAIL sink syslog:") and "certificate verify failed" in line


# --- the parsed fields (RECORD.md): level and attributes ------------------------------------------


def parsed_records(host: str) -> list[bytes]:
    """``parsed_batch``'s four records with ``host`` as host.name."""
    plain = with_host(host, [
        ("stdout", "2026-11-25T16:32:42.123456789Z", "db down\n"),
        ("stdout", "2026-11-25T16:32:42.123456790Z", "WARN cache cold\n"),
        ("stderr", "2026-11-25T16:32:43.000000001Z", "Traceback (most recent call last):\nValueError: boom\n"),
        ("stdout", "2026-11-25T16:32:44.000000001Z", "checkout done\n")])
    return [parsed(plain[0], level="error", attributes={"user": 42, "db": {"host": "pg-1"}, "tags": ["a", "b"]}),
            parsed(plain[1], level="warn"), parsed(plain[2], level="error", lines=2),
            parsed(plain[3], attributes={"order": "A-17"})]


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_level_is_the_severity_and_attributes_an_element(rsyslog_server: RsyslogServer,  # noqa: F811
                                                               transport: str) -> None:
    host = f"h-{uuid.uuid4().hex[:8]}"
    async with started(server_config(rsyslog_server, transport)) as sink:
        assert (await sink.send(batch(parsed_records(host)))).kind is DELIVERED
    got = rsyslog_server.wait_for(lambda m: m["hostname"] == host, 4)
    assert [m["pri"] for m in got] == ["27", "28", "27", "30"]  # daemon: error 3, warn 4, error 3, stdout 6
    assert [m["msg"] for m in got] == ["db down", "WARN cache cold",
                                       "Traceback (most recent call last):\nValueError: boom", "checkout done"]
    assert [m["structured_data"].removeprefix(SD) for m in got] == [
        '[log@32473 level="error"][attributes@32473 user="42" db.host="pg-1" tags="[\\"a\\",\\"b\\"\\]"]',
        '[log@32473 level="warn"]',
        '[log@32473 level="error" lines="2"]',
        '[attributes@32473 order="A-17"]',
    ]
    assert sd_params(got[0]["structured_data"])["tags"] == '["a","b"]'


def test_every_level_sets_the_severity() -> None:
    [base] = records([("stdout", "2026-11-25T16:32:42.000000001Z", "x\n")])
    recs = [parsed(base, level=level) for level in ("trace", "debug", "info", "warn", "error", "fatal")]
    assert [message.split(b">")[0] for message in encode_messages(batch(recs), DAEMON, 8000)] == [
        b"<31", b"<31", b"<30", b"<28", b"<27", b"<26"]


def test_the_line_s_elements_go_first_when_the_message_is_too_long() -> None:
    [base] = records([("stdout", "2026-11-25T16:32:42.000000001Z", "x\n")])
    record = parsed(base, level="error", attributes={"big": "v" * 500})
    [message] = encode_messages(batch([record]), DAEMON, 800)
    assert message.startswith(b"<27>1 ") and b"attributes@" not in message and b"docker@32473" in message
