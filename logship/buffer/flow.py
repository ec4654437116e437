"""Flow control: how much of the latest appends stays in memory, and when an append waits for the readers.

On a busy machine the tailers would outrun the shipper (16 tailers get 16 turns of the event loop for
the shipper's one), push it out of the memory tail and make it read everything back from the file: more
CPU per line for the same lines (bench: 4.0 instead of 2.8 µs per line with 16 containers). So when the
slowest reader is *reading* and lags more than half the tail, the next append waits a little
(CATCH_UP_WAIT_SECONDS) for it to read. A slow store then slows collection a little only (the buffer
absorbs the rest), and a sink that is not reading holds nothing back.

What the policy knows of each reader (``SinkActivity``): when it last took records, whether it is
waiting for records, and whether its store fails (reported by the shipper through
``BufferReader.store_failed`` / ``store_answered``). A reader is *reading* unless its store fails or it
has taken nothing for RECENT_IDLE_SECONDS while not waiting.

Invariants:
- The tail may hold RECENT_BYTES while the slowest reader is reading within it, RECENT_IDLE_BYTES
  otherwise (not reading, or reading the file far behind the tail): memory stays flat in an outage and
  while catching up after it.
- ``hold_back`` is set only by ``after_append`` (a reading reader lags between RECENT_BYTES / 2 and
  CATCH_UP_LAG_BYTES) and cleared by every read: an append waits at most CATCH_UP_WAIT_SECONDS, before
  writing anything (a cancelled append has written nothing).
- No per-record work: the policy runs once per append and once per read.

The numbers are module constants, read at each use (tests change them).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

from logship.buffer.cursor import Cursor

# Bytes of the latest appends kept in memory for readers that have caught up (see tail.MemoryTail).
# 8 MiB covers what the tailers append while the file sink fsyncs a batch at full backlog speed
# (2 MiB did not: the reader fell out of the window and read most records back from the file).
RECENT_BYTES = 8 * 1024 * 1024
# While the slowest reader is not reading (its store fails, or it has not read for RECENT_IDLE_SECONDS)
# or reads the file far behind the window (catching up), the window would only hold records it reads
# much later: keep this little, so memory stays flat in an outage and after it.
RECENT_IDLE_BYTES = 1024 * 1024
RECENT_IDLE_SECONDS = 0.5
# A reader waiting for a batch to fill is woken once this many bytes were appended at most, whatever it
# asked for: well before its lag could reach the flow-control threshold (RECENT_BYTES // 2).
WAKE_BYTES_MAX = RECENT_BYTES // 4
# How long an append waits at most for a reading sink that lags: short, so that a slow store slows
# collection only a little.
CATCH_UP_WAIT_SECONDS = 0.1
# A sink further behind than this is catching up from the file (after an outage): holding the tailers
# back then would only move the backlog from the disk buffer into socket buffers and memory.
CATCH_UP_LAG_BYTES = 4 * RECENT_BYTES


class SinkActivity:
    """What flow control knows of one reader; the reader keeps it up to date."""

    __slots__ = ("cursor", "last_read", "store_failing", "waiting")

    def __init__(self, cursor: Cursor) -> None:
        self.cursor = cursor
        self.last_read = -math.inf  # when the reader last took records
        self.waiting = False  # the reader sleeps in BufferReader.wait
        self.store_failing = False  # the shipper says its store fails: the sink is not taking records


def _read_index(sink: SinkActivity) -> int:
    return sink.cursor.index


class FlowControl:
    """The buffer's flow-control policy (see the module docstring). Use it from the event loop only."""

    def __init__(self) -> None:
        self._sinks: list[SinkActivity] = []
        self._progress = asyncio.Event()  # set whenever a reader takes records
        self.hold_back = False  # the last append left a reading sink lagging: the next one waits a little

    def track(self, cursor: Cursor) -> SinkActivity:
        """Follow the reader of ``cursor``; returns the activity it keeps up to date."""
        sink = SinkActivity(cursor)
        self._sinks.append(sink)
        return sink

    def taken(self, sink: SinkActivity) -> None:
        """``sink``'s reader took records: it is reading, and appends held back may go on."""
        sink.last_read = time.monotonic()
        self.hold_back = False  # the next append measures the lag again
        self._progress.set()

    def after_append(self, index: int, count: int, size: int, oldest: int) -> tuple[int, int]:
        """An append of ``count`` records (``size`` framed bytes, the first at ``index``) was made; the
        tail's oldest record, with it, is ``oldest``. Returns (bytes the tail may keep, the slowest
        reader's index) for ``MemoryTail.add`` and decides ``hold_back``."""
        self.hold_back = False
        if not self._sinks:
            return RECENT_BYTES, index
        laggard = min(self._sinks, key=_read_index)
        slowest = laggard.cursor.index
        reading = not laggard.store_failing and (
            laggard.waiting or time.monotonic() - laggard.last_read <= RECENT_IDLE_SECONDS)
        limit = RECENT_BYTES
        if not reading or slowest < oldest:
            # Not reading, or reading the file far behind (catching up after an outage): what is kept
            # now would be gone again before it gets there.
            limit = RECENT_IDLE_BYTES
        if reading:
            # Its lag in bytes, estimated with this group's record size: cheap, and close enough.
            lag = (index + count - slowest) * size // count
            self.hold_back = RECENT_BYTES // 2 < lag < CATCH_UP_LAG_BYTES
        return limit, slowest

    async def wait_for_readers(self) -> None:
        """``hold_back``: wait (at most CATCH_UP_WAIT_SECONDS) until a reader takes records."""
        self._progress.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CATCH_UP_WAIT_SECONDS):
                await self._progress.wait()
