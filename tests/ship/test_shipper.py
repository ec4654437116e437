"""The shipper end to end: fake buffer → Shipper → real HttpSink → fake receiver (or a scripted sink)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest

from logship.config import BatchConfig, RetryConfig
from logship.metrics import Metrics
from logship.ship.outcome import DELIVERED, Delivered, Outcome, partial, rejected
from logship.ship.shipper import Shipper
from logship.sinks.base import Batch, Sink
from logship.sinks.file.sink import FileSink
from logship.sinks.file.spec import FileSinkConfig
from logship.sinks.stdout.sink import StdoutSink
from tests.fakes.http_receiver import HttpReceiver
from tests.ship.fake_buffer import FakeBuffer
from tests.ship.helpers import FAST_RETRY, eventually, http_sink, record


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async with HttpReceiver() as receiver:
        yield receiver


@dataclasses.dataclass
class Running:
    shipper: Shipper
    buffer: FakeBuffer
    metrics: Metrics
    task: asyncio.Task[None]

    def sample(self, name: str, **labels: str) -> float:
        return sample(self.metrics, name, sink=self.shipper.name, **labels)

    def dead_letters(self) -> list[dict]:
        path = self.shipper.dead_letter_path
        return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


@asynccontextmanager
async def shipping(sink: Sink, buffer: FakeBuffer, tmp_path: Path, *, max_lines: int = 100,
                   max_bytes: int = 1_000_000, max_wait: float = 0.05, retry: RetryConfig = FAST_RETRY,
                   concurrency: int = 1) -> AsyncIterator[Running]:
    metrics = Metrics()
    shipper = Shipper(sink, buffer, BatchConfig(max_lines, max_bytes, max_wait), retry, concurrency,
                      tmp_path / "dead-letter", metrics)
    task = asyncio.create_task(shipper.run())
    try:
        yield Running(shipper, buffer, metrics, task)
    finally:
        await shipper.drain(timeout=2.0)
        await asyncio.wait_for(task, 5)  # run() returns (and raises nothing) after a drain


async def test_retries_until_delivered_once_honouring_retry_after(receiver: HttpReceiver, tmp_path: Path) -> None:
    receiver.fail(503, body=b"no healthy ingesters")
    receiver.fail(429, headers={"Retry-After": "2"}, body=b"rate_limited")
    buffer = FakeBuffer()
    records = [record(i) for i in range(5)]
    async with http_sink(receiver) as sink, shipping(
            sink, buffer, tmp_path, retry=RetryConfig(initial=0.01, maximum=5.0)) as running:
        started = time.monotonic()
        buffer.append(*records)
        await eventually(lambda: buffer.all_acked)
        elapsed = time.monotonic() - started
        assert running.shipper.last_error is None
        assert running.shipper.last_outcome == DELIVERED
    assert receiver.statuses == [503, 429, 200]
    assert receiver.lines == records  # each exactly once
    assert elapsed >= 2.0  # the store's Retry-After: 2 was honoured
    assert running.sample("logship_retries_total", reason="http_503") == 1
    assert running.sample("logship_retries_total", reason="http_429") == 1
    assert running.sample("logship_lines_shipped_total") == 5
    assert running.sample("logship_bytes_shipped_total") == sum(map(len, records))
    assert running.sample("logship_request_duration_seconds_count") == 3
    assert running.sample("logship_lines_rejected_total", reason="store") == 0


async def test_413_splits_until_it_passes(receiver: HttpReceiver, tmp_path: Path) -> None:
    small = [record(i, pad=40) for i in range(8)]
    huge = record(99, pad=400)
    receiver.max_body = 4 * (len(small[0]) + 1)  # four small records fit in a request, the huge one never
    buffer = FakeBuffer()
    async with http_sink(receiver, compression="none") as sink, shipping(sink, buffer, tmp_path) as running:
        buffer.append(*small[:5], huge, *small[5:])
        await eventually(lambda: buffer.all_acked)
    assert receiver.lines == small  # in order, once each
    assert 413 in receiver.statuses
    letters = running.dead_letters()
    assert [letter["record"] for letter in letters] == [orjson.loads(huge)]
    assert letters[0]["reason"].startswith("http 413")
    assert running.sample("logship_lines_shipped_total") == 8
    assert running.sample("logship_lines_rejected_total", reason="store") == 1


async def test_400_goes_to_the_dead_letter_file_and_the_lines_behind_flow(
        receiver: HttpReceiver, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    receiver.fail(400, body=b"entry for stream '{app=\"web\"}' has timestamp too old")
    buffer = FakeBuffer()
    refused = [record(1), record(2), b"not json \xff"]
    later = [record(i) for i in range(10, 15)]
    with caplog.at_level(logging.WARNING, logger="logship.ship"):
        async with http_sink(receiver) as sink, shipping(sink, buffer, tmp_path) as running:
            buffer.append(*refused)
            await eventually(lambda: buffer.all_acked)
            buffer.append(*later)
            await eventually(lambda: buffer.all_acked)
    assert receiver.lines == later
    reason = "http 400: entry for stream '{app=\"web\"}' has timestamp too old"
    assert running.dead_letters() == [
        {"reason": reason, "sink": "http", "record": orjson.loads(refused[0])},
        {"reason": reason, "sink": "http", "record": orjson.loads(refused[1])},
        {"reason": reason, "sink": "http", "record": "not json \ufffd"},
    ]
    assert running.shipper.dead_letter_path == tmp_path / "dead-letter" / "http.ndjson"
    rejections = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(rejections) == 1  # one WARNING for the batch, not one per line
    assert running.sample("logship_lines_rejected_total", reason="store") == 3
    assert running.sample("logship_lines_shipped_total") == 5


class ScriptedSink:
    """A sink answering from a script (then DELIVERED), remembering every batch it was sent."""

    name = "fake"

    def __init__(self, *answers: Outcome | Exception, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.delay = delay
        self.sent: list[list[bytes]] = []
        self.active = 0
        self.most_active = 0

    async def start(self) -> None: ...

    async def healthcheck(self) -> None: ...

    async def aclose(self) -> None: ...

    async def send(self, batch: Batch) -> Outcome:
        self.sent.append(list(batch.records))
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.active -= 1
        answer = self.answers.pop(0) if self.answers else DELIVERED
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_records_a_store_dropped_without_naming_them_count_as_rejected(tmp_path: Path) -> None:
    sink = ScriptedSink(Delivered(reason="partial_success", dropped=2))
    buffer = FakeBuffer(sink="fake")
    async with shipping(sink, buffer, tmp_path) as running:
        buffer.append(*[record(i) for i in range(5)])
        await eventually(lambda: buffer.all_acked)
    assert len(sink.sent) == 1  # never retried
    assert running.sample("logship_lines_rejected_total", reason="store_dropped") == 2
    assert running.dead_letters() == []


async def test_partial_outcome_resends_only_the_retry_items(tmp_path: Path) -> None:
    records = [record(i) for i in range(5)]
    sink = ScriptedSink(partial(retry_items=(1, 3), rejected_items=((2, "mapper_parsing_exception"),)),
                        partial(retry_items=(1,)))
    buffer = FakeBuffer(sink="fake")
    async with shipping(sink, buffer, tmp_path) as running:
        buffer.append(*records)
        await eventually(lambda: buffer.all_acked)
    assert sink.sent == [records, [records[1], records[3]], [records[3]]]
    assert [(letter["reason"], letter["record"]) for letter in running.dead_letters()] == [
        ("mapper_parsing_exception", orjson.loads(records[2]))]
    assert running.sample("logship_lines_shipped_total") == 4
    assert running.sample("logship_lines_rejected_total", reason="store") == 1
    assert running.sample("logship_retries_total", reason="partial") == 2


async def test_ack_waits_for_every_part(tmp_path: Path) -> None:
    sink = ScriptedSink(rejected("too big", split=True), delay=0.05)
    buffer = FakeBuffer(sink="fake")
    async with shipping(sink, buffer, tmp_path) as running:
        buffer.append(*[record(i) for i in range(4)])
        await eventually(lambda: len(sink.sent) == 2)  # the first half is on its way
        assert buffer.acked == []
        await eventually(lambda: buffer.all_acked)
        await eventually(lambda: running.shipper.in_flight == 0)
    assert [len(sent) for sent in sink.sent] == [4, 2, 2]


class _BrokenPipe(io.BytesIO):
    """A standard output whose reader went away, until ``mend``."""

    broken = True

    def writelines(self, lines: Iterable[bytes]) -> None:  # type: ignore[override]
        if self.broken:
            raise BrokenPipeError(32, "Broken pipe")
        super().writelines(lines)


async def test_file_and_stdout_retries_are_labelled_write_not_with_a_path(tmp_path: Path) -> None:
    # issue 13.3: the reason label of logship_retries_total was "write <path>: <error>" and "stdout: <error>",
    # a new series for every path and message. Now the label is "write"; the path is in last_error.
    folder = tmp_path / "out"
    folder.write_text("not a folder")  # the file cannot be created until the folder is back
    file_sink = FileSink(FileSinkConfig(path=folder / "logs.ndjson", max_bytes=1 << 20, keep=1))
    stream = _BrokenPipe()
    for sink, buffer_name in ((file_sink, "file"), (StdoutSink(stream=stream), "stdout")):
        buffer = FakeBuffer(sink=buffer_name)
        async with shipping(sink, buffer, tmp_path) as running:
            buffer.append(record(1))
            await eventually(lambda: running.sample("logship_retries_total", reason="write") >= 1)
            labels = {sample.labels["reason"] for metric in running.metrics.registry.collect()
                      if metric.name == "logship_retries" for sample in metric.samples}
            assert labels == {"write"}, labels
            last_error = running.shipper.last_error or ""
            assert ("logs.ndjson" if buffer_name == "file" else "stdout") in last_error
            if buffer_name == "file":
                folder.unlink()
                folder.mkdir()
            else:
                stream.broken = False
            await eventually(lambda buffer=buffer: buffer.all_acked)


async def test_a_sink_that_raises_is_retried(tmp_path: Path) -> None:
    sink = ScriptedSink(RuntimeError("bug"), RuntimeError("bug"))
    buffer = FakeBuffer(sink="fake")
    async with shipping(sink, buffer, tmp_path) as running:
        buffer.append(record(1))
        await eventually(lambda: buffer.all_acked)
    assert len(sink.sent) == 3
    assert running.sample("logship_retries_total", reason="sink_error") == 2


async def test_concurrency_is_bounded(tmp_path: Path) -> None:
    sink = ScriptedSink(delay=0.05)
    buffer = FakeBuffer(sink="fake")
    seen: list[int] = []
    async with shipping(sink, buffer, tmp_path, max_lines=1, concurrency=3) as running:
        buffer.append(*[record(i) for i in range(20)])

        def done() -> bool:
            seen.append(running.shipper.in_flight)
            return buffer.all_acked

        await eventually(done)
    assert sink.most_active == 3
    assert max(seen) == 3


async def test_health_attributes_follow_the_store(receiver: HttpReceiver, tmp_path: Path) -> None:
    await receiver.down()
    buffer = FakeBuffer()
    async with http_sink(receiver) as sink, shipping(sink, buffer, tmp_path) as running:
        buffer.append(record(1))
        await eventually(lambda: running.sample("logship_retries_total", reason="connect") >= 2)
        assert running.shipper.last_error is not None and running.shipper.last_error.startswith("connect")
        assert running.shipper.in_flight == 1
        await receiver.up()
        await eventually(lambda: buffer.all_acked)
        assert running.shipper.last_error is None
    assert receiver.lines == [record(1)]


async def test_drain_lets_the_batch_in_flight_finish(receiver: HttpReceiver, tmp_path: Path) -> None:
    receiver.delay = 0.5
    buffer = FakeBuffer()
    async with http_sink(receiver) as sink, shipping(sink, buffer, tmp_path) as running:
        buffer.append(record(1), record(2))
        await eventually(lambda: running.shipper.in_flight == 1)
        started = time.monotonic()
        await running.shipper.drain(timeout=5.0)
        assert time.monotonic() - started < 2.0
        assert running.task.done()
        buffer.append(record(3))  # after the drain: not taken
        await asyncio.sleep(0.2)
    assert receiver.lines == [record(1), record(2)]
    assert buffer.acked == [0, 1]


async def test_drain_timeout_leaves_the_records_for_the_next_start(receiver: HttpReceiver,
                                                                   tmp_path: Path) -> None:
    await receiver.down()
    buffer = FakeBuffer()
    records = [record(i) for i in range(3)]
    async with http_sink(receiver) as sink:
        async with shipping(sink, buffer, tmp_path) as running:
            buffer.append(*records)
            await eventually(lambda: running.sample("logship_retries_total", reason="connect") >= 1)
            started = time.monotonic()
            await running.shipper.drain(timeout=5)
            assert time.monotonic() - started < 1.0, "a failing sink is not waited for"
            assert running.shipper.in_flight == 0
        assert buffer.acked == []
        await receiver.up()
        async with shipping(sink, buffer, tmp_path):  # the next start reads them again
            await eventually(lambda: buffer.all_acked)
    assert receiver.lines == records


async def test_drain_delivers_what_the_buffer_holds(tmp_path: Path) -> None:
    sink = ScriptedSink()
    buffer = FakeBuffer(sink="fake")
    shipper = Shipper(sink, buffer, BatchConfig(10, 10_000, 0.3), FAST_RETRY, 2, tmp_path, Metrics())
    task = asyncio.create_task(shipper.run())
    buffer.append(*[record(i) for i in range(25)])  # two full batches and one that waits for max_wait
    await eventually(lambda: buffer.reads > 0)
    await shipper.drain(timeout=5)
    assert buffer.all_acked
    await asyncio.wait_for(task, 1)


async def test_run_returns_when_the_buffer_closes(tmp_path: Path) -> None:
    sink = ScriptedSink()
    buffer = FakeBuffer(sink="fake")
    shipper = Shipper(sink, buffer, BatchConfig(10, 10_000, 5.0), FAST_RETRY, 2, tmp_path, Metrics())
    task = asyncio.create_task(shipper.run())
    buffer.append(*[record(i) for i in range(15)])
    await eventually(lambda: len(buffer.acked) == 10)  # a full batch; the other waits for max_wait
    buffer.close()
    await asyncio.wait_for(task, 1)  # the batch being filled is shipped as it is
    assert buffer.all_acked
    await shipper.drain(timeout=1.0)  # nothing left to drain: returns at once


async def test_stop_before_run_and_cancellation(tmp_path: Path) -> None:
    buffer = FakeBuffer(sink="fake")
    shipper = Shipper(ScriptedSink(), buffer, BatchConfig(10, 10_000, 0.05), FAST_RETRY, 1, tmp_path, Metrics())
    shipper.stop()
    await asyncio.wait_for(shipper.run(), 1)
    assert buffer.reads == 0

    shipper = Shipper(ScriptedSink(delay=10), buffer, BatchConfig(10, 10_000, 0.05), FAST_RETRY, 1, tmp_path,
                      Metrics())
    task = asyncio.create_task(shipper.run())
    buffer.append(record(1))
    await eventually(lambda: shipper.in_flight == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert buffer.acked == [] and shipper.in_flight == 0
