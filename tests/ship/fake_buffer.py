"""An in-memory stand-in for one sink's ``logship.buffer.BufferReader``, with the same API and semantics.

Like the real reader: ``read`` returns at least one record when any is unread, then more while they fit
both limits; once closed, ``wait`` says False and ``read`` returns nothing; ``rewind`` goes back to the
contiguous acknowledged prefix (what was acknowledged out of order after it is read again) and the
acknowledgements of chunks read before it are ignored. Unlike the real one, acknowledging a chunk twice
is an AssertionError: here it can only be a shipper bug.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass(slots=True)
class ReadChunk:
    """Records read together; ``first``, ``end`` and ``epoch`` are opaque to the shipper."""

    records: list[bytes]
    nbytes: int
    first: int = 0
    end: int = 0
    epoch: int = 0


@dataclass
class FakeBuffer:
    """The BufferReader API over a list: ``append`` records, ``close`` to end the reader."""

    sink: str = "http"
    failing: bool = False
    records: list[bytes] = field(default_factory=list)
    acked: list[int] = field(default_factory=list)
    reads: int = 0
    rewinds: int = 0
    _next: int = 0
    _acked_prefix: int = 0
    _epoch: int = 0
    _inflight: dict[int, ReadChunk] = field(default_factory=dict)
    _closed: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def store_failed(self) -> None:
        """The shipper says the store fails (kept in ``failing`` for tests to look at)."""
        self.failing = True

    def store_answered(self) -> None:
        """The shipper says the store answers."""
        self.failing = False

    def append(self, *records: bytes) -> None:
        """Make records available to ``read``."""
        self.records.extend(records)
        self._changed.set()

    def close(self) -> None:
        """Close the buffer: ``wait`` returns False and ``read`` nothing from now on."""
        self._closed = True
        self._changed.set()

    async def wait(self, timeout: float | None = None, records: int = 1, nbytes: int = 0) -> bool:
        """True when unread records are available; False on timeout or when closed. When none is
        unread: sleep until ``records`` records or ``nbytes`` bytes are (or the timeout)."""
        if not self._closed and self._next >= len(self.records):
            try:
                async with asyncio.timeout(timeout):
                    while not self._closed and self.unread < max(records, 1) and (
                            not nbytes or sum(map(len, self.records[self._next:])) < nbytes):
                        self._changed.clear()
                        await self._changed.wait()
            except TimeoutError:
                pass
        return not self._closed and self._next < len(self.records)

    @property
    def unread(self) -> int:
        """Records appended but not read yet."""
        return len(self.records) - self._next

    def read(self, max_records: int, max_bytes: int) -> ReadChunk:
        """The next unread records: at least one if any, then more while they fit both limits."""
        first = end = self._next
        nbytes = 0
        if self._closed:
            return ReadChunk([], 0, first, first, self._epoch)
        while end < len(self.records) and end - first < max_records:
            size = len(self.records[end])
            if end > first and nbytes + size > max_bytes:
                break
            nbytes += size
            end += 1
        chunk = ReadChunk(self.records[first:end], nbytes, first, end, self._epoch)
        if end > first:
            self._next = end
            self.reads += 1
            self._inflight[first] = chunk
        return chunk

    def ack(self, chunk: ReadChunk) -> None:
        """Final outcome for the chunk's records (out of order allowed; twice is a bug)."""
        if chunk.epoch != self._epoch:
            return  # read before a rewind: its records are read again, as the real reader does
        if self._inflight.pop(chunk.first, None) is None:
            raise AssertionError(f"chunk {chunk.first}..{chunk.end} acked twice or never read")
        self.acked.extend(range(chunk.first, chunk.end))
        done = set(self.acked)
        while self._acked_prefix in done:
            self._acked_prefix += 1

    def rewind(self) -> None:
        """Forget read-but-unacked chunks: read again from the end of the acknowledged prefix."""
        self.rewinds += 1
        self._epoch += 1
        self._inflight.clear()
        self._next = self._acked_prefix
        self._changed.set()

    @property
    def pending(self) -> int:
        """Records not acknowledged yet (unread or in flight), as the real reader counts them."""
        return len(self.records) - len(set(self.acked))

    @property
    def all_acked(self) -> bool:
        """Every appended record acknowledged exactly once."""
        return sorted(self.acked) == list(range(len(self.records)))
