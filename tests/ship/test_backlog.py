"""Backlog limits (issue 12, point 6), on the real disk buffer: how far behind a sink is, giving up its oldest.

See ``logship.ship.backlog``. The end-to-end version (real logship, real containers) is
``tests/faults/test_sink_down_backlog.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import orjson
import pytest

from logship.buffer import DiskBuffer
from logship.config import BacklogLimits, BatchConfig
from logship.metrics import Metrics
from logship.ship.backlog import BacklogLimiter, lag
from logship.ship.outcome import DELIVERED, Outcome, retry
from logship.ship.shipper import Shipper
from logship.sinks.base import Batch
from logship.status import render
from tests.buffer.buffer_helpers import Opener
from tests.buffer.conftest import open_buffer as buffer_opener  # noqa: F401 - the fixture below uses it
from tests.ship.helpers import FAST_RETRY, eventually

SEGMENT = 4096
NOW = 1_796_000_000.0


def record(i: int, seconds: float = NOW) -> bytes:
    """A record of about 100 bytes whose Docker timestamp is ``seconds`` (Unix time)."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return orjson.dumps({"timestamp": f"{whole}.000000000Z", "message": f"line {i:06d} " + "x" * 40})


@pytest.fixture
async def open_buffer(buffer_opener: Opener) -> Opener:  # noqa: F811 - the fixture imported above
    """The disk-buffer tests' opener, for the sinks ``up`` and ``down``, with segments of SEGMENT bytes."""

    async def factory(sinks: tuple[str, ...] = ("up", "down"), metrics: Metrics | None = None) -> DiskBuffer:
        return await buffer_opener(sinks=sinks, metrics=metrics, segment_bytes=SEGMENT)

    return factory


async def test_the_reader_measures_its_backlog_and_gives_up_whole_segments(open_buffer: Opener) -> None:
    buffer = await open_buffer()
    records = [record(i, NOW + i) for i in range(200)]
    for start in range(0, 200, 10):
        await buffer.append(records[start:start + 10])
    down = buffer.reader("down")
    assert down.pending == 200
    assert down.backlog_bytes() == buffer.stats()["bytes"]  # nothing acknowledged: the whole buffer
    assert down.first_pending() == records[0]
    assert lag(down, NOW + 100) == {"bytes": down.backlog_bytes(), "records": 200, "oldest_age_seconds": 100.0}
    points = down.give_up_points()
    assert len(points) >= 4 and [behind for _, behind in points] == sorted((b for _, b in points), reverse=True)
    seq, behind = points[1]
    first = down.first_record(seq)
    assert first in records
    chunk = down.read(5, 1 << 20)  # read but not settled: forgotten by the give-up
    assert chunk.records == records[:5]
    given_up = down.give_up_before(seq)
    assert given_up == records.index(first)
    assert down.pending == 200 - given_up
    assert down.backlog_bytes() == behind
    assert down.first_pending() == first
    assert down.read(1, 1 << 20).records == [first]  # reading resumes at the new position
    down.ack(chunk)  # a late acknowledgement of an abandoned chunk changes nothing
    assert down.pending == 200 - given_up


async def test_a_give_up_is_durable_and_frees_the_segments_once_every_sink_is_past_them(
        open_buffer: Opener) -> None:
    buffer = await open_buffer()
    for start in range(0, 300, 10):
        await buffer.append([record(i) for i in range(start, start + 10)])
    up = buffer.reader("up")
    while chunk := up.read(50, 1 << 20):
        if not chunk.records:
            break
        up.ack(chunk)
    segments = buffer.stats()["segments"]
    down = buffer.reader("down")
    seq, _ = down.give_up_points()[-2]
    given_up = down.give_up_before(seq)
    assert buffer.stats()["segments"] < segments  # reclaimed
    await buffer.close()
    reopened = await open_buffer()
    assert reopened.reader("down").pending == 300 - given_up


async def test_the_limiter_names_the_oldest_segment_from_which_the_backlog_fits(open_buffer: Opener) -> None:
    buffer = await open_buffer()
    for start in range(0, 300, 10):
        await buffer.append([record(i, NOW + i) for i in range(start, start + 10)])
    down = buffer.reader("down")
    limit = 3 * SEGMENT
    limiter = BacklogLimiter("down", down, BacklogLimits(max_bytes=limit), Metrics(), clock=lambda: NOW + 300)
    seq, reason = limiter.excess()
    assert reason == "max_backlog"
    fits = [point for point in down.give_up_points() if point[1] <= limit]
    assert seq == fits[0][0]
    down.give_up_before(seq)
    assert down.backlog_bytes() <= limit
    assert limiter.excess() is None


async def test_the_limiter_gives_up_the_segments_older_than_the_age_limit(open_buffer: Opener) -> None:
    buffer = await open_buffer()
    for start in range(0, 300, 10):
        await buffer.append([record(i, NOW + i) for i in range(start, start + 10)])
    down = buffer.reader("down")
    # At NOW + 300, records 0..199 are older than 100 s.
    limiter = BacklogLimiter("down", down, BacklogLimits(max_age=100.0), Metrics(), clock=lambda: NOW + 300)
    seq, reason = limiter.excess()
    assert reason == "max_backlog_age"
    first = orjson.loads(down.first_record(seq))["message"]
    assert int(first.split()[1]) < 200  # that segment starts with a record older than the limit
    following = [s for s, _ in down.give_up_points() if s > seq]
    assert int(orjson.loads(down.first_record(following[0]))["message"].split()[1]) >= 200
    down.give_up_before(seq)
    assert limiter.excess() is None


class Store:
    """A sink whose store is down (RETRY connect) until ``up`` is set; keeps what it is given."""

    def __init__(self, name: str, up: bool = True) -> None:
        self.name = name
        self.up = up
        self.records: list[bytes] = []

    async def send(self, batch: Batch) -> Outcome:
        await asyncio.sleep(0)
        if not self.up:
            return retry("connect")
        self.records.extend(batch.records)
        return DELIVERED


async def test_a_sink_that_stays_down_gives_up_its_oldest_records_and_the_others_go_on(
        open_buffer: Opener, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    buffer = await open_buffer(metrics=metrics)
    stores = {"up": Store("up"), "down": Store("down", up=False)}
    limit = 8 * SEGMENT
    shippers = {name: Shipper(store, buffer.reader(name), BatchConfig(20, 1 << 20, 0.01), FAST_RETRY, 2,
                              tmp_path / "dead-letter", metrics,
                              backlog=BacklogLimits(max_bytes=limit) if name == "down" else None)
                for name, store in stores.items()}
    records = [record(i) for i in range(3000)]  # ~400 KiB: 3 times the down sink's limit
    with caplog.at_level(logging.INFO, logger="logship.ship"):
        tasks = [asyncio.create_task(shipper.run()) for shipper in shippers.values()]
        for start in range(0, len(records), 50):
            await buffer.append(records[start:start + 50])  # would block for good past 1 MiB without limits
            await asyncio.sleep(0.005)
        await eventually(lambda: stores["up"].records == records, timeout=30)
        sample = metrics.registry.get_sample_value
        await eventually(lambda: buffer.reader("down").backlog_bytes() <= limit, timeout=5)
        dropped = sample("logship_lines_dropped_total", {"sink": "down", "reason": "max_backlog"})
        assert dropped and dropped > 1000
        stores["down"].up = True
        await eventually(lambda: buffer.reader("down").pending == 0, timeout=30)
        await eventually(lambda: any("caught up" in r.getMessage() for r in caplog.records), timeout=5)
        for shipper in shippers.values():
            await shipper.drain(timeout=2.0)
        await asyncio.gather(*tasks)
    got = sorted(stores["down"].records)  # two batches in flight: not necessarily in order
    # Exactly the oldest records were given up; the rest arrived once each.
    assert got == records[len(records) - len(got):]
    assert sample("logship_lines_dropped_total", {"sink": "down", "reason": "max_backlog"}) == len(records) - len(got)
    warnings = [r for r in caplog.records if "giving up its oldest records" in r.getMessage()]
    assert len(warnings) == 1  # once for the episode


def test_logship_status_says_how_far_behind_each_sink_is() -> None:
    readiness = {"ready": True, "engine": {"connected": True, "error": ""},
                 "buffer": {"open": True, "max_bytes": 1024**3, "bytes": 3 * 1024**2, "segments": 2,
                            "records_pending": {"file": 0, "http": 5120}},
                 "sinks": {"file": {"last_outcome": "delivered", "last_error": None, "in_flight": 0,
                                    "behind": {"bytes": 0, "records": 0, "oldest_age_seconds": 0.0}},
                           "http": {"last_outcome": "retry", "last_error": "http_503: http 503", "in_flight": 2,
                                    "behind": {"bytes": 3 * 1024**2, "records": 5120,
                                               "oldest_age_seconds": 754.0}}}}
    lines = render(readiness, {}, now=NOW).splitlines()
    http = lines.index("sink http   retry, 2 in flight, 5120 records pending, last error: http_503: http 503")
    assert lines[http + 1] == "  behind by 3.0 MiB, 5120 record(s), the oldest 13m old"
    assert not any("behind" in line for line in lines[:http])  # a sink that is not behind: no line
