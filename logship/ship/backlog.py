"""How far behind one sink is, and the limits past which it gives up its oldest records.

A sink's *backlog* is what it has not acknowledged yet: the bytes (framed, as on disk) from its
acknowledged position in the buffer to the end, the number of records, and the age of the oldest one
(now minus its Docker ``timestamp``, the first field of every record). ``/readyz`` and ``logship status``
show it for every sink (``lag``).

``LOGSHIP_<SINK>_MAX_BACKLOG`` (bytes) and ``LOGSHIP_<SINK>_MAX_BACKLOG_AGE`` (seconds) bound it
(``BacklogLimits``). Unset, a sink whose store stays down keeps everything: the buffer fills and then
``LOGSHIP_BUFFER_WHEN_FULL`` (``block`` by default) stops collection for every sink. Set, the sink
gives up its oldest records instead, so that the buffer reclaims their room and collection and the other
sinks go on:

- records are given up a whole segment at a time (``LOGSHIP_BUFFER_SEGMENT_BYTES``), oldest first, by
  moving the sink's acknowledged position to the start of a later segment (``BufferReader.give_up_before``,
  the same path as an acknowledgement: ledger and reclaiming follow);
- ``max_bytes``: up to the oldest segment from which the backlog fits in it;
- ``max_age``: up to the newest segment whose first record is older than it (so every record given up is
  about that old: the age is that of the records, not of their wait in the buffer; lines read at the first
  start from a container that logged long before are as old as they say);
- what the shipper had read but not settled is abandoned (``Shipper`` cancels those sends), so a given-up
  record is never delivered after it was counted;
- each record given up is counted once in ``logship_lines_dropped_total{sink,reason}`` with reason
  ``max_backlog`` or ``max_backlog_age``; one WARNING starts an *episode*, one INFO ends it once the sink
  answers again and its backlog is back under half of each limit (no line per give-up or per record).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from logship.metrics import Metrics
from logship.settings.types import BacklogLimits
from logship.timestamps import record_seconds

log = logging.getLogger(__name__)

# How often a limited sink's backlog is measured. LOGSHIP_<SINK>_MAX_BACKLOG leaves two segments of room
# in the buffer (config.py): that is what collection may append between two checks without blocking.
CHECK_INTERVAL_SECONDS = 0.2


class BacklogReader(Protocol):
    """What the backlog needs of a sink's ``logship.buffer.BufferReader``."""

    @property
    def pending(self) -> int:
        """Records not acknowledged yet."""

    def backlog_bytes(self) -> int:
        """Bytes from the acknowledged position to the end of the buffer."""

    def give_up_points(self) -> list[tuple[int, int]]:
        """(segment sequence, bytes from its start to the end) of the segments after the acknowledged one."""

    def first_pending(self) -> bytes | None:
        """The oldest record not acknowledged yet."""

    def first_record(self, seq: int) -> bytes | None:
        """The first record of a segment."""

    def give_up_before(self, seq: int) -> int:
        """Give up every unacknowledged record before segment ``seq``; the number given up."""


def age_of(record: bytes | None, now: float) -> float:
    """Seconds since the record's Docker timestamp (0.0 when there is none or it is unreadable)."""
    seconds = record_seconds(record) if record else 0.0
    return max(now - seconds, 0.0) if seconds else 0.0


def lag(reader: BacklogReader, now: float) -> dict[str, Any]:
    """``{"bytes", "records", "oldest_age_seconds"}``: how far behind the sink is (see the module doc)."""
    return {"bytes": reader.backlog_bytes(), "records": reader.pending,
            "oldest_age_seconds": round(age_of(reader.first_pending(), now), 3)}


class BacklogLimiter:
    """Keeps one sink within its ``BacklogLimits``: says where to give up to, counts and logs what was.

    The shipper owns the loop (it must abandon its in-flight batches before the reader moves): every
    ``CHECK_INTERVAL_SECONDS`` it asks ``excess()`` and, when that names a segment, abandons what it
    read and calls ``give_up``; otherwise it calls ``within``.
    """

    def __init__(self, sink: str, reader: BacklogReader, limits: BacklogLimits, metrics: Metrics,
                 clock: Callable[[], float] = time.time) -> None:
        self.sink = sink
        self.limits = limits
        self._reader = reader
        self._metrics = metrics
        self._clock = clock
        self._episode = 0  # records given up since the episode began (0: none in progress)

    def excess(self) -> tuple[int, str] | None:
        """(segment to give up the records before, reason) when the backlog is over a limit, else None."""
        reader, limits = self._reader, self.limits
        points = reader.give_up_points()
        if not points:
            return None  # all of it is in one segment: nothing can be given up
        target: tuple[int, str] | None = None
        if limits.max_bytes is not None and reader.backlog_bytes() > limits.max_bytes:
            fitting = next((seq for seq, behind in points if behind <= limits.max_bytes), points[-1][0])
            target = (fitting, "max_backlog")
        if limits.max_age is not None:
            now = self._clock()
            if age_of(reader.first_pending(), now) > limits.max_age:
                for seq, _ in points:
                    if target is not None and seq <= target[0]:
                        continue
                    if age_of(reader.first_record(seq), now) <= limits.max_age:
                        break
                    target = (seq, "max_backlog_age")
        return target

    def give_up(self, seq: int, reason: str) -> None:
        """Give up the records before segment ``seq`` (see ``excess``) and count them under ``reason``; the
        first give-up of an episode is logged. The caller has abandoned what it had read of them."""
        records = self._reader.give_up_before(seq)
        if not records:
            return
        self._metrics.lines_dropped.labels(self.sink, reason).inc(records)
        if not self._episode:
            limit = (f"LOGSHIP_{self.sink.upper()}_MAX_BACKLOG={self.limits.max_bytes} bytes"
                     if reason == "max_backlog" else
                     f"LOGSHIP_{self.sink.upper()}_MAX_BACKLOG_AGE={self.limits.max_age:g}s")
            log.warning("sink %s: backlog over %s: giving up its oldest records (%d now) so that collection and "
                        "the other sinks go on; counted in logship_lines_dropped_total{sink=%r,reason=%r}, "
                        "logged again when it has caught up", self.sink, limit, records, self.sink, reason)
        self._episode += records

    def within(self, failing: bool) -> None:
        """No give-up needed now: end an episode once the store answers and the backlog is well within."""
        if not self._episode or failing:
            return
        limits = self.limits
        if limits.max_bytes is not None and self._reader.backlog_bytes() > limits.max_bytes // 2:
            return
        if limits.max_age is not None and age_of(self._reader.first_pending(), self._clock()) > limits.max_age / 2:
            return
        log.info("sink %s: caught up; %d record(s) were given up during its backlog episode", self.sink,
                 self._episode)
        self._episode = 0
