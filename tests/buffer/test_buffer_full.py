"""The size bound (block / drop_oldest) and the fsync policies."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import pytest

from logship.buffer import BufferClosedError
from logship.metrics import Metrics
from tests.buffer.buffer_helpers import Opener, abandon, drain, record

GROUP = 3 * (8 + 100)  # bytes of one framed group of three 100-byte records


def sample(metrics: Metrics, name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.registry.get_sample_value(name, labels or {}) or 0.0


async def test_block_waits_until_an_ack_frees_room(open_buffer: Opener) -> None:
    metrics = Metrics()
    buffer = await open_buffer(metrics=metrics, max_bytes=6 * GROUP, segment_bytes=3 * GROUP)
    for i in range(6):
        await buffer.append([record(i * 3 + j) for j in range(3)])
    assert buffer.stats()["bytes"] == 6 * GROUP

    blocked = asyncio.create_task(buffer.append([record(100 + j) for j in range(3)]))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    reader = buffer.reader("a")
    chunk = reader.read(4, 1 << 20)  # not a whole segment: no room yet
    reader.ack(chunk)
    await asyncio.sleep(0.02)
    assert not blocked.done()
    chunk = reader.read(5, 1 << 20)  # completes the first segment, which is deleted
    reader.ack(chunk)
    await asyncio.wait_for(blocked, 1)
    assert sample(metrics, "logship_buffer_blocked_seconds_total") >= 0.05
    assert buffer.stats()["bytes"] <= 6 * GROUP
    got = await drain(reader)
    assert got[-3:] == [record(100 + j) for j in range(3)]


async def test_blocked_appends_are_served_in_order(open_buffer: Opener) -> None:
    buffer = await open_buffer(max_bytes=2 * GROUP, segment_bytes=GROUP)
    await buffer.append([record(j) for j in range(3)])
    await buffer.append([record(3 + j) for j in range(3)])
    tasks = [asyncio.create_task(buffer.append([record(10 * k + j) for j in range(3)])) for k in (1, 2, 3)]
    await asyncio.sleep(0.01)
    reader = buffer.reader("a")
    got: list[bytes] = []
    while len(got) < 15:
        await asyncio.wait_for(reader.wait(), 1)
        chunk = reader.read(3, 1 << 20)
        got.extend(chunk.records)
        reader.ack(chunk)
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert got[6:] == [record(10 * k + j) for k in (1, 2, 3) for j in range(3)]


async def test_block_accepts_an_oversized_append_into_an_empty_buffer(open_buffer: Opener) -> None:
    buffer = await open_buffer(max_bytes=2048, segment_bytes=1024)
    huge = [record(1, 5000)]
    await asyncio.wait_for(buffer.append(huge), 1)  # larger than the whole bound: accepted, no deadlock
    follower = asyncio.create_task(buffer.append([record(2)]))
    await asyncio.sleep(0.02)
    assert not follower.done()
    reader = buffer.reader("a")
    chunk = reader.read(10, 1 << 20)
    assert chunk.records == huge
    reader.ack(chunk)  # the write segment is fully acknowledged: sealed and deleted to make room
    await asyncio.wait_for(follower, 1)
    assert await drain(reader) == [record(2)]


async def test_close_releases_blocked_appenders(open_buffer: Opener) -> None:
    buffer = await open_buffer(max_bytes=GROUP, segment_bytes=GROUP)
    await buffer.append([record(j) for j in range(3)])
    blocked = asyncio.create_task(buffer.append([record(9)]))
    await asyncio.sleep(0.01)
    await buffer.close()
    with pytest.raises(BufferClosedError):
        await asyncio.wait_for(blocked, 1)


async def test_drop_oldest_keeps_the_newest_and_counts_the_dropped(open_buffer: Opener, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="logship.buffer")
    metrics = Metrics()
    buffer = await open_buffer(sinks=("a", "b"), metrics=metrics, when_full="drop_oldest",
                               max_bytes=12 * GROUP, segment_bytes=3 * GROUP)
    written = [record(i) for i in range(300)]
    for start in range(0, 300, 3):
        await buffer.append(written[start:start + 3])
        assert buffer.stats()["bytes"] <= 12 * GROUP
    dropped = sample(metrics, "logship_buffer_lines_dropped_total", {"reason": "full"})
    remaining_a = await drain(buffer.reader("a"))
    remaining_b = await drain(buffer.reader("b"))
    assert remaining_a == remaining_b == written[300 - len(remaining_a):]  # the newest, in order
    assert dropped == 300 - len(remaining_a) > 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("dropped" in message for message in warnings)
    assert sum(int(m.split(", ")[1].split()[0]) for m in warnings) == dropped  # one line per drop event
    stats = buffer.stats()
    assert stats["bytes"] == sum(p.stat().st_size for p in (tmp_path / "buffer").glob("segment-*"))


async def test_drop_oldest_counts_only_records_some_sink_still_needed(open_buffer: Opener) -> None:
    metrics = Metrics()
    buffer = await open_buffer(sinks=("a", "b"), metrics=metrics, when_full="drop_oldest",
                               max_bytes=6 * GROUP, segment_bytes=3 * GROUP)
    for i in range(6):
        await buffer.append([record(i * 3 + j) for j in range(3)])
    for sink, count in (("a", 7), ("b", 4)):  # both sinks have acknowledged part of the oldest segment
        reader = buffer.reader(sink)
        reader.ack(reader.read(count, 1 << 20))
    await buffer.append([record(100 + j) for j in range(3)])  # drops the oldest segment (9 records)
    assert sample(metrics, "logship_buffer_lines_dropped_total", {"reason": "full"}) == 9 - 4
    # in-flight chunks of dropped segments do not disturb the readers
    assert (await drain(buffer.reader("a")))[0] == record(9)
    assert (await drain(buffer.reader("b")))[0] == record(9)


async def test_drop_oldest_with_an_oversized_group(open_buffer: Opener) -> None:
    metrics = Metrics()
    buffer = await open_buffer(metrics=metrics, when_full="drop_oldest", max_bytes=2048, segment_bytes=1024)
    await buffer.append([record(1), record(2)])
    await buffer.append([record(3, 4000)])  # bigger than the bound: everything else goes
    assert sample(metrics, "logship_buffer_lines_dropped_total", {"reason": "full"}) == 2
    assert await drain(buffer.reader("a")) == [record(3, 4000)]


async def test_fsync_always_fsyncs_before_returning_and_coalesces(open_buffer: Opener,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = await open_buffer(fsync="always", segment_bytes=1 << 20)
    calls: list[int] = []
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        time.sleep(0.02)  # in a worker thread: the event loop keeps accepting appends meanwhile
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    await buffer.append([b"first"])
    assert len(calls) == 1
    calls.clear()
    await asyncio.gather(*(buffer.append([record(i)]) for i in range(50)))
    assert 1 <= len(calls) <= 2  # fifty appends, one or two fsyncs
    assert await drain(buffer.reader("a")) == [b"first"] + [record(i) for i in range(50)]


async def test_fsync_always_survives_kill(open_buffer: Opener) -> None:
    buffer = await open_buffer(fsync="always")
    written = [record(i) for i in range(20)]
    for start in range(0, 20, 2):
        await buffer.append(written[start:start + 2])
    await abandon(buffer)
    reopened = await open_buffer(fsync="always")
    assert await drain(reopened.reader("a")) == written


async def test_interval_fsync_runs_in_the_background(open_buffer: Opener,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = await open_buffer(fsync_interval=0.02)
    calls: list[int] = []
    real_fsync = os.fsync
    def counting_fsync(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    await buffer.append([b"x"])
    assert not calls
    for _ in range(100):
        if calls:
            break
        await asyncio.sleep(0.01)
    assert calls
