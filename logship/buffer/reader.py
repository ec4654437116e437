"""One sink's reader of the buffer: read chunks, acknowledge them in any order, rewind, give up the oldest.

A ``BufferReader`` puts together the sink's ``Cursor`` (the acknowledgement window), its
``SegmentReader`` (frames read back from the files) and the buffer's shared ``MemoryTail`` (records
of the latest appends, taken from memory when the read position is there) and ``FlowControl`` (told
when the reader takes records, waits, or its store fails).

Invariants:
- ``read`` returns the records in append order, each once per epoch, from memory or from the file
  alike; it never blocks, and returns at least one record when any is unread (even one larger than
  ``max_bytes``).
- At the end of a sealed segment the read position steps over the boundary at once, so that
  acknowledging the chunk moves the ledger into the next segment (and the sealed one can be deleted).
- The buffer is told each time the acknowledged position may have moved: ``reclaim`` (delete what
  every sink has acknowledged), and after an ``ack`` also ``ledger_moved`` (the ledger is written
  soon); frames that produced no records and were passed over only ``reclaim``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from logship.buffer.cursor import Cursor, ReadChunk
from logship.buffer.flow import WAKE_BYTES_MAX, FlowControl
from logship.buffer.segment import HEADER_SIZE
from logship.buffer.segment_log import Segment, SegmentLog
from logship.buffer.segment_reader import Damage, SegmentReader, read_frame_at
from logship.buffer.tail import MemoryTail


class BufferReader:
    """One sink's view of the buffer: read chunks, acknowledge them (in any order), rewind.

    Not safe for use from several threads; several tasks of one event loop may share it.
    """

    def __init__(self, sink: str, cursor: Cursor, segment_log: SegmentLog, tail: MemoryTail, flow: FlowControl,
                 damage: Damage, reclaim: Callable[[], None], ledger_moved: Callable[[], None]) -> None:
        self.sink = sink
        self.cursor = cursor
        self._log = segment_log
        self._tail = tail
        self._flow = flow
        self._activity = flow.track(self.cursor)
        self._frames = SegmentReader(damage)
        self._reclaim = reclaim
        self._ledger_moved = ledger_moved
        self._event = asyncio.Event()
        self._closed = False
        # While wait() sleeps: the append that reaches this record index or the buffer's appended bytes wakes it.
        self._wake_index = 0
        self._wake_bytes = 0

    # --- told by the buffer and the shipper --------------------------------------------------------

    def appended(self, next_index: int, appended_bytes: int) -> None:
        """The buffer appended up to ``next_index`` (``appended_bytes`` since open): wake ``wait`` if
        that is what it waits for."""
        if next_index >= self._wake_index or appended_bytes >= self._wake_bytes:
            self._event.set()

    def close(self) -> None:
        """The buffer is closing: ``wait`` returns False and ``read`` nothing from now on."""
        self._closed = True
        self._event.set()
        self._frames.close()

    def skip_to(self, segment: Segment) -> None:
        """The segments before ``segment`` were dropped: nothing before it is readable any more."""
        if self.cursor.skip_to(segment.seq, segment.first_index):
            self._enter(segment)

    def store_failed(self) -> None:
        """The shipper: this sink's store fails (the buffer keeps less in memory for it at once)."""
        self._activity.store_failing = True

    def store_answered(self) -> None:
        """The shipper: this sink's store gave a final outcome (it takes records again)."""
        self._activity.store_failing = False

    # --- reading ---------------------------------------------------------------------------------

    async def wait(self, timeout: float | None = None, records: int = 1, nbytes: int = 0) -> bool:
        """True when unread records are available; False on timeout or once the buffer is closed.

        When none is unread, sleep until ``records`` records or ``nbytes`` bytes (at most
        WAKE_BYTES_MAX) have been appended, or the timeout: a batcher that wants a full batch is then
        woken once for it rather than at every append (one per tailer read: tens of thousands per second
        in a backlog).
        """
        segment_log = self._log
        if self._closed:
            return False
        if self.cursor.index < segment_log.next_index:
            return True
        self._wake_index = segment_log.next_index + max(records, 1)
        self._wake_bytes = segment_log.appended_bytes + min(nbytes or WAKE_BYTES_MAX, WAKE_BYTES_MAX)
        self._activity.waiting = True
        self._event.clear()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._event.wait()
        finally:
            self._activity.waiting = False
            self._wake_index = self._wake_bytes = 0
        return not self._closed and self.cursor.index < segment_log.next_index

    @property
    def unread(self) -> int:
        """Records appended but not read yet."""
        return self._log.next_index - self.cursor.index

    def read(self, max_records: int, max_bytes: int) -> ReadChunk:
        """The next unread records, at most ``max_records`` and ``max_bytes`` (but at least one record
        when any is available). Never blocks; the chunk may be empty. Ack every non-empty chunk."""
        cursor = self.cursor
        next_index = self._log.next_index
        if self._closed or cursor.index >= next_index or max_records < 1:
            return cursor.empty()
        start_index = cursor.index
        start = (cursor.seq, cursor.offset)
        records: list[bytes] = []
        nbytes = 0
        segments = self._log.segments
        while len(records) < max_records and cursor.index < next_index:
            segment = segments.get(cursor.seq)
            if segment is None:
                # Its segment is gone (dropped, or reclaimed before a rewind): go to the next.
                self._enter(self._log.after(cursor.seq))
                continue
            if cursor.offset >= segment.size:
                if segment.next is None:
                    break
                self._enter(segments[segment.next])
                continue
            if not records:
                start, start_index = (cursor.seq, cursor.offset), cursor.index
            nbytes, full = self._take(segment, records, max_records, max_bytes, nbytes)
            if full:
                break
        # At the end of a sealed segment, step over the boundary now, so that acknowledging this chunk
        # moves the ledger into the next segment.
        segment = segments.get(cursor.seq)
        if segment is not None and segment.next is not None and cursor.offset >= segment.size:
            self._enter(segments[segment.next])
        if not records:
            if cursor.advance_silently(start, start_index):  # only bad records were passed over
                self._reclaim()
            return cursor.empty()
        chunk = cursor.issue(records, nbytes, start, start_index)
        self._flow.taken(self._activity)
        return chunk

    def _take(self, segment: Segment, records: list[bytes], max_records: int, max_bytes: int,
              nbytes: int) -> tuple[int, bool]:
        """Records of ``segment`` from the read position: from memory when they are there, else the file.
        Returns (nbytes, whether a limit was reached)."""
        cursor = self.cursor
        found = self._tail.find(cursor.index, segment.seq, cursor.offset)
        if found is None:
            return self._frames.take(segment, cursor, records, max_records, max_bytes, nbytes)
        taken, payload, full = self._tail.take(*found, records, max_records, max_bytes, nbytes)
        cursor.offset += payload + HEADER_SIZE * taken
        cursor.index += taken
        self._frames.seek_needed = True  # the file position no longer matches: seek before the next file read
        return nbytes + payload, full

    def _enter(self, segment: Segment) -> None:
        self._frames.close()
        self.cursor.enter(segment.seq, segment.first_index)

    def ack(self, chunk: ReadChunk) -> None:
        """Record a final outcome for every record of ``chunk``; chunks may be acknowledged in any order.

        Acknowledging a chunk twice, an empty chunk, or a chunk read before ``rewind()`` does nothing.
        """
        if self.cursor.ack(chunk):
            self._reclaim()  # deletes what every sink has acknowledged
            self._ledger_moved()  # durable within LEDGER_DELAY_SECONDS

    def rewind(self) -> None:
        """Forget read-but-unacknowledged chunks: they are read again; their late acks are ignored."""
        self.cursor.rewind()
        self._frames.close()
        self._event.set()

    @property
    def pending(self) -> int:
        """Records not yet acknowledged by this sink."""
        return self._log.next_index - self.cursor.acked_index

    # --- backlog limits (``logship.ship.backlog``): how far behind the sink is; giving up the oldest ------

    def backlog_bytes(self) -> int:
        """Bytes (framed, as on disk) from the acknowledged position to the end of the buffer."""
        segments = self._log.segments
        acked_seq, acked_offset = self.cursor.acked
        total = sum(segment.size for segment in segments.values() if segment.seq >= acked_seq)
        return max(total - (acked_offset if acked_seq in segments else 0), 0)

    def give_up_points(self) -> list[tuple[int, int]]:
        """(sequence, bytes from its start to the end of the buffer) of each segment after the one holding
        the acknowledged position, oldest first: where ``give_up_before`` can move that position to."""
        points: list[tuple[int, int]] = []
        behind = 0
        for segment in reversed(self._log.segments.values()):
            if segment.seq <= self.cursor.acked_seq:
                break
            behind += segment.size
            points.append((segment.seq, behind))
        points.reverse()
        return points

    def first_pending(self) -> bytes | None:
        """The oldest record not acknowledged yet (None when there is none or it cannot be read)."""
        cursor = self.cursor
        if cursor.acked_index >= self._log.next_index:
            return None
        return self._peek(cursor.acked_seq, cursor.acked_offset, cursor.acked_index)

    def first_record(self, seq: int) -> bytes | None:
        """The first record of segment ``seq`` (None when it has none or it cannot be read)."""
        segment = self._log.segments.get(seq)
        if segment is None or not segment.count:
            return None
        return self._peek(seq, 0, segment.first_index)

    def _peek(self, seq: int, offset: int, index: int) -> bytes | None:
        group = self._tail.group(index)
        if group is not None:
            return group.records[index - group.index]
        segment = self._log.segments.get(seq)
        if segment is None:
            return None
        if offset >= segment.size:  # at the end of a sealed segment: the record is the next one's first
            return self.first_record(segment.next) if segment.next is not None else None
        return read_frame_at(segment.path, offset)

    def give_up_before(self, seq: int) -> int:
        """Give up every unacknowledged record before segment ``seq``: they get no delivery (the caller
        counts them). Read-but-unacknowledged chunks are forgotten as by ``rewind``. The position moves by
        the same path as an acknowledgement (ledger, reclaiming). Returns the number of records given up."""
        segment = self._log.segments.get(seq)
        if segment is None or segment.first_index <= self.cursor.acked_index:
            return 0
        self.rewind()
        given_up = self.cursor.give_up_to(segment.seq, segment.first_index)
        self.ack(given_up)
        return given_up.end_index - given_up.start_index
