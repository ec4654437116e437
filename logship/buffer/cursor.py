"""One sink's acknowledgement window on the buffer: where it reads, what it has acknowledged, what is in flight.

Pure bookkeeping (no I/O, no event loop): ``BufferReader`` moves the read position as it parses frames
and tells the buffer when ``ack`` (or ``advance_silently``) moved the acknowledged position.

A position is ``(segment sequence, byte offset)`` plus an *index*: the ordinal of the frame there since
the buffer was opened (never persisted), which makes "how many records" exact arithmetic.

Invariants:
- ``acked_index <= index``: the acknowledged position (what the ledger stores: every record before it
  has a final outcome) never passes the read position (the next frame to read), except that ``rewind``
  sets the read position back to it.
- ``inflight`` holds the chunks read since the last ``rewind`` and not yet acknowledged, in read
  order, contiguous: each one's ``start`` is the previous one's ``end``. Acknowledgements may come in
  any order; the acknowledged position advances over the acknowledged prefix of ``inflight`` only.
- Each ``rewind`` takes a new ``epoch``: a chunk read before it is ignored by ``ack`` (it is read
  again). Epochs are unique across cursors, so a chunk is never taken for another cursor's.
- Frames that produced no record (CRC failures) are passed over by ``advance_silently``: applied at
  once when nothing is in flight, else with the last chunk in flight (so never ahead of an ack).
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

# Shared by every cursor of the process so that epochs are unique (see the module docstring).
_epochs = itertools.count(1)


@dataclass(slots=True)
class ReadChunk:
    """Records returned by one ``BufferReader.read``; hand it back to ``ack`` once they are done with.

    ``records`` and ``nbytes`` (the sum of their lengths) are for the caller; the other fields are the
    chunk's place in the buffer and belong to the reader.
    """

    records: list[bytes]
    nbytes: int
    start: tuple[int, int] = (0, 0)
    end: tuple[int, int] = (0, 0)
    start_index: int = 0
    end_index: int = 0
    epoch: int = 0
    acked: bool = False


class Cursor:
    """The read position, the acknowledged position and the chunks in flight between them."""

    __slots__ = ("acked_index", "acked_offset", "acked_seq", "epoch", "index", "inflight", "offset", "seq")

    def __init__(self) -> None:
        # read position: next frame to read
        self.seq = 0
        self.offset = 0
        self.index = 0
        # acknowledged position: next frame without a final outcome (what the ledger stores)
        self.acked_seq = 0
        self.acked_offset = 0
        self.acked_index = 0
        self.epoch = next(_epochs)
        self.inflight: deque[ReadChunk] = deque()

    @property
    def acked(self) -> tuple[int, int]:
        """The acknowledged position as (segment, offset): what the ledger stores."""
        return self.acked_seq, self.acked_offset

    def start_at(self, seq: int, offset: int, index: int) -> None:
        """Both positions at the frame ``index`` at ``offset`` in segment ``seq`` (the buffer's open)."""
        self.seq = self.acked_seq = seq
        self.offset = self.acked_offset = offset
        self.index = self.acked_index = index

    def enter(self, seq: int, first_index: int) -> None:
        """The read position moves to the start of segment ``seq``, whose first frame is ``first_index``."""
        self.seq, self.offset, self.index = seq, 0, first_index

    def issue(self, records: list[bytes], nbytes: int, start: tuple[int, int], start_index: int) -> ReadChunk:
        """The chunk of ``records`` read from ``start`` to the read position, now in flight."""
        chunk = ReadChunk(records, nbytes, start, (self.seq, self.offset), start_index, self.index, self.epoch)
        self.inflight.append(chunk)
        return chunk

    def empty(self) -> ReadChunk:
        """A chunk without records at the read position (nothing to acknowledge)."""
        here = (self.seq, self.offset)
        return ReadChunk([], 0, here, here, self.index, self.index, 0)

    def advance_silently(self, start: tuple[int, int], start_index: int) -> bool:
        """The frames from ``start`` to the read position produced no records: acknowledge them with the
        last chunk in flight, or now when there is none. True when the acknowledged position moved now."""
        end, end_index = (self.seq, self.offset), self.index
        if end == start and end_index == start_index:
            return False
        if self.inflight:
            last = self.inflight[-1]  # applied when that chunk's turn comes
            last.end, last.end_index = end, end_index
            return False
        self.acked_seq, self.acked_offset = end
        self.acked_index = end_index
        return True

    def ack(self, chunk: ReadChunk) -> bool:
        """A final outcome for every record of ``chunk``. True when the acknowledged prefix was reached
        (the buffer then reclaims and writes the ledger); False for a chunk acknowledged twice, an empty
        one, one read before ``rewind``, or one that waits behind an older chunk."""
        if chunk.epoch != self.epoch or chunk.acked:
            return False
        chunk.acked = True
        # The chunk may wait here behind an older one still being retried: keep its position only, not
        # its records (otherwise a store that answers again after an outage makes memory grow).
        chunk.records = []
        inflight = self.inflight
        if not inflight or not inflight[0].acked:
            return False
        while inflight and inflight[0].acked:
            done = inflight.popleft()
            if done.end_index > self.acked_index or (
                    done.end_index == self.acked_index and done.end > (self.acked_seq, self.acked_offset)):
                self.acked_seq, self.acked_offset = done.end
                self.acked_index = done.end_index
        return True

    def rewind(self) -> None:
        """Forget the chunks in flight: the read position goes back to the acknowledged one."""
        self.epoch = next(_epochs)
        self.inflight.clear()
        self.seq, self.offset, self.index = self.acked_seq, self.acked_offset, self.acked_index

    def skip_to(self, seq: int, first_index: int) -> bool:
        """Nothing before segment ``seq`` (first frame ``first_index``) exists any more (dropped): move
        the acknowledged position there if behind. True when the read position is behind too (the
        caller then ``enter``s the segment)."""
        if self.acked_index < first_index:
            self.acked_seq, self.acked_offset, self.acked_index = seq, 0, first_index
            inflight = self.inflight
            while inflight and inflight[0].end_index <= first_index:
                inflight.popleft()  # their records are gone; a late ack of them is harmless
        return self.index < first_index or self.seq < seq

    def give_up_to(self, seq: int, first_index: int) -> ReadChunk:
        """Forget the chunks in flight and read on from segment ``seq`` (first frame ``first_index``,
        after the acknowledged position). Returns the chunk of the records given up, in flight: ``ack``
        it to move the acknowledged position over them by the usual path."""
        self.rewind()
        start, start_index = (self.acked_seq, self.acked_offset), self.acked_index
        self.enter(seq, first_index)
        given_up = ReadChunk([], 0, start, (seq, 0), start_index, first_index, self.epoch)
        self.inflight.append(given_up)
        return given_up
