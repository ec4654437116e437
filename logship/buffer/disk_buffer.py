"""The crash-safe, bounded disk buffer between collection and shipping: a thin front over its parts.

On disk, under ``BufferConfig.directory``::

    segment-<20-digit sequence>.log   append-only frames [u32 length][u32 CRC-32][payload] (big-endian)
    ledger-<sink>.json                {"segment": seq, "offset": n}: the sink's next unacknowledged record
    quarantine/                       unreadable segments, and copies of segments whose framing broke

The parts, each with its invariants in its docstring:

- ``segment`` — the frame format; ``recovery`` — what ``open`` repairs and how each sink resumes;
- ``segment_log.SegmentLog`` — the segment files: writing, rolling, deleting; sole owner of their
  write descriptors and of every fsync;
- ``cursor.Cursor`` — one sink's acknowledgement window (read position, acknowledged position,
  chunks in flight), pure bookkeeping;
- ``segment_reader.SegmentReader`` — one sink's frames read back from the files, CRCs checked;
- ``tail.MemoryTail`` — the latest appends in memory, for the readers that have caught up;
- ``flow.FlowControl`` — how much the tail keeps, and when an append waits a little for the readers;
- ``retention.Retention`` — which segments are deleted, and what an append does when the buffer is full;
- ``ledger`` — the ledger files and ``LedgerKeeper``, which writes them (coalesced after acks, fsynced
  every ``fsync_interval`` and on close);
- ``reader.BufferReader`` — a sink's reader, put together from its cursor, its segment reader and the
  shared tail and flow control.

Invariants of the whole:
- Records are opaque non-empty ``bytes``, appended in groups; every sink reads every record, in order,
  and acknowledges each chunk once it has a final outcome, in any order; its ledger advances over the
  contiguous acknowledged prefix only, and may lag, never run ahead of an acknowledgement: sinks get
  at-least-once delivery.
- Durability: ``fsync="always"`` returns from ``append`` only after an fsync (concurrent appends share
  one); ``fsync="interval"`` fsyncs in the background every ``fsync_interval`` and on ``sync()``. A
  crash loses at most the unsynced tail, which recovery truncates.
- A write that fails (``ENOSPC``, ``EIO``…) leaves no partial group and raises ``OSError`` to the
  appender, who keeps its records' source position (see ``collect/tailer.py``); failed ledger writes
  and fsyncs are counted in ``logship_buffer_write_errors_total{errno}`` and retried.
- Start: ``scan_tail`` hands the records of the newest segments to the collector, which takes each
  container's start position as the later of its checkpoint and its last record in the buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from logship.buffer.cursor import Cursor
from logship.buffer.flow import FlowControl
from logship.buffer.ledger import SINK_NAME_RE, LedgerKeeper
from logship.buffer.reader import BufferReader
from logship.buffer.recovery import Recovery
from logship.buffer.retention import Retention
from logship.buffer.segment import MAX_RECORD_BYTES, encode_records
from logship.buffer.segment_log import Segment, SegmentLog
from logship.buffer.segment_reader import Damage
from logship.buffer.tail import MemoryTail, RecentGroup
from logship.metrics import Metrics
from logship.settings.types import BufferConfig

log = logging.getLogger("logship.buffer")


class BufferClosedError(RuntimeError):
    """The buffer was closed; nothing more can be appended."""


class DiskBuffer:
    """Append-only segment files with per-sink ledgers, bounded by ``config.max_bytes``.

    Records are opaque non-empty ``bytes``. Call ``open()`` once before use and ``close()`` at the end.
    All methods must be called from the event loop that called ``open()``.
    """

    def __init__(self, config: BufferConfig, sinks: Sequence[str], metrics: Metrics,
                 keep_until_checkpointed: bool = False) -> None:
        if config.when_full not in ("block", "drop_oldest"):
            raise ValueError(f"when_full must be 'block' or 'drop_oldest', not {config.when_full!r}")
        if config.fsync not in ("always", "interval"):
            raise ValueError(f"fsync must be 'always' or 'interval', not {config.fsync!r}")
        for sink in sinks:
            if not SINK_NAME_RE.match(sink):
                raise ValueError(f"sink name {sink!r} cannot name a ledger file")
        self._config = config
        self._dir = Path(config.directory)
        self._sinks = tuple(dict.fromkeys(sinks))
        self._metrics = metrics
        self._always = config.fsync == "always"
        self._max_bytes = config.max_bytes
        self._log = SegmentLog(self._dir, config.segment_bytes, metrics)
        self._tail = MemoryTail()
        self._flow = FlowControl()
        self._damage = Damage(metrics)
        cursors = {sink: Cursor() for sink in self._sinks}
        self._retention = Retention(self._log, list(cursors.values()), config, keep_until_checkpointed, metrics,
                                    self._damage.forget, self._dropped)
        self._readers = {sink: BufferReader(sink, cursor, self._log, self._tail, self._flow, self._damage,
                                            self._retention.reclaim, self._ledger_moved)
                         for sink, cursor in cursors.items()}
        self._reader_list = list(self._readers.values())
        self._ledgers = LedgerKeeper(self._dir, self._acked_positions, metrics)
        self._unreturned: dict[int, int] = {}  # fsync="always": appends written, not returned yet (by first index)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._opened = False
        self._closed = False

    # --- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the directory, recover what is on disk, start a new write segment."""
        if self._opened:
            raise RuntimeError("DiskBuffer.open() may be called only once")
        if self._closed:
            raise BufferClosedError("the buffer is closed")
        recovery = await asyncio.to_thread(self._log.open, self._sinks)
        self._install(recovery)
        self._opened = True
        self._log.update_gauges()
        self._task = asyncio.get_running_loop().create_task(self._maintain(), name="logship-buffer")

    def _install(self, recovery: Recovery) -> None:
        self._log.install(recovery)
        for sink, start in recovery.starts.items():
            first_index = self._log.segments[start.seq].first_index
            self._readers[sink].cursor.start_at(start.seq, start.offset, first_index + start.frames_before)
            self._ledgers.found(sink, start.ledger)
        self._retention.reclaim()

    @property
    def closed(self) -> bool:
        """True once ``close()`` has been called."""
        return self._closed

    async def close(self) -> None:
        """Fsync, persist the ledgers, close files; wakes waiting readers and blocked appenders."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._retention.close()
        for reader in self._reader_list:
            reader.close()
        if not self._opened:
            return
        try:
            if self._task is not None:
                await self._task
            await self._ledgers.stop()
            await self._log.sync()
            await self._ledgers.persist()
        finally:
            await self._log.release()

    # --- writing --------------------------------------------------------------------------------

    async def append(self, records: list[bytes]) -> None:
        """Append ``records`` as one group (one write), within the bound; see the module docstring.

        Empty records are skipped (an empty frame would look like a zero-filled torn tail).
        Returns once written to the OS (``fsync="interval"``) or fsynced (``fsync="always"``).
        Raises BufferClosedError after ``close()``.
        """
        if self._closed or not self._opened:
            raise BufferClosedError("the buffer is closed" if self._closed else "the buffer is not open")
        if not records:
            return
        if self._flow.hold_back:
            # Before writing: a caller cancelled while waiting has written nothing (its checkpoint and
            # the buffer stay consistent).
            await self._flow.wait_for_readers()
            if self._closed:
                raise BufferClosedError("the buffer is closed")
        if b"" in records:
            records = [record for record in records if record]
            if not records:
                return
        payload = sum(map(len, records))
        if payload > MAX_RECORD_BYTES and max(map(len, records)) > MAX_RECORD_BYTES:
            raise ValueError(f"a record is larger than {MAX_RECORD_BYTES} bytes")
        data = encode_records(records)
        size = len(data)
        if (self._log.bytes + size > self._max_bytes or self._retention.waiting) and \
                not await self._retention.make_room(size):
            raise BufferClosedError("the buffer was closed while waiting for room")
        first = self._write(data, records)
        self._metrics.buffer_lines_written.inc(len(records))
        self._metrics.buffer_bytes_written.inc(size)  # framed bytes, as they land on disk
        if self._always:
            self._unreturned[first] = len(records)
            try:
                await self._log.sync()
            finally:
                del self._unreturned[first]

    def _write(self, data: bytes, records: list[bytes]) -> int:
        """Write one group, keep it in the memory tail, wake the readers; returns its first index."""
        segment_log = self._log
        if segment_log.needs_roll(len(data)):
            segment_log.roll()
            self._retention.reclaim()  # the sealed segment may already be fully acknowledged
        first = segment_log.next_index
        count, size = len(records), len(data)
        offset = segment_log.write(data, count)
        tail = self._tail
        oldest = tail.groups[0].index if tail.groups else first
        limit, slowest = self._flow.after_append(first, count, size, oldest)
        tail.add(RecentGroup(records, size, first, segment_log.current.seq, offset), limit, slowest)
        next_index, appended_bytes = segment_log.next_index, segment_log.appended_bytes
        for reader in self._reader_list:
            reader.appended(next_index, appended_bytes)
        return first

    # --- acknowledgements, retention, durability ------------------------------------------------

    def _ledger_moved(self) -> None:
        """A reader acknowledged records: have the ledgers written within ``ledger.LEDGER_DELAY_SECONDS``."""
        if self._opened and not self._closed:
            self._ledgers.moved()

    def _dropped(self, following: Segment) -> None:
        """``drop_oldest`` deleted the segments before ``following``: move every reader past them."""
        for reader in self._reader_list:
            reader.skip_to(following)

    def _acked_positions(self) -> dict[str, tuple[int, int]]:
        return {reader.sink: reader.cursor.acked for reader in self._reader_list}

    async def sync(self) -> None:
        """Return once every record appended before this call is fsynced (shared with other callers)."""
        if self._opened and not self._closed:
            await self._log.sync()

    def covered_index(self) -> int:
        """The index below which every appended record has returned to its appender: take it together
        with the checkpoint snapshot (same event-loop step), hand it to ``checkpointed`` once saved."""
        return min(self._unreturned, default=self._log.next_index)

    def checkpointed(self, index: int) -> None:
        """A checkpoint covering every record below ``index`` is saved: their segments may go."""
        self._retention.checkpointed(index)

    async def scan_tail(self, newer_than: float | None, visit: Callable[[bytes], None]) -> int:
        """Hand every record of the recovered segments last modified at or after ``newer_than`` (a
        ``time.time()``; None: all of them) to ``visit``, oldest first, and fsync those segments: what
        ``visit`` learns from them is then durable. Returns the number of records (blocking work in a
        thread; call it after ``open()``, before anything reads or acknowledges)."""
        return await self._log.scan_tail(newer_than, visit)

    async def _maintain(self) -> None:
        """Background: fsync (``interval`` policy) and persist changed ledgers every ``fsync_interval``."""
        interval = self._config.fsync_interval
        failing = False
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._stop.wait()
            if self._stop.is_set():
                return
            self._retention.count_blocked()
            try:
                if not self._always:
                    await self._log.sync()
                await self._ledgers.persist()
                failing = False
            except Exception as exc:
                if isinstance(exc, OSError):
                    self._ledgers.count_error(exc)
                # Once per failure streak, not once per interval.
                if not failing:
                    log.exception("buffer: periodic fsync or ledger write failed (retrying every %ss)",
                                  interval)
                failing = True

    # --- reading --------------------------------------------------------------------------------

    def reader(self, sink: str) -> BufferReader:
        """The reader of ``sink`` (one of the sinks given to the constructor; always the same object)."""
        try:
            return self._readers[sink]
        except KeyError:
            raise KeyError(f"no buffer reader for sink {sink!r}; configured: {', '.join(self._sinks)}") \
                from None

    def stats(self) -> dict[str, Any]:
        """``{"bytes", "segments", "records_pending": {sink: n}}`` (pending counts skipped-bad records)."""
        return {
            "bytes": self._log.bytes,
            "segments": len(self._log.segments),
            "records_pending": {reader.sink: reader.pending for reader in self._reader_list},
        }
