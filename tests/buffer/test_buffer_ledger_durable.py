"""Acknowledgements reach the ledger within LEDGER_DELAY_SECONDS of every final outcome, not only at the
periodic save (issue 12, point 3), and ``scan_tail`` gives the collector the newest records at start."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from logship.buffer import DiskBuffer
from logship.buffer import ledger as ledger_module
from logship.buffer.segment import HEADER_SIZE
from logship.metrics import Metrics
from tests.buffer.buffer_helpers import Opener, abandon, drain, make_config, record


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll without blocking the event loop (the buffer's own tasks must run)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def ledger(directory: Path) -> dict | None:
    path = directory / "ledger-a.json"
    return json.loads(path.read_bytes()) if path.exists() else None


async def test_an_acknowledgement_is_on_disk_without_waiting_for_the_interval(open_buffer: Opener,
                                                                             tmp_path: Path) -> None:
    buffer = await open_buffer(fsync_interval=3600, segment_bytes=1 << 20)  # no periodic save in this test
    written = [record(i) for i in range(20)]
    await buffer.append(written)
    reader = buffer.reader("a")
    reader.ack(reader.read(12, 1 << 20))
    acked = {"segment": reader.cursor.acked_seq, "offset": 12 * (HEADER_SIZE + 100)}
    await until(lambda: ledger(tmp_path / "buffer") == acked)  # before: only every fsync_interval
    reader.read(5, 1 << 20)  # in flight at the kill
    await abandon(buffer)  # kill -9: no final save

    reopened = await open_buffer()
    assert await drain(reopened.reader("a")) == written[12:]  # only what had no final outcome


async def test_acknowledgements_are_coalesced(open_buffer: Opener, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[bool] = []
    real = ledger_module.write_ledgers

    def counting(directory: Path, positions: dict, fsync: bool = True) -> None:
        writes.append(fsync)
        real(directory, positions, fsync)

    monkeypatch.setattr(ledger_module, "write_ledgers", counting)
    buffer = await open_buffer(fsync_interval=3600, segment_bytes=1 << 20)
    await buffer.append([record(i) for i in range(200)])
    reader = buffer.reader("a")
    for _ in range(200):
        reader.ack(reader.read(1, 1 << 20))
    await until(lambda: writes)
    await asyncio.sleep(2 * ledger_module.LEDGER_DELAY_SECONDS)
    assert writes == [False]  # one write for 200 acknowledgements, without fsync
    assert ledger(tmp_path / "buffer")["offset"] == 200 * (HEADER_SIZE + 100)
    await buffer._ledgers.persist()  # the periodic save fsyncs a ledger written without one
    assert writes == [False, True]


async def test_scan_tail_hands_over_valid_records_of_recent_segments(open_buffer: Opener, tmp_path: Path) -> None:
    buffer = await open_buffer(segment_bytes=1024)
    written = [record(i) for i in range(30)]
    for start in range(0, 30, 3):
        await buffer.append(written[start:start + 3])
    await abandon(buffer)
    segments = sorted((tmp_path / "buffer").glob("segment-*.log"))
    data = bytearray(segments[0].read_bytes())
    data[HEADER_SIZE + 10] ^= 1  # one bad record (its CRC fails)
    segments[0].write_bytes(bytes(data))

    reopened = await open_buffer(segment_bytes=1024)
    seen: list[bytes] = []
    assert await reopened.scan_tail(None, seen.append) == 29
    assert seen == written[1:]
    assert await reopened.scan_tail(time.time() + 60, seen.append) == 0


async def test_delivered_segments_wait_for_a_checkpoint_that_covers_them(tmp_path: Path) -> None:
    buffer = DiskBuffer(make_config(tmp_path / "buffer", segment_bytes=1024), ("a",), Metrics(),
                        keep_until_checkpointed=True)
    await buffer.open()
    try:
        for i in range(0, 30, 3):
            await buffer.append([record(j) for j in range(i, i + 3)])
        covered = buffer.covered_index()
        await buffer.append([record(30)])
        assert len(await drain(buffer.reader("a"))) == 31
        sealed = len(buffer._log.segments) - 1
        assert sealed >= 2  # delivered, but kept: a restart takes the newest positions from them
        buffer.checkpointed(covered)
        assert len(buffer._log.segments) == 1  # all were sealed before `covered`
    finally:
        await buffer.close()
