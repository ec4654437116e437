"""Batches close on max_lines, max_bytes or max_wait after their first record."""

from __future__ import annotations

import asyncio
import time

from logship.config import BatchConfig
from logship.ship.batcher import Batcher
from tests.ship.fake_buffer import FakeBuffer


def records(count: int, size: int = 10, start: int = 0) -> list[bytes]:
    return [f"{start + i:0{size}d}".encode() for i in range(count)]


async def trickle(buffer: FakeBuffer, count: int, pause: float) -> None:
    """Append ``count`` records one at a time, ``pause`` seconds apart."""
    for i in range(count):
        buffer.append(*records(1, start=i))
        await asyncio.sleep(pause)


async def test_closes_at_max_lines() -> None:
    buffer = FakeBuffer()
    buffer.append(*records(25))
    batcher = Batcher(buffer, BatchConfig(max_lines=10, max_bytes=10_000, max_wait=5.0))
    sizes = [len((await batcher.next()).batch.records) for _ in range(2)]
    assert sizes == [10, 10]


async def test_closes_at_max_bytes_and_carries_what_does_not_fit() -> None:
    buffer = FakeBuffer()
    buffer.append(*records(3, size=40), *records(1, size=100, start=3), *records(2, size=40, start=4))
    batcher = Batcher(buffer, BatchConfig(max_lines=100, max_bytes=130, max_wait=0.05))
    first = await batcher.next()
    assert first.batch.records == records(3, size=40)
    assert first.batch.nbytes == 120
    # The 100-byte record would exceed the room left: it opens the next batch instead.
    second = await batcher.next()
    assert second.batch.records == [*records(1, size=100, start=3)]
    third = await batcher.next()
    assert third.batch.records == records(2, size=40, start=4)
    assert sum(len(batch.chunks) for batch in (first, second, third)) == buffer.reads


async def test_a_record_larger_than_max_bytes_is_a_batch_of_its_own() -> None:
    buffer = FakeBuffer()
    buffer.append(b"x" * 500, b"y")
    batcher = Batcher(buffer, BatchConfig(max_lines=100, max_bytes=100, max_wait=0.05))
    assert (await batcher.next()).batch.records == [b"x" * 500]
    assert (await batcher.next()).batch.records == [b"y"]


async def test_closes_after_max_wait_since_the_first_record() -> None:
    buffer = FakeBuffer()
    batcher = Batcher(buffer, BatchConfig(max_lines=1000, max_bytes=1_000_000, max_wait=0.3))
    feeder = asyncio.create_task(trickle(buffer, 100, 0.02))
    try:
        await asyncio.sleep(0.2)  # time before the first record does not count
        started = time.monotonic()
        pending = await batcher.next()
        elapsed = time.monotonic() - started
    finally:
        feeder.cancel()
    # The first record was already waiting when next() began, so the 0.3 s started then.
    assert 0.28 <= elapsed < 0.8  # generous above: a loaded CI machine is slow, never early
    assert 2 <= len(pending.batch.records) < 100  # neither one record nor full: closed by time


async def test_waits_for_the_first_record() -> None:
    buffer = FakeBuffer()
    batcher = Batcher(buffer, BatchConfig(max_lines=5, max_bytes=10_000, max_wait=0.05))
    task = asyncio.create_task(batcher.next())
    await asyncio.sleep(0.1)
    assert not task.done()
    buffer.append(*records(5))
    pending = await asyncio.wait_for(task, 1)
    assert pending.batch.records == records(5)  # full at max_lines: no wait


async def test_returns_what_it_has_when_closed_then_none() -> None:
    buffer = FakeBuffer()
    buffer.append(*records(3))
    batcher = Batcher(buffer, BatchConfig(max_lines=10, max_bytes=10_000, max_wait=5.0))
    task = asyncio.create_task(batcher.next())
    await asyncio.sleep(0.05)
    buffer.close()
    pending = await asyncio.wait_for(task, 1)  # a closed buffer does not hold the batch for max_wait
    assert pending.batch.records == records(3)
    assert await batcher.next() is None


async def test_reset_drops_the_carried_chunk() -> None:
    buffer = FakeBuffer()
    buffer.append(b"a" * 60, b"b" * 60)
    batcher = Batcher(buffer, BatchConfig(max_lines=10, max_bytes=100, max_wait=0.05))
    assert (await batcher.next()).batch.records == [b"a" * 60]
    buffer.rewind()
    batcher.reset()
    assert (await batcher.next()).batch.records == [b"a" * 60]  # read again from the buffer
    assert (await batcher.next()).batch.records == [b"b" * 60]


async def test_a_batch_fills_with_one_wake_not_one_per_append() -> None:
    """Records trickling in one append at a time: the batcher reads the first, then sleeps until the
    batch can be full (one more read), rather than reading after every append."""
    buffer = FakeBuffer()
    batcher = Batcher(buffer, BatchConfig(max_lines=50, max_bytes=1_000_000, max_wait=5.0))
    writer = asyncio.create_task(trickle(buffer, 60, 0.001))
    batch = await batcher.next()
    await writer
    assert batch.batch.records == records(50)
    assert buffer.reads == 2
