"""Append, read, acknowledge: positions, segments and their deletion, limits, waiting."""

from __future__ import annotations

import asyncio
import json
import os
import random
from pathlib import Path

import pytest

from logship.buffer import BufferClosedError, BufferReader, ReadChunk
from logship.metrics import Metrics
from tests.buffer.buffer_helpers import Opener, drain, record


def segment_files(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("segment-*.log"))


async def test_append_read_ack_across_segments_deletes_acked_segments(open_buffer: Opener,
                                                                       tmp_path: Path) -> None:
    metrics = Metrics()
    buffer = await open_buffer(metrics=metrics)
    written = [record(i) for i in range(60)]
    for start in range(0, 60, 5):
        await buffer.append(written[start:start + 5])
    assert metrics.registry.get_sample_value("logship_buffer_lines_written_total") == 60
    assert metrics.registry.get_sample_value("logship_buffer_bytes_written_total") == 60 * 108
    stats = buffer.stats()
    assert stats["segments"] >= 5
    assert stats["records_pending"] == {"a": 60}
    assert stats["bytes"] == sum(p.stat().st_size for p in (tmp_path / "buffer").glob("segment-*"))
    assert metrics.registry.get_sample_value("logship_buffer_bytes") == stats["bytes"]

    reader = buffer.reader("a")
    assert buffer.reader("a") is reader
    assert await drain(reader) == written
    # everything acknowledged: only the write segment is left
    assert buffer.stats()["segments"] == 1
    assert buffer.stats()["records_pending"] == {"a": 0}
    assert len(segment_files(tmp_path / "buffer")) == 1
    assert metrics.registry.get_sample_value("logship_buffer_segments") == 1


async def test_out_of_order_acks_advance_over_the_contiguous_prefix(open_buffer: Opener,
                                                                    tmp_path: Path) -> None:
    buffer = await open_buffer(segment_bytes=1 << 20)
    await buffer.append([record(i) for i in range(30)])
    reader = buffer.reader("a")
    first, second, third = (reader.read(10, 1 << 20) for _ in range(3))
    assert [len(c.records) for c in (first, second, third)] == [10, 10, 10]
    reader.ack(third)
    reader.ack(second)
    assert buffer.stats()["records_pending"]["a"] == 30  # first still out
    reader.ack(first)
    assert buffer.stats()["records_pending"]["a"] == 0
    reader.ack(first)  # twice: no effect
    await buffer.close()
    ledger = json.loads((tmp_path / "buffer" / "ledger-a.json").read_text())
    assert ledger == {"segment": third.end[0], "offset": third.end[1]}


async def test_out_of_order_partial_ack_persists_only_the_prefix(open_buffer: Opener, tmp_path: Path) -> None:
    buffer = await open_buffer(segment_bytes=1 << 20)
    await buffer.append([record(i) for i in range(30)])
    reader = buffer.reader("a")
    first, second, third = (reader.read(10, 1 << 20) for _ in range(3))
    reader.ack(first)
    reader.ack(third)
    await buffer.close()
    ledger = json.loads((tmp_path / "buffer" / "ledger-a.json").read_text())
    assert ledger == {"segment": second.start[0], "offset": second.start[1]}
    reopened = await open_buffer()
    assert await drain(reopened.reader("a")) == [record(i) for i in range(10, 30)]  # 20..29 again: at-least-once


async def test_two_sinks_have_independent_positions_and_slow_sink_keeps_segments(open_buffer: Opener,
                                                                               tmp_path: Path) -> None:
    buffer = await open_buffer(sinks=("fast", "slow"))
    written = [record(i) for i in range(50)]
    for start in range(0, 50, 5):
        await buffer.append(written[start:start + 5])
    segments_before = buffer.stats()["segments"]
    assert await drain(buffer.reader("fast")) == written
    assert buffer.stats()["segments"] == segments_before  # slow sink has acknowledged nothing
    assert buffer.stats()["records_pending"] == {"fast": 0, "slow": 50}

    slow = buffer.reader("slow")
    assert await drain(slow, max_records=25) == written[:25] + written[25:]
    assert buffer.stats()["segments"] == 1
    assert buffer.stats()["records_pending"] == {"fast": 0, "slow": 0}


async def test_slow_sink_partially_acked_keeps_only_its_segments(open_buffer: Opener) -> None:
    buffer = await open_buffer(sinks=("fast", "slow"))
    for i in range(0, 50, 5):
        await buffer.append([record(j) for j in range(i, i + 5)])
    await drain(buffer.reader("fast"))
    slow = buffer.reader("slow")
    chunk = slow.read(20, 1 << 20)
    slow.ack(chunk)
    remaining = buffer.stats()["segments"]
    assert 1 < remaining < 10
    assert await drain(slow) == [record(i) for i in range(20, 50)]


async def test_read_limits(open_buffer: Opener) -> None:
    buffer = await open_buffer(segment_bytes=1 << 20)
    await buffer.append([record(0, 100), record(1, 100), record(2, 5000), record(3, 100)])
    reader = buffer.reader("a")
    chunk = reader.read(10, 250)
    assert chunk.records == [record(0, 100), record(1, 100)] and chunk.nbytes == 200
    chunk2 = reader.read(10, 250)  # alone larger than max_bytes: still returned
    assert chunk2.records == [record(2, 5000)] and chunk2.nbytes == 5000
    chunk3 = reader.read(1, 1 << 20)
    assert chunk3.records == [record(3, 100)]
    assert reader.read(10, 1 << 20).records == []
    for c in (chunk3, chunk, chunk2):
        reader.ack(c)
    assert buffer.stats()["records_pending"] == {"a": 0}


async def test_large_records_round_trip(open_buffer: Opener) -> None:
    buffer = await open_buffer(segment_bytes=4 << 20, max_bytes=64 << 20)
    big = [record(i, 1_100_000 + i) for i in range(5)]
    await buffer.append(big[:2])
    await buffer.append(big[2:])
    assert await drain(buffer.reader("a"), max_bytes=2_000_000) == big


async def test_empty_records_and_empty_groups_are_skipped(open_buffer: Opener) -> None:
    buffer = await open_buffer()
    await buffer.append([])
    await buffer.append([b"", b""])
    await buffer.append([b"", b"x", b""])
    assert await drain(buffer.reader("a")) == [b"x"]


async def test_rewind_reads_unacked_chunks_again_and_ignores_their_late_acks(open_buffer: Opener) -> None:
    buffer = await open_buffer()
    written = [record(i) for i in range(20)]
    await buffer.append(written)
    reader = buffer.reader("a")
    first = reader.read(5, 1 << 20)
    reader.ack(first)
    stale = reader.read(5, 1 << 20)
    assert stale.records == written[5:10]
    reader.rewind()
    again = reader.read(5, 1 << 20)
    assert again.records == written[5:10]
    reader.ack(stale)  # from before the rewind: ignored
    assert buffer.stats()["records_pending"]["a"] == 15
    reader.ack(again)
    assert await drain(reader) == written[10:]


async def test_wait_times_out_wakes_on_append_and_on_close(open_buffer: Opener) -> None:
    buffer = await open_buffer()
    reader: BufferReader = buffer.reader("a")
    assert await reader.wait(0.01) is False
    waiter = asyncio.create_task(reader.wait())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await buffer.append([b"one"])
    assert await asyncio.wait_for(waiter, 1) is True
    assert await reader.wait(0) is True
    chunk = reader.read(10, 100)
    reader.ack(chunk)
    waiter = asyncio.create_task(reader.wait())
    await asyncio.sleep(0.01)
    await buffer.close()
    assert await asyncio.wait_for(waiter, 1) is False
    assert buffer.closed
    assert reader.read(10, 100) == ReadChunk([], 0, chunk.end, chunk.end, 1, 1, 0)
    with pytest.raises(BufferClosedError):
        await buffer.append([b"late"])


async def test_unknown_sink_reader(open_buffer: Opener) -> None:
    buffer = await open_buffer()
    with pytest.raises(KeyError, match="nope"):
        buffer.reader("nope")


async def test_ledger_is_persisted_periodically(open_buffer: Opener, tmp_path: Path) -> None:
    buffer = await open_buffer(fsync_interval=0.02)
    await buffer.append([record(i) for i in range(3)])
    reader = buffer.reader("a")
    chunk = reader.read(10, 1 << 20)
    reader.ack(chunk)
    ledger = tmp_path / "buffer" / "ledger-a.json"
    for _ in range(100):
        if ledger.exists():
            break
        await asyncio.sleep(0.01)
    assert json.loads(ledger.read_text()) == {"segment": chunk.end[0], "offset": chunk.end[1]}


async def test_sync_with_interval_policy(open_buffer: Opener, monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = await open_buffer(fsync_interval=3600)
    calls: list[int] = []
    real_fsync = os.fsync
    def counting_fsync(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    await buffer.append([b"x"])
    assert calls == []  # interval policy: append does not fsync
    await asyncio.gather(*(buffer.sync() for _ in range(10)))
    assert 1 <= len(calls) <= 2  # one fsync (plus perhaps the directory), shared by the ten callers
    await buffer.sync()  # nothing new: no fsync
    assert len(calls) <= 2


async def test_segments_delivered_before_the_fsync_are_deleted_without_one(open_buffer: Opener,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """What every sink acknowledged before the periodic fsync never needs to reach the disk: its sealed
    segments are deleted and closed unsynced (the kernel drops their pages); the rest is fsynced."""
    buffer = await open_buffer(fsync_interval=3600, segment_bytes=400)
    reader = buffer.reader("a")
    synced: list[str] = []  # the names of the files fsynced
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).removesuffix(" (deleted)"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    for i in range(12):
        await buffer.append([record(i)])
    delivered = [segment.path for segment in list(buffer._log.segments.values())[:2]]
    chunk = reader.read(6, 1 << 20)  # the first two segments hold 3 records each
    reader.ack(chunk)
    assert not any(path.exists() for path in delivered)
    await buffer.sync()
    assert synced, "the undelivered records are fsynced"
    assert not {path.name for path in delivered} & set(synced), "a delivered segment was fsynced"
    assert await drain(reader) == [record(i) for i in range(6, 12)]


async def test_rewind_after_the_acknowledged_segment_was_deleted(open_buffer: Opener) -> None:
    buffer = await open_buffer(segment_bytes=400)
    await buffer.append([record(1), record(2)])
    reader = buffer.reader("a")
    reader.ack(reader.read(10, 1 << 20))  # acknowledged up to the end of the write segment
    await buffer.append([record(3), record(4)])  # seals it (then deleted: fully acknowledged)
    assert buffer.stats()["segments"] == 1
    in_flight = reader.read(1, 1 << 20)
    assert in_flight.records == [record(3)]
    reader.rewind()
    assert await drain(reader) == [record(3), record(4)]


async def test_concurrent_appenders_and_out_of_order_acks(open_buffer: Opener) -> None:
    rng = random.Random(7)
    buffer = await open_buffer(max_bytes=8 * 1024, segment_bytes=1024)
    writers, groups, per_group = 4, 40, 3

    async def writer(w: int) -> None:
        for g in range(groups):
            await buffer.append([b"%d:%d" % (w, g * per_group + k) for k in range(per_group)])
            if rng.random() < 0.3:
                await asyncio.sleep(0)

    delivered: list[bytes] = []

    async def shipper() -> None:
        reader = buffer.reader("a")
        in_flight: list[ReadChunk] = []
        total = writers * groups * per_group
        while len(delivered) < total:
            if not in_flight or rng.random() < 0.6:
                await asyncio.wait_for(reader.wait(), 2)
                chunk = reader.read(rng.randint(1, 10), 1 << 20)
                if chunk.records:
                    delivered.extend(chunk.records)
                    in_flight.append(chunk)
            if in_flight and rng.random() < 0.5:
                reader.ack(in_flight.pop(rng.randrange(len(in_flight))))
            await asyncio.sleep(0)
        for chunk in in_flight:
            reader.ack(chunk)

    await asyncio.wait_for(asyncio.gather(shipper(), *(writer(w) for w in range(writers))), 10)
    assert len(delivered) == len(set(delivered)) == writers * groups * per_group
    for w in range(writers):
        mine = [int(r.split(b":")[1]) for r in delivered if r.startswith(b"%d:" % w)]
        assert mine == sorted(mine)
    assert buffer.stats()["records_pending"] == {"a": 0}
    assert buffer.stats()["segments"] == 1
