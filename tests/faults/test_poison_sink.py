"""Issue 12, point 5: a sink whose send raises on one particular record does not stop the pipe.

A real in-process ``Shipper`` reads a real ``DiskBuffer`` and ships to a real ``FileSink`` wrapped so that
its ``send`` raises on any batch holding a record whose message contains "poison" (a sink bug triggered
by one record). Every other record must reach the file, the poison records the dead-letter file with the
exception's text, the counters must say so, and the log must say it once per batch, not once per record.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import orjson
import pytest

from logship.buffer import DiskBuffer
from logship.config import BatchConfig, BufferConfig, RetryConfig
from logship.metrics import Metrics
from logship.ship.outcome import Outcome
from logship.ship.shipper import SINK_ERROR_ATTEMPTS, Shipper
from logship.sinks.base import Batch
from logship.sinks.file.sink import FileSink
from logship.sinks.file.spec import FileSinkConfig
from tests.ship.helpers import eventually


class PoisonedFileSink(FileSink):
    """The file sink with a bug: ``send`` raises when the batch holds a record mentioning "poison"."""

    def __init__(self, config: FileSinkConfig) -> None:
        super().__init__(config)
        self.name = "file"
        self.sends = 0

    async def send(self, batch: Batch) -> Outcome:
        self.sends += 1
        for record in batch.records:
            if b"poison" in record:
                raise UnicodeError(f"cannot encode {orjson.loads(record)['message']!r}")
        return await super().send(batch)


async def open_pipe(tmp_path: Path) -> tuple[Metrics, DiskBuffer, PoisonedFileSink]:
    """Metrics, an open DiskBuffer for the sink ``file`` and the started poisoned file sink."""
    metrics = Metrics()
    buffer = DiskBuffer(BufferConfig(directory=tmp_path / "buffer", max_bytes=64 * 1024**2, when_full="block",
                                     segment_bytes=64 * 1024, fsync="interval", fsync_interval=0.05),
                        ("file",), metrics)
    await buffer.open()
    sink = PoisonedFileSink(FileSinkConfig(path=tmp_path / "out" / "file.ndjson", max_bytes=1024**3, keep=1))
    await sink.start()
    return metrics, buffer, sink


def record(i: int, message: str | None = None) -> bytes:
    return orjson.dumps({"timestamp": f"2026-12-07T06:00:{i % 60:02d}.000000000Z",
                         "message": message or f"line {i}"})


async def test_the_records_a_sink_raises_on_are_dead_lettered_and_every_other_is_delivered(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    metrics, buffer, sink = await open_pipe(tmp_path)
    records = [record(i) for i in range(1000)]
    poison_at = (5, 333, 334, 999)  # two neighbours, the last record, and one alone
    for i in poison_at:
        records[i] = record(i, f"poison pill {i}")
    shipper = Shipper(sink, buffer.reader("file"), BatchConfig(200, 1024**2, 0.05),
                      RetryConfig(initial=0.01, maximum=0.05), 2, tmp_path / "dead-letter", metrics)
    with caplog.at_level(logging.INFO, logger="logship"):
        task = asyncio.create_task(shipper.run())
        for start in range(0, len(records), 100):
            await buffer.append(records[start:start + 100])
        await eventually(lambda: buffer.reader("file").pending == 0, timeout=30)
        # The pipe still flows after the poison.
        await buffer.append([record(2000, "after the bad records")])
        await eventually(lambda: buffer.reader("file").pending == 0, timeout=30)
        await shipper.drain(timeout=2.0)
        await task
    await sink.aclose()
    await buffer.close()

    delivered = [orjson.loads(line)["message"] for line in sink.config.path.read_bytes().splitlines()]
    healthy = [orjson.loads(r)["message"] for i, r in enumerate(records) if i not in poison_at]
    # Every other record, once each (two batches in flight at once: not necessarily in order).
    assert sorted(delivered) == sorted([*healthy, "after the bad records"])

    letters = [orjson.loads(line) for line in shipper.dead_letter_path.read_bytes().splitlines()]
    assert sorted(letter["record"]["message"] for letter in letters) == sorted(
        f"poison pill {i}" for i in poison_at)
    for letter in letters:
        assert letter["sink"] == "file"
        assert letter["reason"] == f"sink_error: UnicodeError: cannot encode {letter['record']['message']!r}"

    sample = metrics.registry.get_sample_value
    assert sample("logship_lines_rejected_total", {"sink": "file", "reason": "sink_error"}) == len(poison_at)
    assert not sample("logship_lines_rejected_total", {"sink": "file", "reason": "store"})
    assert sample("logship_lines_shipped_total", {"sink": "file"}) == len(healthy) + 1
    # Each batch with poison was sent SINK_ERROR_ATTEMPTS times whole before it was split.
    assert sample("logship_retries_total", {"sink": "file", "reason": "sink_error"}) == 3 * (SINK_ERROR_ATTEMPTS - 1)

    # Logged once per batch (three batches held poison), not once per record or per attempt.
    raised = [r for r in caplog.records if "send raised on a batch" in r.getMessage()]
    found = [r for r in caplog.records if "send raised on" in r.getMessage() and "of a batch" in r.getMessage()]
    assert len(raised) == 3 and len(found) == 3, [r.getMessage() for r in caplog.records]
    assert sum(int(r.getMessage().split("send raised on ")[1].split()[0]) for r in found) == len(poison_at)


async def test_a_sink_that_raises_on_everything_does_not_stop_the_pipe(tmp_path: Path) -> None:
    """A sink bug that raises on every record: the records go to the dead-letter file, the buffer moves on."""
    metrics, buffer, sink = await open_pipe(tmp_path)
    shipper = Shipper(sink, buffer.reader("file"), BatchConfig(16, 1024**2, 0.05),
                      RetryConfig(initial=0.01, maximum=0.05), 2, tmp_path / "dead-letter", metrics)
    task = asyncio.create_task(shipper.run())
    await buffer.append([record(i, f"poison {i}") for i in range(40)])
    await eventually(lambda: buffer.reader("file").pending == 0, timeout=30)
    await shipper.drain(timeout=2.0)
    await task
    await sink.aclose()
    await buffer.close()
    assert len(shipper.dead_letter_path.read_bytes().splitlines()) == 40
    assert metrics.registry.get_sample_value("logship_lines_rejected_total",
                                             {"sink": "file", "reason": "sink_error"}) == 40
