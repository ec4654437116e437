"""Retention: which segments may be deleted, and what an append does when the buffer is full.

Invariants:
- A segment is deleted once every configured sink has acknowledged all of its records and it is not
  the write segment (``reclaim``). With ``keep_until_checkpointed`` (the agent) a segment is also kept
  until a saved checkpoint covers its records (``checkpointed``), so that a restart finds the newest
  lines of every container in the buffer (see ``DiskBuffer.scan_tail``) even when they were delivered
  at once; while appends wait for room such segments are deleted anyway (duplicates after a crash,
  never a block).
- The buffer's size is the sum of its segment file sizes; an append waits (``block``, first come first
  served) or drops the oldest segments, acknowledged or not (``drop_oldest``, counted), to stay within
  ``max_bytes``. An append larger than the whole bound is accepted into an empty buffer, so that
  nothing can deadlock. A fully acknowledged write segment is sealed when a waiting append needs its
  room.
- Once closed, nothing more is deleted: the ledgers are final and point into the files kept.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence

from logship.buffer.cursor import Cursor
from logship.buffer.segment_log import Segment, SegmentLog
from logship.metrics import Metrics
from logship.settings.types import BufferConfig

log = logging.getLogger("logship.buffer")


class Retention:
    """The deletion and full-buffer policy of one buffer. Use it from the buffer's event loop only.

    ``deleted(seq)`` is called for every deleted segment, ``dropped(following)`` after a segment was
    dropped unacknowledged (the readers move to ``following``).
    """

    def __init__(self, segment_log: SegmentLog, cursors: Sequence[Cursor], config: BufferConfig,
                 keep_until_checkpointed: bool, metrics: Metrics, deleted: Callable[[int], None],
                 dropped: Callable[[Segment], None]) -> None:
        self._log, self._cursors, self._metrics = segment_log, cursors, metrics
        self._max_bytes = config.max_bytes
        self._drop = config.when_full == "drop_oldest"
        self._deleted, self._dropped = deleted, dropped  # see the class docstring
        self._room = asyncio.Event()
        self._room_lock = asyncio.Lock()  # FIFO among blocked appenders
        self.waiting = 0  # appends waiting for room (a later append waits behind them)
        self._blocked: dict[object, float] = {}  # per blocked append: up to when its wait is counted
        # Records below this index are covered by a saved checkpoint (see checkpointed()).
        self._checkpointed: float = 0 if keep_until_checkpointed else math.inf
        self._closed = False

    def close(self) -> None:
        """Delete nothing from now on; wake blocked appends."""
        self._closed = True
        self._room.set()

    # --- room for appends ------------------------------------------------------------------------

    async def make_room(self, size: int) -> bool:
        """Make room for ``size`` bytes: drop the oldest segments or wait. False when closed meanwhile.

        An append calls it when ``size`` does not fit or ``waiting`` appends were first."""
        if self._drop:
            self._drop_oldest(size)
            return True
        return await self._wait_for_room(size)

    def _fits(self, size: int) -> bool:
        return self._log.bytes + size <= self._max_bytes or self._log.bytes == 0

    async def _wait_for_room(self, size: int) -> bool:
        """``block``: wait, first come first served, until acknowledgements free enough room."""
        waiter = object()
        self._blocked[waiter] = time.monotonic()
        self.waiting += 1
        try:
            async with self._room_lock:
                while not self._closed and not self._fits(size):
                    self._room.clear()
                    self.reclaim()  # may seal a fully acknowledged write segment to free it
                    if self._fits(size):
                        break
                    await self._room.wait()
        finally:
            self.waiting -= 1
            self.count_blocked()
            del self._blocked[waiter]
        return not self._closed

    def count_blocked(self) -> None:
        """Add the time blocked appends waited since last counted: also while they still wait, so that
        ``logship_buffer_blocked_seconds_total`` grows during a block (called every ``fsync_interval``)."""
        if not self._blocked:
            return
        now = time.monotonic()
        self._metrics.buffer_blocked_seconds.inc(sum(now - since for since in self._blocked.values()))
        for waiter in self._blocked:
            self._blocked[waiter] = now

    def _drop_oldest(self, size: int) -> None:
        """``drop_oldest``: delete the oldest segments, acknowledged or not, until ``size`` fits."""
        dropped = segments = 0
        while not self._fits(size):
            oldest = self._log.oldest
            if oldest is self._log.current:
                self._log.roll()  # the write segment alone is too big: seal it so it can go too
                continue
            dropped += self._unacked_in(oldest)
            self._delete(oldest)
            assert oldest.next is not None
            self._dropped(self._log.segments[oldest.next])
            segments += 1
        if segments:
            self._metrics.buffer_lines_dropped.labels(reason="full").inc(dropped)
            self._log.update_gauges()
            log.warning("buffer: full (%d bytes max): dropped the %d oldest segment(s), %d undelivered "
                        "record(s)", self._max_bytes, segments, dropped)

    def _unacked_in(self, segment: Segment) -> int:
        if not self._cursors:
            return 0
        # Records read but not yet acknowledged are not lost with the segment: the shipper holds them
        # and delivers them (only a batch of them cut short by shutdown is lost uncounted).
        slowest = min(cursor.index for cursor in self._cursors)
        return max(0, segment.end_index - max(segment.first_index, slowest))

    # --- reclaiming ------------------------------------------------------------------------------

    def checkpointed(self, index: int) -> None:
        """A checkpoint covering every record below ``index`` is saved: their segments may go."""
        if index > self._checkpointed:
            self._checkpointed = index
            self.reclaim()

    def reclaim(self) -> None:
        """Delete the oldest segments that every sink has acknowledged entirely."""
        if self._closed:
            return  # the ledgers are final: keep the files they point into
        segment_log = self._log
        acked = min((cursor.acked_index for cursor in self._cursors), default=segment_log.next_index)
        if not self.waiting and acked > self._checkpointed:
            acked = int(self._checkpointed)  # kept until a saved checkpoint covers them
        freed = False
        segments = segment_log.segments
        while True:
            oldest = next(iter(segments.values()))  # after every acknowledgement: no property call
            if oldest is segment_log.current:
                # A blocked append may need the room of a fully acknowledged write segment.
                if not (self.waiting and oldest.size and acked >= segment_log.next_index):
                    break
                try:
                    segment_log.roll()
                except OSError as exc:
                    log.error("buffer: cannot start a new segment: %s", exc)
                    break
                continue
            if oldest.end_index > acked:
                break
            self._delete(oldest)
            freed = True
        if freed:
            segment_log.update_gauges()
            self._room.set()

    def _delete(self, segment: Segment) -> None:
        self._log.delete(segment)
        self._deleted(segment.seq)
