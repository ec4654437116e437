"""The crash-safe, bounded disk buffer between collection and shipping.

On disk, under ``BufferConfig.directory``::

    segment-<20-digit sequence>.log   append-only frames [u32 length][u32 CRC-32][payload] (big-endian)
    ledger-<sink>.json                {"segment": seq, "offset": n}: the sink's next unacknowledged record
    quarantine/                       unreadable segments, and copies of segments whose framing broke

Invariants:
- Only the newest segment (the *write segment*) is ever appended to; each ``open()`` starts a new
  one, so a segment recovered from a crash is never written again. A group of records is framed and
  written with a single ``write``; a new segment starts before a group that would push the write
  segment past ``segment_bytes`` (a group larger than that gets a segment of its own).
- Sequence numbers only grow. Each frame also has an in-memory *index* (its ordinal since ``open()``;
  never persisted) that makes "how many records are pending/dropped" exact arithmetic.
- A ledger position always lies on a frame boundary, at or behind what the sink has acknowledged; it
  is written atomically (see ``ledger.py``) within ``LEDGER_DELAY_SECONDS`` of every acknowledgement
  that moves it (coalesced, no fsync: survives a kill), and fsynced every ``fsync_interval`` and on
  close (survives a power loss).
- A segment is deleted once every configured sink has acknowledged all of its records and it is not
  the write segment. ``drop_oldest`` may delete the oldest segments before that (counted). With
  ``keep_until_checkpointed`` (the agent) a segment is also kept until a saved checkpoint covers its
  records (``checkpointed``), so that a restart finds the newest lines of every container in the
  buffer (see ``scan_tail``) even when they were delivered at once; a buffer full of such segments
  (appends waiting for room) deletes them anyway (duplicates after a crash, never a block).
- The buffer's size is the sum of its segment file sizes; appends wait (``block``) or drop the
  oldest segments (``drop_oldest``) to stay within ``max_bytes``. An append larger than the whole
  bound is accepted into an empty buffer, so that nothing can deadlock.
- Durability: ``fsync="always"`` returns from ``append`` only after an fsync (concurrent appends share
  one); ``fsync="interval"`` fsyncs in the background every ``fsync_interval`` and on ``sync()``.
  Every fsync runs in a worker thread. A crash loses at most the unsynced tail, which recovery
  truncates; sinks get at-least-once delivery (a ledger may lag, never run ahead of an ack).
- One owner per file descriptor, and only the owner closes it. The write side (event loop) owns the
  write segment's ``_fd`` and the sealed segments' ``_retired_fds`` (a roll moves ``_fd`` there; a
  delete closes it). An fsync owns what it is handed and closes it when done: the retired fds it
  moves out of ``_retired_fds`` and a ``dup`` of ``_fd``. So a roll plus a full acknowledgement
  during an fsync closes only the write side's descriptor, never one a worker thread is fsyncing
  (no ``EBADF``, and no fsync of another file that reused the number). Each reader owns its own
  read handle.
- A write that fails (``ENOSPC``, ``EIO``…) leaves no partial group (the file is truncated back)
  and raises ``OSError`` to the appender, who keeps its records' source position (see
  ``collect/tailer.py``); failed ledger writes and fsyncs are counted in
  ``logship_buffer_write_errors_total{errno}`` and retried.
- Start: ``scan_tail`` hands the records of the newest segments to the collector, which takes each
  container's start position as the later of its checkpoint and its last record in the buffer.

Reading: each sink has one ``BufferReader`` with its own read position. ``read`` returns the next
records (``ReadChunk``); the sink acknowledges each chunk once it has a final outcome, in any order;
the acknowledged position advances over the contiguous acknowledged prefix only.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import itertools
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from logship.buffer.ledger import SINK_NAME_RE, LedgerPosition, fsync_directory, write_all, write_ledgers
from logship.buffer.recovery import Recovery, read_tail, recover
from logship.buffer.segment import HEADER, HEADER_SIZE, MAX_RECORD_BYTES, crc32, encode_records, segment_name
from logship.metrics import Metrics
from logship.settings.types import BufferConfig
from logship.write_errors import errno_name

log = logging.getLogger("logship.buffer")

# How much a reader pulls from a segment file at once; a larger record is read whole.
READ_BLOCK_BYTES = 1024 * 1024
# Acknowledgements are written to the ledger at most this long after they happen (coalesced).
LEDGER_DELAY_SECONDS = 0.05

_epochs = itertools.count(1)


class BufferClosedError(RuntimeError):
    """The buffer was closed; nothing more can be appended."""


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


# Bytes of the latest appends kept in memory for readers that have caught up (see DiskBuffer._recent).
# 8 MiB covers what the tailers append while the file sink fsyncs a batch at full backlog speed
# (2 MiB did not: the reader fell out of the window and read most records back from the file).
RECENT_BYTES = 8 * 1024 * 1024
# While the slowest reader is not reading (its store fails: ``BufferReader.failing``, or it has not read
# for RECENT_IDLE_SECONDS) or reads the file far behind the window (catching up), the window would only
# hold records it reads much later: keep this little, so memory stays flat in an outage and after it.
RECENT_IDLE_BYTES = 1024 * 1024
RECENT_IDLE_SECONDS = 0.5
# A reader waiting for a batch to fill is woken once this many bytes were appended at most, whatever it
# asked for: well before its lag could reach the flow-control threshold (RECENT_BYTES // 2).
WAKE_BYTES_MAX = RECENT_BYTES // 4
# Flow control: when a reader that is reading lags more than half the window, an append waits (at most
# this long) for it to read. On a busy machine the tailers would otherwise outrun the shipper (16
# tailers get 16 turns of the event loop for the shipper's one), push it out of the window and make it
# read everything back from the file: more CPU per line for the same lines (bench: 4.0 instead of 2.8
# µs per line with 16 containers). The wait is short so that a slow store slows collection only a
# little (the buffer absorbs the rest), and a sink that is down (not reading) holds nothing back.
CATCH_UP_WAIT_SECONDS = 0.1
# A sink further behind than this is catching up from the file (after an outage): holding the tailers
# back then would only move the backlog from the disk buffer into socket buffers and memory.
CATCH_UP_LAG_BYTES = 4 * RECENT_BYTES


@dataclass(slots=True)
class _RecentGroup:
    """One append still in memory: its records, framed size, index of its first record and place."""

    records: list[bytes]
    size: int
    index: int
    seq: int
    offset: int


class _Segment:
    """In-memory bookkeeping of one segment file."""

    __slots__ = ("count", "first_index", "next", "path", "seq", "size")

    def __init__(self, seq: int, path: Path, size: int, count: int, first_index: int) -> None:
        self.seq = seq
        self.path = path
        self.size = size
        self.count = count
        self.first_index = first_index
        self.next: int | None = None  # sequence of the following segment once this one is sealed

    @property
    def end_index(self) -> int:
        return self.first_index + self.count


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
        self._max_bytes = config.max_bytes
        self._segment_bytes = config.segment_bytes
        self._always = config.fsync == "always"
        self._drop = config.when_full == "drop_oldest"

        self._segments: dict[int, _Segment] = {}  # ordered oldest first
        self._cur: _Segment | None = None
        self._fd = -1
        self._bytes = 0
        self._appended_bytes = 0  # framed bytes appended since open (wakes readers: BufferReader.wait)
        self._next_index = 0

        self._write_gen = 0  # bumped by every write; fsync covers up to a generation
        self._synced_gen = 0
        self._sync_task: asyncio.Task[None] | None = None
        # Sealed segments not yet fsynced, by sequence (closed after their fsync). One that every sink has
        # acknowledged before then is deleted without an fsync: its unwritten pages are dropped, not
        # written to disk (in a backlog most segments are delivered well within LOGSHIP_BUFFER_FSYNC_INTERVAL).
        self._retired_fds: dict[int, int] = {}
        self._dir_dirty = False  # a segment file was created since the last directory fsync

        self._room = asyncio.Event()
        self._room_lock = asyncio.Lock()  # FIFO among blocked appenders
        self._room_waiters = 0
        self._blocked: dict[object, float] = {}  # per blocked append: up to when its wait is counted
        self._bad_crc: set[tuple[int, int]] = set()  # (segment, offset) already counted

        # The most recent appends, oldest first (their indexes are contiguous): a reader that has caught up
        # takes their records from memory instead of reading the file back and checking CRCs it just
        # computed. Bounded by bytes; a reader that is further behind reads the file as before.
        self._recent: collections.deque[_RecentGroup] = collections.deque()
        self._recent_bytes = 0
        self._read_progress = asyncio.Event()  # set whenever a reader takes records (flow control)
        self._hold_back = False  # the last append left a reading sink lagging: the next one waits a little

        self._readers = {sink: BufferReader(self, sink) for sink in self._sinks}
        self._reader_list = list(self._readers.values())
        self._ledger_lock = asyncio.Lock()
        self._ledger_task: asyncio.Task[None] | None = None  # the coalesced write after an ack
        self._unsynced_ledgers: set[str] = set()  # written since their last fsync
        self._ledger_failing = False
        # Records below this index are covered by a saved checkpoint (see checkpointed()).
        self._checkpointed: float = 0 if keep_until_checkpointed else math.inf
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
        recovery = await asyncio.to_thread(self._open_blocking)
        self._install(recovery)
        self._opened = True
        self._update_gauges()
        self._task = asyncio.get_running_loop().create_task(self._maintain(), name="logship-buffer")

    def _open_blocking(self) -> Recovery:
        recovery = recover(self._dir, self._sinks, self._metrics)
        path = self._dir / segment_name(recovery.write_seq)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o644)
        fsync_directory(self._dir)
        return recovery

    def _install(self, recovery: Recovery) -> None:
        index = 0
        previous: _Segment | None = None
        for found in recovery.segments:
            segment = _Segment(found.seq, self._dir / segment_name(found.seq), found.size, found.count, index)
            index += found.count
            self._bytes += found.size
            if previous is not None:
                previous.next = segment.seq
            self._segments[segment.seq] = previous = segment
        cur = _Segment(recovery.write_seq, self._dir / segment_name(recovery.write_seq), 0, 0, index)
        if previous is not None:
            previous.next = cur.seq
        self._segments[cur.seq] = self._cur = cur
        self._next_index = index
        for sink, start in recovery.starts.items():
            segment = self._segments[start.seq]
            reader = self._readers[sink]
            reader._start_at(start.seq, start.offset, segment.first_index + start.frames_before)
            reader._persisted = (start.ledger.segment, start.ledger.offset) if start.ledger else None
        self._reclaim()

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
        self._room.set()
        for reader in self._reader_list:
            reader._event.set()
        if not self._opened:
            return
        try:
            if self._task is not None:
                await self._task
            if self._ledger_task is not None:
                self._ledger_task.cancel()  # its write, if started, is shielded and finishes first
                with contextlib.suppress(BaseException):
                    await self._ledger_task
            await self._sync()
            await self._persist_ledgers()
        finally:
            if self._sync_task is not None:  # only if the final sync itself was cancelled
                with contextlib.suppress(BaseException):
                    await self._sync_task
            for fd in [*self._retired_fds.values(), self._fd]:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._retired_fds = {}
            self._fd = -1
            for reader in self._reader_list:
                reader._close_file()

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
        if self._hold_back:
            # Before writing: a caller cancelled while waiting has written nothing (its checkpoint and
            # the buffer stay consistent).
            await self._let_readers_catch_up()
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
        if self._bytes + size > self._max_bytes or self._room_waiters:
            if self._drop:
                self._drop_oldest(size)
            else:
                await self._wait_for_room(size)
        first = self._next_index
        self._write(data, records)
        self._metrics.buffer_lines_written.inc(len(records))
        self._metrics.buffer_bytes_written.inc(size)  # framed bytes, as they land on disk
        if self._always:
            self._unreturned[first] = len(records)
            try:
                await self._sync()
            finally:
                del self._unreturned[first]

    async def _let_readers_catch_up(self) -> None:
        """Flow control: wait a little for the slowest reader, which is reading but lags (see
        CATCH_UP_WAIT_SECONDS)."""
        self._read_progress.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CATCH_UP_WAIT_SECONDS):
                await self._read_progress.wait()

    def _write(self, data: bytes, records: list[bytes]) -> None:
        count = len(records)
        cur = self._cur
        assert cur is not None
        if cur.size and cur.size + len(data) > self._segment_bytes:
            cur = self._roll()
            self._reclaim()  # the sealed segment may already be fully acknowledged
        start = cur.size
        try:
            write_all(self._fd, data)
        except OSError:
            # Never leave half a group behind: readers and recovery expect whole frames.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, cur.size)
            raise
        self._remember(cur.seq, start, len(data), records, self._next_index)
        cur.size += len(data)
        cur.count += count
        self._next_index += count
        self._bytes += len(data)
        self._appended_bytes += len(data)
        self._write_gen += 1
        self._metrics.buffer_bytes.set(self._bytes)
        for reader in self._reader_list:
            if self._next_index >= reader._wake_index or self._appended_bytes >= reader._wake_bytes:
                reader._event.set()

    def _remember(self, seq: int, offset: int, size: int, records: list[bytes], index: int) -> None:
        recent = self._recent
        recent.append(_RecentGroup(records, size, index, seq, offset))
        self._recent_bytes += size
        # Groups every reader has passed are of no more use; past the bound the oldest go anyway (a
        # lagging reader reads the file), so memory stays flat when a sink is down.
        limit = RECENT_BYTES
        slowest = index
        self._hold_back = False
        if self._reader_list:
            laggard = min(self._reader_list, key=_read_index)
            slowest = laggard._index
            reading = not laggard.failing and (
                laggard._waiting or time.monotonic() - laggard._last_read <= RECENT_IDLE_SECONDS)
            if not reading or slowest < recent[0].index:
                # Not reading, or reading the file far behind (catching up after an outage): what is
                # kept now would be gone again before it gets there.
                limit = RECENT_IDLE_BYTES
            if reading:
                # Its lag in bytes, estimated with this group's record size: cheap, and close enough.
                lag = (index + len(records) - slowest) * size // len(records)
                self._hold_back = RECENT_BYTES // 2 < lag < CATCH_UP_LAG_BYTES
        while len(recent) > 1:
            oldest = recent[0]
            if self._recent_bytes <= limit and oldest.index + len(oldest.records) > slowest:
                break
            recent.popleft()
            self._recent_bytes -= oldest.size

    def _recent_group(self, index: int) -> _RecentGroup | None:
        """The remembered append holding record ``index``, if it is still in memory."""
        recent = self._recent
        if not recent or index < recent[0].index or index >= self._next_index:
            return None
        first = recent[0]
        if index < first.index + len(first.records):
            return first  # the usual case: the slowest reader sits in the oldest group
        return recent[bisect.bisect_right(recent, index, key=_group_index) - 1]

    def _roll(self) -> _Segment:
        """Seal the write segment and start the next one (its fd is fsynced and closed later)."""
        old = self._cur
        assert old is not None
        seq = old.seq + 1
        path = self._dir / segment_name(seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o644)
        self._retired_fds[old.seq] = self._fd
        self._fd = fd
        self._dir_dirty = True
        old.next = seq
        self._cur = cur = _Segment(seq, path, 0, 0, self._next_index)
        self._segments[seq] = cur
        self._metrics.buffer_segments.set(len(self._segments))
        return cur

    def _fits(self, size: int) -> bool:
        return self._bytes + size <= self._max_bytes or self._bytes == 0

    async def _wait_for_room(self, size: int) -> None:
        """``block``: wait, first come first served, until acknowledgements free enough room."""
        waiter = object()
        self._blocked[waiter] = time.monotonic()
        self._room_waiters += 1
        try:
            async with self._room_lock:
                while not self._closed and not self._fits(size):
                    self._room.clear()
                    self._reclaim()  # may seal a fully acknowledged write segment to free it
                    if self._fits(size):
                        break
                    await self._room.wait()
        finally:
            self._room_waiters -= 1
            self._count_blocked()
            del self._blocked[waiter]
        if self._closed:
            raise BufferClosedError("the buffer was closed while waiting for room")

    def _count_blocked(self) -> None:
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
            oldest = next(iter(self._segments.values()))
            if oldest is self._cur:
                self._roll()  # the write segment alone is too big: seal it so it can go too
                continue
            dropped += self._unacked_in(oldest)
            self._delete(oldest)
            self._forget(oldest)
            segments += 1
        if segments:
            self._metrics.buffer_lines_dropped.labels(reason="full").inc(dropped)
            self._update_gauges()
            log.warning("buffer: full (%d bytes max): dropped the %d oldest segment(s), %d undelivered "
                        "record(s)", self._max_bytes, segments, dropped)

    def _unacked_in(self, segment: _Segment) -> int:
        if not self._reader_list:
            return 0
        # Records read but not yet acknowledged are not lost with the segment: the shipper holds them
        # and delivers them (only a batch of them cut short by shutdown is lost uncounted).
        slowest = min(reader._index for reader in self._reader_list)
        return max(0, segment.end_index - max(segment.first_index, slowest))

    def _forget(self, segment: _Segment) -> None:
        """Move every reader past a dropped segment."""
        assert segment.next is not None
        following = self._segments[segment.next]
        for reader in self._reader_list:
            reader._skip_to(following)

    # --- reclaiming -----------------------------------------------------------------------------

    def _reclaim(self) -> None:
        """Delete the oldest segments that every sink has acknowledged entirely."""
        if self._closed:
            return  # the ledgers are final: keep the files they point into
        readers = self._reader_list
        acked = min((reader._acked_index for reader in readers), default=self._next_index)
        if not self._room_waiters and acked > self._checkpointed:
            acked = int(self._checkpointed)  # kept until a saved checkpoint covers them
        freed = False
        while True:
            oldest = next(iter(self._segments.values()))
            if oldest is self._cur:
                # A blocked append may need the room of a fully acknowledged write segment.
                if not (self._room_waiters and oldest.size and acked >= self._next_index):
                    break
                try:
                    self._roll()
                except OSError as exc:
                    log.error("buffer: cannot start a new segment: %s", exc)
                    break
                continue
            if oldest.end_index > acked:
                break
            self._delete(oldest)
            freed = True
        if freed:
            self._update_gauges()
            self._room.set()

    def _delete(self, segment: _Segment) -> None:
        del self._segments[segment.seq]
        fd = self._retired_fds.pop(segment.seq, None)
        if fd is not None:  # never fsynced, and no longer needed
            with contextlib.suppress(OSError):
                os.close(fd)
        self._bytes -= segment.size
        if self._bad_crc:
            self._bad_crc = {key for key in self._bad_crc if key[0] != segment.seq}
        try:
            segment.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("buffer: cannot delete segment %s: %s", segment.path, exc)

    def _update_gauges(self) -> None:
        self._metrics.buffer_bytes.set(self._bytes)
        self._metrics.buffer_segments.set(len(self._segments))

    # --- durability -----------------------------------------------------------------------------

    async def sync(self) -> None:
        """Return once every record appended before this call is fsynced (shared with other callers)."""
        if self._opened and not self._closed:
            await self._sync()

    async def _sync(self) -> None:
        target = self._write_gen
        while self._synced_gen < target and self._fd >= 0:
            task = self._sync_task
            if task is None:
                task = self._sync_task = asyncio.get_running_loop().create_task(self._fsync_once())
            # shield: one caller being cancelled must not cancel the fsync others wait for.
            await asyncio.shield(task)

    async def _fsync_once(self) -> None:
        try:
            generation = self._write_gen
            # This fsync owns the descriptors it uses (see the module docstring): a dup of the write
            # segment's, and the retired ones taken out of _retired_fds; it closes them all.
            current = os.dup(self._fd)
            retired, self._retired_fds = list(self._retired_fds.values()), {}
            owned = [*retired, current]
            directory = self._dir if self._dir_dirty else None
            self._dir_dirty = False
            try:
                await asyncio.to_thread(_fsync_files, owned, directory)
            except BaseException:
                self._dir_dirty = self._dir_dirty or directory is not None
                raise
            finally:
                for fd in owned:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._synced_gen = max(self._synced_gen, generation)
        finally:
            self._sync_task = None

    async def _persist_ledgers(self, fsync: bool = True) -> None:
        """Write the ledgers that moved; with ``fsync`` also those written without one since."""
        async with self._ledger_lock:
            unsynced = self._unsynced_ledgers if fsync else set()
            changed = {reader.sink: LedgerPosition(reader._acked_seq, reader._acked_off)
                       for reader in self._reader_list
                       if reader._persisted != (reader._acked_seq, reader._acked_off) or reader.sink in unsynced}
            if not changed:
                return
            await asyncio.to_thread(write_ledgers, self._dir, changed, fsync)
            for sink, position in changed.items():
                self._readers[sink]._persisted = (position.segment, position.offset)
            if fsync:
                self._unsynced_ledgers -= changed.keys()
            else:
                self._unsynced_ledgers |= changed.keys()

    def _ledger_moved(self) -> None:
        """An acknowledged position moved: have the ledgers written within LEDGER_DELAY_SECONDS."""
        if self._ledger_task is None and self._opened and not self._closed:
            self._ledger_task = asyncio.get_running_loop().create_task(self._write_ledgers_soon())

    async def _write_ledgers_soon(self) -> None:
        """Coalesce the acknowledgements of LEDGER_DELAY_SECONDS into one ledger write (no fsync)."""
        try:
            await asyncio.sleep(LEDGER_DELAY_SECONDS)
        finally:
            self._ledger_task = None  # acks from here on schedule the next write
        try:
            # Shielded: cancelled by close(), a write in its thread must end before close's own write.
            await asyncio.shield(self._persist_ledgers(fsync=False))
            self._ledger_failing = False
        except OSError as exc:
            self._count_write_error(exc)
            if not self._ledger_failing:
                log.error("buffer: cannot write the ledgers in %s: %s; retrying (records may be delivered "
                          "again after a restart, none is lost)", self._dir, exc)
            self._ledger_failing = True

    def _count_write_error(self, exc: OSError) -> None:
        self._metrics.buffer_write_errors.labels(errno=errno_name(exc)).inc()

    def covered_index(self) -> int:
        """The index below which every appended record has returned to its appender: take it together
        with the checkpoint snapshot (same event-loop step), hand it to ``checkpointed`` once saved."""
        return min(self._unreturned, default=self._next_index)

    def checkpointed(self, index: int) -> None:
        """A checkpoint covering every record below ``index`` is saved: their segments may go."""
        if index > self._checkpointed:
            self._checkpointed = index
            self._reclaim()

    async def scan_tail(self, newer_than: float | None, visit: Callable[[bytes], None]) -> int:
        """Hand every record of the recovered segments last modified at or after ``newer_than`` (a
        ``time.time()``; None: all of them) to ``visit``, oldest first, and fsync those segments: what
        ``visit`` learns from them is then durable. Returns the number of records (blocking work in a
        thread; call it after ``open()``, before anything reads or acknowledges)."""
        seqs = [segment.seq for segment in self._segments.values() if segment is not self._cur]
        return await asyncio.to_thread(read_tail, self._dir, seqs, newer_than, visit)

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
            self._count_blocked()
            try:
                if not self._always:
                    await self._sync()
                await self._persist_ledgers()
                failing = False
            except Exception as exc:
                if isinstance(exc, OSError):
                    self._count_write_error(exc)
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

    def _note_bad_crc(self, seq: int, offset: int) -> None:
        """Count a record whose CRC fails, once however many sinks meet it."""
        if (seq, offset) in self._bad_crc:
            return
        self._bad_crc.add((seq, offset))
        self._metrics.buffer_lines_dropped.labels(reason="crc").inc()
        log.warning("buffer: record at segment %d offset %d fails its CRC check: skipped", seq, offset)

    def _note_lost_framing(self, segment: _Segment, offset: int, why: str) -> None:
        if (segment.seq, -1) in self._bad_crc:
            return
        self._bad_crc.add((segment.seq, -1))
        self._metrics.buffer_lines_dropped.labels(reason="corrupt").inc()
        log.error("buffer: segment %s unreadable from offset %d (%s): the rest of it is skipped (an unknown "
                  "number of records, counted as 1)", segment.path, offset, why)

    def stats(self) -> dict[str, Any]:
        """``{"bytes", "segments", "records_pending": {sink: n}}`` (pending counts skipped-bad records)."""
        return {
            "bytes": self._bytes,
            "segments": len(self._segments),
            "records_pending": {reader.sink: self._next_index - reader._acked_index
                                for reader in self._reader_list},
        }


def _fsync_files(fds: list[int], directory: Path | None) -> None:
    for fd in fds:
        os.fsync(fd)
    if directory is not None:
        fsync_directory(directory)


def _group_index(group: _RecentGroup) -> int:
    return group.index


def _read_index(reader: BufferReader) -> int:
    return reader._index


class BufferReader:
    """One sink's view of the buffer: read chunks, acknowledge them (in any order), rewind.

    Not safe for use from several threads; several tasks of one event loop may share it.
    """

    def __init__(self, buffer: DiskBuffer, sink: str) -> None:
        self.sink = sink
        self._buffer = buffer
        self._event = asyncio.Event()
        self._epoch = next(_epochs)
        self._inflight: deque[ReadChunk] = deque()
        # read position: next frame to read
        self._seq = 0
        self._off = 0
        self._index = 0
        # acknowledged position: next frame without a final outcome (what the ledger stores)
        self._acked_seq = 0
        self._acked_off = 0
        self._acked_index = 0
        self._persisted: tuple[int, int] | None = None
        # the open segment file and the bytes read from it but not yet parsed
        self._file: BinaryIO | None = None
        self._file_seq = -1
        self._seek_needed = False
        self._data = b""
        self._data_pos = 0  # position of the next frame within _data
        self._data_base = 0  # file offset of _data[0]
        self._last_read = -math.inf  # when read() last returned records (see RECENT_IDLE_SECONDS)
        self.failing = False  # set by the shipper while its store fails: the sink is not taking records
        # While wait() sleeps: the append that reaches this record index or the buffer's appended bytes wakes it.
        self._waiting = False
        self._wake_index = 0
        self._wake_bytes = 0

    def _start_at(self, seq: int, offset: int, index: int) -> None:
        self._seq = self._acked_seq = seq
        self._off = self._acked_off = offset
        self._index = self._acked_index = index

    async def wait(self, timeout: float | None = None, records: int = 1, nbytes: int = 0) -> bool:
        """True when unread records are available; False on timeout or once the buffer is closed.

        When none is unread, sleep until ``records`` records or ``nbytes`` bytes (at most
        WAKE_BYTES_MAX) have been appended, or the timeout: a batcher that wants a full batch is then
        woken once for it rather than at every append (one per tailer read: tens of thousands per second
        in a backlog).
        """
        buffer = self._buffer
        if buffer._closed:
            return False
        if self._index < buffer._next_index:
            return True
        self._wake_index = buffer._next_index + max(records, 1)
        self._wake_bytes = buffer._appended_bytes + min(nbytes or WAKE_BYTES_MAX, WAKE_BYTES_MAX)
        self._waiting = True
        self._event.clear()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._event.wait()
        finally:
            self._waiting = False
            self._wake_index = self._wake_bytes = 0
        return not buffer._closed and self._index < buffer._next_index

    @property
    def unread(self) -> int:
        """Records appended but not read yet."""
        return self._buffer._next_index - self._index

    def read(self, max_records: int, max_bytes: int) -> ReadChunk:
        """The next unread records, at most ``max_records`` and ``max_bytes`` (but at least one record
        when any is available). Never blocks; the chunk may be empty. Ack every non-empty chunk."""
        buffer = self._buffer
        start_index = self._index
        start = (self._seq, self._off)
        if buffer._closed or start_index >= buffer._next_index or max_records < 1:
            return ReadChunk([], 0, start, start, start_index, start_index, 0)
        records: list[bytes] = []
        nbytes = 0
        segments = buffer._segments
        while len(records) < max_records and self._index < buffer._next_index:
            segment = segments.get(self._seq)
            if segment is None:
                self._skip_missing()
                continue
            if self._off >= segment.size:
                if segment.next is None:
                    break
                self._enter(segments[segment.next])
                continue
            if not records:
                start, start_index = (self._seq, self._off), self._index
            nbytes, full = self._take(segment, records, max_records, max_bytes, nbytes)
            if full:
                break
        # At the end of a sealed segment, step over the boundary now, so that acknowledging this chunk
        # moves the ledger into the next segment.
        segment = segments.get(self._seq)
        if segment is not None and segment.next is not None and self._off >= segment.size:
            self._enter(segments[segment.next])
        end = (self._seq, self._off)
        if not records:
            if end != start or self._index != start_index:
                self._advance_silently(end, self._index)  # only bad records were passed over
            return ReadChunk([], 0, end, end, self._index, self._index, 0)
        chunk = ReadChunk(records, nbytes, start, end, start_index, self._index, self._epoch)
        self._inflight.append(chunk)
        self._last_read = time.monotonic()
        buffer._hold_back = False  # the next append measures the lag again
        buffer._read_progress.set()
        return chunk

    def _take(self, segment: _Segment, records: list[bytes], max_records: int, max_bytes: int,
              nbytes: int) -> tuple[int, bool]:
        """Parse frames of ``segment`` into ``records`` up to the limits or the segment's written end.

        Returns (nbytes, whether a limit was reached).
        """
        group = self._buffer._recent_group(self._index)
        if group is not None and group.seq == segment.seq:
            # A batch limit may have stopped the last read inside a group: resume there.
            skip = self._index - group.index
            group_records = group.records
            at = group.offset + HEADER_SIZE * skip + sum(map(len, group_records[:skip])) if skip else group.offset
            if at == self._off:
                return self._take_recent(group, skip, records, max_records, max_bytes, nbytes)
        if self._file_seq != segment.seq and not self._open(segment):
            return nbytes, False
        if self._seek_needed:
            self._seek_needed = False
            self._file.seek(self._off)  # type: ignore[union-attr]
            self._data, self._data_pos, self._data_base = b"", 0, self._off
        file = self._file
        assert file is not None
        data, pos, base = self._data, self._data_pos, self._data_base
        size = len(data)
        seg_size = segment.size
        unpack_from, checksum, append = HEADER.unpack_from, crc32, records.append
        taken = len(records)
        bad = 0
        full = False
        while True:
            if pos + HEADER_SIZE <= size:
                length, crc = unpack_from(data, pos)
                end = pos + HEADER_SIZE + length
                if end <= size and 0 < length <= MAX_RECORD_BYTES:
                    if nbytes + length > max_bytes and records:
                        full = True
                        break
                    payload = data[pos + HEADER_SIZE:end]
                    if checksum(payload) == crc:
                        append(payload)
                        nbytes += length
                        pos = end
                        if len(records) >= max_records:
                            full = True
                            break
                    else:
                        self._buffer._note_bad_crc(segment.seq, base + pos)
                        bad += 1
                        pos = end
                    continue
            # Slow path: the next frame is not wholly in memory (or its header is nonsense).
            if base + pos >= seg_size:
                break
            if pos + HEADER_SIZE <= size:
                length = unpack_from(data, pos)[0]
                if not 0 < length <= MAX_RECORD_BYTES:
                    self._lose_rest(segment, base + pos, f"impossible record length {length}")
                    return nbytes, False
                missing = pos + HEADER_SIZE + length - size
            else:
                missing = pos + HEADER_SIZE - size
            available = seg_size - (base + size)
            if missing > available:
                self._lose_rest(segment, base + pos, "a record runs past the end of the segment")
                return nbytes, False
            more = file.read(min(available, max(missing, READ_BLOCK_BYTES)))
            if len(more) < missing:
                self._lose_rest(segment, base + pos, "the file is shorter than written")
                return nbytes, False
            data = data[pos:] + more if pos < size else more
            base += pos
            pos = 0
            size = len(data)
        self._data, self._data_pos, self._data_base = data, pos, base
        self._off = base + pos
        self._index += len(records) - taken + bad
        return nbytes, full

    def _take_recent(self, group: _RecentGroup, skip: int, records: list[bytes], max_records: int,
                     max_bytes: int, nbytes: int) -> tuple[int, bool]:
        """``_take`` from an append still in memory, from its record ``skip`` on: same records, no file
        read, no CRC to check."""
        available = len(group.records) - skip
        chosen = group.records[skip:skip + max_records - len(records)]
        payload = sum(map(len, chosen))
        if nbytes + payload > max_bytes:
            payload = fitting = 0
            for record in chosen:
                if nbytes + payload + len(record) > max_bytes and (records or fitting):
                    break
                payload += len(record)
                fitting += 1
            chosen = chosen[:fitting]
        nbytes += payload
        records.extend(chosen)
        self._off += payload + HEADER_SIZE * len(chosen)
        self._index += len(chosen)
        self._seek_needed = True  # the file position no longer matches: seek before the next file read
        return nbytes, len(chosen) < available or len(records) >= max_records

    def _open(self, segment: _Segment) -> bool:
        self._close_file()
        try:
            file = open(segment.path, "rb")  # noqa: SIM115 - kept open across reads
            file.seek(self._off)
        except OSError as exc:
            self._lose_rest(segment, self._off, f"cannot open: {exc.strerror}")
            return False
        self._file, self._file_seq = file, segment.seq
        self._data, self._data_pos, self._data_base = b"", 0, self._off
        self._seek_needed = False
        return True

    def _lose_rest(self, segment: _Segment, offset: int, why: str) -> None:
        self._buffer._note_lost_framing(segment, offset, why)
        self._close_file()
        self._off = segment.size
        self._index = segment.end_index

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._file_seq = None, -1
        self._data, self._data_pos, self._data_base = b"", 0, 0

    def _enter(self, segment: _Segment) -> None:
        self._close_file()
        self._seq, self._off, self._index = segment.seq, 0, segment.first_index

    def _skip_missing(self) -> None:
        """The read position's segment is gone (dropped, or reclaimed before a rewind): go to the next."""
        for segment in self._buffer._segments.values():
            if segment.seq > self._seq:
                self._enter(segment)
                return
        raise AssertionError("the write segment always exists")  # pragma: no cover

    def _skip_to(self, segment: _Segment) -> None:
        """A segment before ``segment`` was dropped: nothing before ``segment`` is readable any more."""
        if self._acked_index < segment.first_index:
            self._acked_seq, self._acked_off, self._acked_index = segment.seq, 0, segment.first_index
            inflight = self._inflight
            while inflight and inflight[0].end_index <= segment.first_index:
                inflight.popleft()  # their records are gone; a late ack of them is harmless
        if self._index < segment.first_index or self._seq < segment.seq:
            self._enter(segment)

    def _advance_silently(self, end: tuple[int, int], end_index: int) -> None:
        """Move the acknowledged position over frames that produced no records."""
        if self._inflight:
            last = self._inflight[-1]  # applied when that chunk's turn comes
            last.end, last.end_index = end, end_index
        else:
            self._acked_seq, self._acked_off = end
            self._acked_index = end_index
            self._buffer._reclaim()

    def ack(self, chunk: ReadChunk) -> None:
        """Record a final outcome for every record of ``chunk``; chunks may be acknowledged in any order.

        Acknowledging a chunk twice, an empty chunk, or a chunk read before ``rewind()`` does nothing.
        """
        if chunk.epoch != self._epoch or chunk.acked:
            return
        chunk.acked = True
        # The chunk may wait here behind an older one still being retried: keep its position only, not
        # its records (otherwise a store that answers again after an outage makes memory grow).
        chunk.records = []
        inflight = self._inflight
        if not inflight or not inflight[0].acked:
            return
        while inflight and inflight[0].acked:
            done = inflight.popleft()
            if done.end_index > self._acked_index or (
                    done.end_index == self._acked_index and done.end > (self._acked_seq, self._acked_off)):
                self._acked_seq, self._acked_off = done.end
                self._acked_index = done.end_index
        self._buffer._reclaim()
        self._buffer._ledger_moved()  # durable within LEDGER_DELAY_SECONDS

    def rewind(self) -> None:
        """Forget read-but-unacknowledged chunks: they are read again; their late acks are ignored."""
        self._epoch = next(_epochs)
        self._inflight.clear()
        self._close_file()
        self._seq, self._off, self._index = self._acked_seq, self._acked_off, self._acked_index
        self._event.set()

    @property
    def pending(self) -> int:
        """Records not yet acknowledged by this sink."""
        return self._buffer._next_index - self._acked_index

    # --- backlog limits (``logship.ship.backlog``): how far behind the sink is; giving up the oldest ------

    def backlog_bytes(self) -> int:
        """Bytes (framed, as on disk) from the acknowledged position to the end of the buffer."""
        segments = self._buffer._segments
        total = sum(segment.size for segment in segments.values() if segment.seq >= self._acked_seq)
        return max(total - (self._acked_off if self._acked_seq in segments else 0), 0)

    def give_up_points(self) -> list[tuple[int, int]]:
        """(sequence, bytes from its start to the end of the buffer) of each segment after the one holding
        the acknowledged position, oldest first: where ``give_up_before`` can move that position to."""
        points: list[tuple[int, int]] = []
        behind = 0
        for segment in reversed(self._buffer._segments.values()):
            if segment.seq <= self._acked_seq:
                break
            behind += segment.size
            points.append((segment.seq, behind))
        points.reverse()
        return points

    def first_pending(self) -> bytes | None:
        """The oldest record not acknowledged yet (None when there is none or it cannot be read)."""
        if self._acked_index >= self._buffer._next_index:
            return None
        return self._peek(self._acked_seq, self._acked_off, self._acked_index)

    def first_record(self, seq: int) -> bytes | None:
        """The first record of segment ``seq`` (None when it has none or it cannot be read)."""
        segment = self._buffer._segments.get(seq)
        if segment is None or not segment.count:
            return None
        return self._peek(seq, 0, segment.first_index)

    def _peek(self, seq: int, offset: int, index: int) -> bytes | None:
        group = self._buffer._recent_group(index)
        if group is not None:
            return group.records[index - group.index]
        segment = self._buffer._segments.get(seq)
        if segment is None:
            return None
        if offset >= segment.size:  # at the end of a sealed segment: the record is the next one's first
            return self.first_record(segment.next) if segment.next is not None else None
        try:
            with open(segment.path, "rb") as file:
                file.seek(offset)
                header = file.read(HEADER_SIZE)
                length, crc = HEADER.unpack(header)
                payload = file.read(length) if 0 < length <= MAX_RECORD_BYTES else b""
        except (OSError, ValueError):  # struct.error is a ValueError: a short read
            return None
        return payload if len(payload) == length and crc32(payload) == crc else None

    def give_up_before(self, seq: int) -> int:
        """Give up every unacknowledged record before segment ``seq``: they get no delivery (the caller
        counts them). Read-but-unacknowledged chunks are forgotten as by ``rewind``. The position moves by
        the same path as an acknowledgement (ledger, reclaiming). Returns the number of records given up."""
        segment = self._buffer._segments.get(seq)
        if segment is None or segment.first_index <= self._acked_index:
            return 0
        self.rewind()
        start, start_index = (self._acked_seq, self._acked_off), self._acked_index
        self._enter(segment)
        given_up = ReadChunk([], 0, start, (segment.seq, 0), start_index, segment.first_index, self._epoch)
        self._inflight.append(given_up)
        self.ack(given_up)
        return segment.first_index - start_index
