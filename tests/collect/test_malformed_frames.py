"""Malformed logs streams: the real agent against a fake dockerd keeps every line it can and counts the rest.

Each case runs ``logship.agent.Agent`` in-process against ``tests.fakes.fake_engine.FakeEngine``, which
serves a scripted logs body, and checks the NDJSON the file sink wrote, the metric
``logship_frames_malformed_total{reason}`` (or the one named), a WARNING naming the reason, and that the
tailer did not crash (no ``tailer_errors{reason="crash"}``, no ERROR log, it is still supervised).
Frames follow ``../shared/reference/engine-api.md`` §1: ``[stream u8][0 0 0][length u32 BE]`` then
``<RFC3339Nano> <message>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from logship.agent import Agent
from logship.config import load
from tests.fakes.fake_engine import FakeContainer, FakeEngine

STDOUT = 1
STDERR = 2
WAIT_SECONDS = 10.0
# How long a tailer gets to do something it must not do (request the logs again, count again).
SETTLE_SECONDS = 1.0


def timestamp(index: int) -> bytes:
    """Increasing Docker timestamps (9 fractional digits, ``Z``), one millisecond apart."""
    return b"2026-11-25T16:37:09.%09dZ" % (305268574 + index * 1_000_000)


def frame(stream: int, message: bytes, index: int) -> bytes:
    """One multiplexed frame with a timestamped payload, as dockerd sends it with ``timestamps=1``."""
    payload = timestamp(index) + b" " + message
    return struct.pack(">BxxxL", stream, len(payload)) + payload


def raw_frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


# --- harness -------------------------------------------------------------------------------------


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[FakeEngine]:
    async with FakeEngine(tmp_path / "docker.sock") as fake:
        yield fake


class Running:
    """An agent running in this event loop, and where its file sink writes."""

    def __init__(self, agent: Agent, task: asyncio.Task[None], output: Path) -> None:
        self.agent = agent
        self.task = task
        self.output = output

    def records(self) -> list[dict[str, Any]]:
        if not self.output.exists():
            return []
        return [orjson.loads(line) for line in self.output.read_bytes().splitlines() if line.strip()]

    def messages(self, container: FakeContainer) -> list[str]:
        return [r["message"] for r in self.records() if r["container"]["id"] == container.id]

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.agent.metrics.registry.get_sample_value(name, labels or {}) or 0.0

    def malformed(self, reason: str) -> float:
        return self.metric("logship_frames_malformed_total", {"reason": reason})

    async def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
        """Poll ``predicate`` until it is truthy; fail (with the agent's own failure, if any) after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            if self.task.done():
                self.task.result()  # raises what stopped the agent
                raise AssertionError(f"the agent stopped while waiting for {what}")
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; output: {self.records()}")
            await asyncio.sleep(0.05)

    async def wait_for_messages(self, container: FakeContainer, count: int) -> list[str]:
        return await self.wait_for(lambda: len(self.messages(container)) >= count and self.messages(container),
                                   f"{count} records of {container.name}")

    def assert_not_crashed(self, container: FakeContainer, caplog: pytest.LogCaptureFixture) -> None:
        assert self.metric("logship_tailer_errors_total", {"reason": "crash"}) == 0
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == []
        assert not self.task.done()
        supervisor = self.agent.supervisor
        assert supervisor is not None and container.id in supervisor.tailers


@contextlib.asynccontextmanager
async def running_agent(engine: FakeEngine, tmp_path: Path) -> AsyncIterator[Running]:
    output = tmp_path / "out" / "records.ndjson"
    config = load({
        "DOCKER_HOST": engine.docker_host,
        "LOGSHIP_DATA_DIR": str(tmp_path / "data"),
        "LOGSHIP_SINK": "file",
        "LOGSHIP_FILE_PATH": str(output),
        "LOGSHIP_BUFFER_FSYNC_INTERVAL": "100ms",
        "LOGSHIP_BATCH_MAX_WAIT": "100ms",
        "LOGSHIP_LISTEN": "127.0.0.1:0",
        "LOGSHIP_SHUTDOWN_TIMEOUT": "5s",
    })
    agent = Agent(config)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        yield Running(agent, task, output)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


def warnings_naming(caplog: pytest.LogCaptureFixture, *words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and all(word in r.getMessage() for word in words)]


@pytest.fixture(autouse=True)
def _capture_logship_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="logship")


# --- cases ---------------------------------------------------------------------------------------


async def test_unknown_stream_type_is_skipped_and_counted(
        engine: FakeEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    unknown = raw_frame(3, timestamp(1) + b" on stream three\n")
    assert unknown[1:4] == b"\0\0\0"  # zero padding: only the stream byte is wrong
    body = frame(STDOUT, b"before\n", 0) + unknown + frame(STDOUT, b"after\n", 2)
    container = engine.add_container("unknown-stream", running=False, logs=body)

    async with running_agent(engine, tmp_path) as agent:
        assert await agent.wait_for_messages(container, 2) == ["before", "after"]
        await agent.wait_for(lambda: agent.malformed("unknown_stream") == 1, "unknown_stream counted")
        agent.assert_not_crashed(container, caplog)
        assert warnings_naming(caplog, "unknown_stream", container.id[:12])
        assert {r["stream"] for r in agent.records()} == {"stdout"}


async def test_body_ending_in_a_truncated_header(
        engine: FakeEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    body = frame(STDOUT, b"one\n", 0) + frame(STDERR, b"two\n", 1) + frame(STDOUT, b"three\n", 2)
    body += struct.pack(">BxxxL", STDOUT, 40)[:5]  # the body ends 5 bytes into a header
    container = engine.add_container("truncated-header", running=False, logs=body)

    async with running_agent(engine, tmp_path) as agent:
        assert sorted(await agent.wait_for_messages(container, 3)) == ["one", "three", "two"]
        await agent.wait_for(lambda: agent.malformed("truncated_header") == 1, "truncated_header counted")
        await asyncio.sleep(SETTLE_SECONDS)
        # Stopped container: read once without follow, then wait for a start event.
        requests = engine.requests_for(container.id)
        assert len(requests) == 1
        assert not requests[0].follow and requests[0].timestamps
        assert agent.malformed("truncated_header") == 1
        assert agent.malformed("truncated_frame") == 0
        assert len(agent.messages(container)) == 3
        agent.assert_not_crashed(container, caplog)
        assert agent.agent.supervisor is not None
        assert agent.agent.supervisor.tailers[container.id].state == "stopped"
        assert warnings_naming(caplog, "truncated_header")


async def test_frame_cut_mid_way(engine: FakeEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    body = frame(STDOUT, b"first\n", 0) + frame(STDOUT, b"second\n", 1)
    body += struct.pack(">BxxxL", STDOUT, 100) + (timestamp(2) + b" cut off after 20")[:20]
    container = engine.add_container("truncated-frame", running=False, logs=body)

    async with running_agent(engine, tmp_path) as agent:
        assert await agent.wait_for_messages(container, 2) == ["first", "second"]
        await agent.wait_for(lambda: agent.malformed("truncated_frame") == 1, "truncated_frame counted")
        await asyncio.sleep(SETTLE_SECONDS)
        assert len(engine.requests_for(container.id)) == 1
        assert agent.malformed("truncated_header") == 0
        assert agent.messages(container) == ["first", "second"]
        agent.assert_not_crashed(container, caplog)
        assert warnings_naming(caplog, "truncated_frame")


async def test_garbage_header_reconnects_from_the_checkpoint(
        engine: FakeEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = frame(STDOUT, b"one\n", 0) + frame(STDOUT, b"two\n", 1)
    garbage = b"\x01\xff\x7f\x00\x00\x00\x00\x05hello"  # non-zero padding: framing is lost here
    first = good + garbage + frame(STDOUT, b"never parsed\n", 2)
    # What dockerd sends on the reconnect: since is inclusive and logship resumes 1 s early, so the
    # replay starts with the lines already delivered.
    second = good + frame(STDOUT, b"three\n", 3) + frame(STDOUT, b"four\n", 4)
    container = engine.add_container("bad-header", running=True)
    engine.set_logs(container.id, first, second)

    async with running_agent(engine, tmp_path) as agent:
        assert await agent.wait_for_messages(container, 4) == ["one", "two", "three", "four"]
        await agent.wait_for(lambda: agent.malformed("bad_header") == 1, "bad_header counted")
        await asyncio.sleep(SETTLE_SECONDS)
        # Exactly once: the replay of "one" and "two" is skipped.
        assert agent.messages(container) == ["one", "two", "three", "four"]
        assert agent.malformed("bad_header") == 1
        assert agent.metric("logship_tailer_errors_total", {"reason": "framing"}) == 1
        requests = engine.requests_for(container.id)
        # The running container is caught up without follow (the first request, which lost framing, and
        # the one after it), then followed.
        assert [r.follow for r in requests] == [False, False, True], [r.params for r in requests]
        assert all(r.timestamps for r in requests)
        # The lines before the bad header were committed before reconnecting, so the second
        # request resumes after the first one's start rather than from the same point.
        assert requests[0].since is not None and requests[1].since is not None
        assert Decimal(requests[1].since) > Decimal(requests[0].since), (requests[0].since, requests[1].since)
        agent.assert_not_crashed(container, caplog)
        assert agent.agent.supervisor is not None
        assert agent.agent.supervisor.tailers[container.id].state == "following"
        assert warnings_naming(caplog, "bad_header")


async def test_garbage_header_served_every_time_still_delivers_the_lines_before_it(
        engine: FakeEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The same bytes on every request (a corrupting proxy, say): the reconnects cannot get past
    # the bad header, but what precedes it must still arrive, once, and not be retried from 0.
    body = frame(STDOUT, b"one\n", 0) + frame(STDOUT, b"two\n", 1) + b"\x01\xff\x7f\x00\x00\x00\x00\x05hello"
    container = engine.add_container("bad-header-always", running=False, logs=body)

    async with running_agent(engine, tmp_path) as agent:
        assert await agent.wait_for_messages(container, 2) == ["one", "two"]
        await agent.wait_for(lambda: len(engine.requests_for(container.id)) >= 2, "a reconnect")
        await asyncio.sleep(SETTLE_SECONDS)
        assert agent.messages(container) == ["one", "two"]
        assert agent.malformed("bad_header") >= 1
        assert all(r.since != "0" for r in engine.requests_for(container.id)[1:])
        agent.assert_not_crashed(container, caplog)


async def test_payload_without_a_timestamp_is_kept(
        engine: FakeEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    body = (frame(STDOUT, b"before\n", 0) + raw_frame(STDOUT, b"not-a-timestamp message\n")
            + frame(STDOUT, b"after\n", 2))
    container = engine.add_container("bad-timestamp", running=False, logs=body)

    async with running_agent(engine, tmp_path) as agent:
        messages = await agent.wait_for_messages(container, 3)
        assert messages == ["before", "not-a-timestamp message", "after"]
        await agent.wait_for(lambda: agent.malformed("bad_timestamp") == 1, "bad_timestamp counted")
        kept = next(r for r in agent.records() if r["message"] == "not-a-timestamp message")
        assert len(kept["timestamp"]) == 30 and kept["timestamp"].endswith("Z")
        assert kept["stream"] == "stdout"
        agent.assert_not_crashed(container, caplog)
        assert warnings_naming(caplog, "bad_timestamp")


async def test_unreadable_logging_driver_is_reported_once(
        engine: FakeEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    silent = engine.add_container("driver-none", running=True, unreadable=True, log_driver="none")
    readable = engine.add_container("neighbour", running=False, logs=frame(STDOUT, b"still collected\n", 0))

    async with running_agent(engine, tmp_path) as agent:
        assert await agent.wait_for_messages(readable, 1) == ["still collected"]

        def unreadable() -> float:
            return agent.metric("logship_tailer_errors_total", {"reason": "unreadable"})

        await agent.wait_for(lambda: unreadable() == 1, "the unreadable container reported")
        # A restart wakes its tailer; it must still not ask again.
        engine.restart_container(silent.id)
        await asyncio.sleep(SETTLE_SECONDS)
        assert unreadable() == 1
        assert len(engine.requests_for(silent.id)) == 1
        assert len(warnings_naming(caplog, "'none'", silent.id[:12])) == 1
        agent.assert_not_crashed(silent, caplog)
        assert agent.agent.supervisor is not None
        assert agent.agent.supervisor.tailers[silent.id].state == "unreadable"


async def test_invalid_utf8_is_replaced_not_dropped(
        engine: FakeEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    body = (frame(STDOUT, b"before\n", 0) + frame(STDERR, b"caf\xe9 \xff\xfe ok\n", 1)
            + frame(STDOUT, b"after\n", 2))
    container = engine.add_container("bad-utf8", running=False, logs=body)

    async with running_agent(engine, tmp_path) as agent:
        await agent.wait_for_messages(container, 3)
        await agent.wait_for(lambda: agent.metric("logship_lines_invalid_utf8_total") == 1,
                             "lines_invalid_utf8 counted")
        records = [r for r in agent.records() if r["container"]["id"] == container.id]
        assert [(r["stream"], r["message"]) for r in records if r["stream"] == "stdout"] == [
            ("stdout", "before"), ("stdout", "after")]
        assert [r["message"] for r in records if r["stream"] == "stderr"] == ["caf\ufffd \ufffd\ufffd ok"]
        assert agent.metric("logship_lines_invalid_utf8_total") == 1
        agent.assert_not_crashed(container, caplog)
