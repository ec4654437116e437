"""The shipper on the real disk buffer (``logship.buffer``), through the real HttpSink to the fake store."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import orjson
import pytest

from logship.buffer import DiskBuffer
from logship.config import BatchConfig, BufferConfig
from logship.metrics import Metrics
from logship.ship.outcome import DELIVERED, Outcome
from logship.ship.shipper import Shipper
from logship.sinks.base import Batch
from tests.fakes.http_receiver import HttpReceiver
from tests.ship.helpers import FAST_RETRY, eventually, http_sink, record

Opener = Callable[..., Awaitable[DiskBuffer]]


@pytest.fixture
async def open_buffer(tmp_path: Path) -> AsyncIterator[Opener]:
    """``await open_buffer(sinks)``: a DiskBuffer in tmp_path/buffer (the same folder each time)."""
    opened: list[DiskBuffer] = []

    async def factory(sinks: tuple[str, ...] = ("http",)) -> DiskBuffer:
        config = BufferConfig(directory=tmp_path / "buffer", max_bytes=64 * 1024**2, when_full="block",
                              segment_bytes=64 * 1024, fsync="interval", fsync_interval=0.05)
        buffer = DiskBuffer(config, sinks, Metrics())
        await buffer.open()
        opened.append(buffer)
        return buffer

    yield factory
    for buffer in opened:
        await buffer.close()


async def test_everything_delivered_once_with_faults_and_concurrency(open_buffer: Opener,
                                                                     tmp_path: Path) -> None:
    buffer = await open_buffer()
    records = [record(i, pad=i % 300) for i in range(3000)]
    async with HttpReceiver() as receiver, http_sink(receiver) as sink:
        receiver.fail(503, times=3)
        receiver.fail(429, headers={"Retry-After": "0"})
        shipper = Shipper(sink, buffer.reader("http"), BatchConfig(100, 16 * 1024, 0.02), FAST_RETRY, 4,
                          tmp_path / "dead-letter", Metrics())
        task = asyncio.create_task(shipper.run())
        for start in range(0, len(records), 250):  # written while shipping, across many segments
            await buffer.append(records[start:start + 250])
        await eventually(lambda: buffer.reader("http").pending == 0)
        await shipper.drain(timeout=2.0)
        await task
    assert sorted(receiver.lines) == sorted(records)
    assert len(receiver.lines) == len(records)


async def test_split_and_dead_letters_settle_every_record(open_buffer: Opener, tmp_path: Path) -> None:
    buffer = await open_buffer()
    records = [record(i, pad=random.Random(i).randrange(0, 700)) for i in range(200)]
    async with HttpReceiver() as receiver, http_sink(receiver, compression="none") as sink:
        receiver.max_body = 600  # the largest records never pass: dead letters
        shipper = Shipper(sink, buffer.reader("http"), BatchConfig(50, 4096, 0.02), FAST_RETRY, 2,
                          tmp_path / "dead-letter", Metrics())
        task = asyncio.create_task(shipper.run())
        await buffer.append(records)
        await eventually(lambda: buffer.reader("http").pending == 0)
        await shipper.drain(timeout=2.0)
        await task
    letters = [orjson.loads(line)["record"] for line in shipper.dead_letter_path.read_bytes().splitlines()]
    too_big = [orjson.loads(r) for r in records if len(r) + 1 > 600]
    assert too_big and sorted(map(orjson.dumps, letters)) == sorted(map(orjson.dumps, too_big))
    assert sorted(receiver.lines) == sorted(r for r in records if len(r) + 1 <= 600)


async def test_undelivered_records_are_shipped_after_a_restart(open_buffer: Opener, tmp_path: Path) -> None:
    buffer = await open_buffer()
    records = [record(i) for i in range(50)]
    async with HttpReceiver() as receiver, http_sink(receiver) as sink:
        await receiver.down()
        shipper = Shipper(sink, buffer.reader("http"), BatchConfig(20, 1 << 20, 0.02), FAST_RETRY, 2,
                          tmp_path / "dead-letter", Metrics())
        task = asyncio.create_task(shipper.run())
        await buffer.append(records)
        await eventually(lambda: shipper.last_error is not None)
        await shipper.drain(timeout=0.1)
        await task
        await buffer.close()

        await receiver.up()
        buffer = await open_buffer()  # the next start
        shipper = Shipper(sink, buffer.reader("http"), BatchConfig(20, 1 << 20, 0.02), FAST_RETRY, 2,
                          tmp_path / "dead-letter", Metrics())
        task = asyncio.create_task(shipper.run())
        await eventually(lambda: buffer.reader("http").pending == 0)
        await shipper.drain(timeout=2.0)
        await task
    assert sorted(receiver.lines) == sorted(records)


class JitterSink:
    """Delivers after a random delay, so that batches finish (and are acknowledged) out of order."""

    name = "jitter"

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def start(self) -> None: ...

    async def healthcheck(self) -> None: ...

    async def aclose(self) -> None: ...

    async def send(self, batch: Batch) -> Outcome:
        await asyncio.sleep(random.uniform(0, 0.02))
        self.received.extend(batch.records)
        return DELIVERED


async def test_out_of_order_acks_move_the_ledger(open_buffer: Opener, tmp_path: Path) -> None:
    buffer = await open_buffer(("jitter",))
    sink = JitterSink()
    records = [record(i) for i in range(1000)]
    shipper = Shipper(sink, buffer.reader("jitter"), BatchConfig(7, 1 << 20, 0.01), FAST_RETRY, 8,
                      tmp_path / "dead-letter", Metrics())
    task = asyncio.create_task(shipper.run())
    await buffer.append(records)
    await eventually(lambda: buffer.reader("jitter").pending == 0)
    await buffer.close()  # run() returns once the buffer is closed
    await asyncio.wait_for(task, 2)
    assert sorted(sink.received) == sorted(records)
