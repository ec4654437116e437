"""Batches read from the disk buffer: the first record opens a batch, limits close it.

A batch closes when it holds ``BatchConfig.max_lines`` records, when it reaches ``max_bytes`` (the sum
of the record lengths), or when ``max_wait`` has passed since its first record was read, whichever
comes first. It keeps the buffer chunks it was read from, so that the shipper acknowledges exactly
those chunks once every record has a final outcome.

Invariant: a batch exceeds ``max_bytes`` only when it is a single chunk the buffer returned whole (one
record larger than the limit). A chunk that does not fit in the room left is not added: it is carried
over and opens the next batch.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from logship.settings.types import BatchConfig
from logship.ship.contract import Batch


class BufferReader(Protocol):
    """One sink's cursor on the disk buffer (``logship.buffer.BufferReader``), as the shipper uses it.

    A chunk (``logship.buffer.ReadChunk``) has ``records`` (list of bytes) and ``nbytes`` (the sum of
    their lengths); its other fields belong to the reader.
    """

    sink: str

    def store_failed(self) -> None:
        """This sink's store fails (the buffer's flow control keeps less in memory for it)."""

    def store_answered(self) -> None:
        """This sink's store gave a final outcome."""

    @property
    def pending(self) -> int:
        """Records not acknowledged yet (unread or in flight)."""

    async def wait(self, timeout: float | None = None, records: int = 1, nbytes: int = 0) -> bool:
        """True when unread records are available; False on timeout or once the buffer is closed. When
        none is unread: sleep until about ``records`` records or ``nbytes`` bytes have been appended."""

    @property
    def unread(self) -> int:
        """Records appended but not read yet."""

    def read(self, max_records: int, max_bytes: int) -> Any:
        """The next unread records (at least one if any is available); never blocks."""

    def ack(self, chunk: Any) -> None:
        """Final outcome for every record of ``chunk``; acks may come out of order."""

    def rewind(self) -> None:
        """Forget read-but-unacked chunks so that they are read again."""


@dataclass(slots=True)
class PendingBatch:
    """A batch and the buffer chunks it was read from, acknowledged together at the end."""

    batch: Batch
    chunks: list[Any]


class Batcher:
    """Builds batches from one BufferReader (see the module docstring for the limits)."""

    def __init__(self, reader: BufferReader, config: BatchConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._reader = reader
        self._config = config
        self._clock = clock
        self._carry: Any = None
        self._carry_read_at = 0.0

    def reset(self) -> None:
        """Drop a carried-over chunk (after ``reader.rewind()``, which makes it unread again)."""
        self._carry = None

    async def next(self) -> PendingBatch | None:
        """Wait for the first record, fill the batch and return it; None once the buffer is closed."""
        config = self._config
        if self._carry is not None:
            first, opened = self._carry, self._carry_read_at
            self._carry = None
        else:
            first = await self._first_chunk()
            if first is None:
                return None
            opened = self._clock()
        chunks = [first]
        lines, nbytes = len(first.records), first.nbytes
        while lines < config.max_lines and nbytes < config.max_bytes:
            remaining = config.max_wait - (self._clock() - opened)
            if remaining <= 0:
                break
            room_lines, room_bytes = config.max_lines - lines, config.max_bytes - nbytes
            chunk = self._reader.read(room_lines, room_bytes)
            if not chunk.records:
                if self._reader.unread:
                    break  # records are waiting but none fits the room left: the batch is full
                # Sleep until the batch can be filled (or max_wait), not at every append.
                await self._reader.wait(remaining, records=room_lines, nbytes=room_bytes)
                chunk = self._reader.read(room_lines, room_bytes)
                if not chunk.records:
                    break  # max_wait passed (or the buffer closed): ship what we have
            if chunk.nbytes > room_bytes:
                self._carry, self._carry_read_at = chunk, self._clock()
                break
            chunks.append(chunk)
            lines += len(chunk.records)
            nbytes += chunk.nbytes
        records = list(itertools.chain.from_iterable(chunk.records for chunk in chunks))
        return PendingBatch(Batch(records, nbytes), chunks)

    async def _first_chunk(self) -> Any:
        while await self._reader.wait(None):
            chunk = self._reader.read(self._config.max_lines, self._config.max_bytes)
            if chunk.records:
                return chunk
            # wait() said records were there but read() found none: do not spin on the event loop.
            await asyncio.sleep(0.01)
        return None
