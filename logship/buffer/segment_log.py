"""The segment log: the buffer's segment files, their write descriptors and every fsync of them.

On disk, ``segment-<20-digit sequence>.log`` files of frames (format: ``segment``), repaired at open by
``recovery``. In memory, one ``Segment`` per file, oldest first, each knowing the index of its first
frame (``Cursor`` explains indexes) and the sequence of the one after it once sealed.

Invariants:
- Only the newest segment (``current``, the *write segment*) is ever appended to; each ``open`` starts
  a new one, so a segment recovered from a crash is never written again. A group of records is
  written with a single ``write``; the caller rolls (``needs_roll``/``roll``) before a group that
  would push the write segment past ``segment_bytes`` (a larger group gets a segment of its own).
- Sequence numbers only grow; ``next_index`` is the index the next frame gets.
- ``bytes`` is the sum of the segment file sizes (whole groups only).
- A write that fails (``ENOSPC``, ``EIO``…) leaves no partial group: the file is truncated back and
  the ``OSError`` raised to the caller; nothing in memory changes.
- One owner per file descriptor, and only the owner closes it. The log owns the write segment's
  descriptor and the sealed segments' ones not fsynced yet (a roll moves the former there; a delete
  closes it without an fsync: its unwritten pages are dropped, not written). An fsync owns what it is
  handed and closes it when done: the sealed descriptors it takes and a ``dup`` of the write one. So a
  roll plus a delete during an fsync closes only the log's descriptor, never one a worker thread is
  fsyncing (no ``EBADF``, and no fsync of another file that reused the number). Readers open their own
  read-only handles (``segment_reader``).
- ``sync`` returns once everything written before the call is fsynced; concurrent callers share one
  fsync (in a worker thread), and one caller's cancellation does not cancel it for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from logship.buffer.recovery import Recovery, read_tail, recover
from logship.buffer.segment import segment_name
from logship.files import fsync_directory, write_all
from logship.metrics import Metrics

log = logging.getLogger("logship.buffer")


class Segment:
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
        """The index just past this segment's last frame."""
        return self.first_index + self.count


class SegmentLog:
    """The segment files of one buffer directory. Use it from one event loop (``open`` in a thread)."""

    def __init__(self, directory: Path, segment_bytes: int, metrics: Metrics) -> None:
        self.directory = directory
        self._segment_bytes = segment_bytes
        self._metrics = metrics
        self.segments: dict[int, Segment] = {}  # ordered oldest first
        self.current = Segment(0, directory / segment_name(0), 0, 0, 0)  # replaced by install()
        self.bytes = 0
        self.appended_bytes = 0  # framed bytes appended since open (wakes readers: BufferReader.wait)
        self.next_index = 0
        self._fd = -1
        self._write_gen = 0  # bumped by every write; an fsync covers up to a generation
        self._synced_gen = 0
        self._sync_task: asyncio.Task[None] | None = None
        self._retired_fds: dict[int, int] = {}  # sealed segments not yet fsynced, by sequence
        self._dir_dirty = False  # a segment file was created since the last directory fsync

    # --- opening ---------------------------------------------------------------------------------

    def open(self, sinks: Sequence[str]) -> Recovery:
        """Recover the directory and create the new write segment (blocking: run it in a thread)."""
        recovery = recover(self.directory, tuple(sinks), self._metrics)
        path = self.directory / segment_name(recovery.write_seq)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o644)
        fsync_directory(self.directory)
        return recovery

    def install(self, recovery: Recovery) -> None:
        """Take the recovered segments and the new write segment into memory."""
        index = 0
        previous: Segment | None = None
        for found in recovery.segments:
            segment = Segment(found.seq, self.directory / segment_name(found.seq), found.size, found.count, index)
            index += found.count
            self.bytes += found.size
            if previous is not None:
                previous.next = segment.seq
            self.segments[segment.seq] = previous = segment
        cur = Segment(recovery.write_seq, self.directory / segment_name(recovery.write_seq), 0, 0, index)
        if previous is not None:
            previous.next = cur.seq
        self.segments[cur.seq] = self.current = cur
        self.next_index = index

    # --- writing ---------------------------------------------------------------------------------

    def needs_roll(self, size: int) -> bool:
        """Whether a group of ``size`` framed bytes must start a new segment."""
        cur = self.current
        return bool(cur.size) and cur.size + size > self._segment_bytes

    def write(self, data: bytes, count: int) -> int:
        """Append ``count`` framed records to the write segment in one write; returns the offset of the
        first. Raises OSError with the file as it was before (see the module docstring)."""
        cur = self.current
        start = cur.size
        try:
            write_all(self._fd, data)
        except OSError:
            # Never leave half a group behind: readers and recovery expect whole frames.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, start)
            raise
        cur.size += len(data)
        cur.count += count
        self.next_index += count
        self.bytes += len(data)
        self.appended_bytes += len(data)
        self._write_gen += 1
        self._metrics.buffer_bytes.set(self.bytes)
        return start

    def roll(self) -> Segment:
        """Seal the write segment and start the next one (the sealed descriptor is fsynced and closed later)."""
        old = self.current
        seq = old.seq + 1
        path = self.directory / segment_name(seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o644)
        self._retired_fds[old.seq] = self._fd
        self._fd = fd
        self._dir_dirty = True
        old.next = seq
        self.current = cur = Segment(seq, path, 0, 0, self.next_index)
        self.segments[seq] = cur
        self._metrics.buffer_segments.set(len(self.segments))
        return cur

    # --- segments --------------------------------------------------------------------------------

    @property
    def oldest(self) -> Segment:
        """The oldest segment (the write segment when it is the only one)."""
        return next(iter(self.segments.values()))

    def after(self, seq: int) -> Segment:
        """The first segment after sequence ``seq`` (there is always one: the write segment)."""
        for segment in self.segments.values():
            if segment.seq > seq:
                return segment
        raise AssertionError("the write segment always exists")  # pragma: no cover

    def delete(self, segment: Segment) -> None:
        """Delete a sealed segment (its file and, unsynced, its descriptor)."""
        del self.segments[segment.seq]
        fd = self._retired_fds.pop(segment.seq, None)
        if fd is not None:  # never fsynced, and no longer needed
            with contextlib.suppress(OSError):
                os.close(fd)
        self.bytes -= segment.size
        try:
            segment.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.error("buffer: cannot delete segment %s: %s", segment.path, exc)

    def update_gauges(self) -> None:
        """Set ``logship_buffer_bytes`` and ``logship_buffer_segments``."""
        self._metrics.buffer_bytes.set(self.bytes)
        self._metrics.buffer_segments.set(len(self.segments))

    async def scan_tail(self, newer_than: float | None, visit: Callable[[bytes], None]) -> int:
        """``recovery.read_tail`` over the sealed segments (in a thread)."""
        seqs = [segment.seq for segment in self.segments.values() if segment is not self.current]
        return await asyncio.to_thread(read_tail, self.directory, seqs, newer_than, visit)

    # --- durability ------------------------------------------------------------------------------

    async def sync(self) -> None:
        """Return once every group written before this call is fsynced (shared with other callers)."""
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
            directory = self.directory if self._dir_dirty else None
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

    async def release(self) -> None:
        """Let a running fsync finish, then close every descriptor (the buffer's close)."""
        if self._sync_task is not None:  # only if the caller's own final sync was cancelled
            with contextlib.suppress(BaseException):
                await self._sync_task
        self.close_descriptors()

    def close_descriptors(self) -> None:
        """Close the log's descriptors now (``release`` without waiting; tests simulate a kill with it)."""
        for fd in [*self._retired_fds.values(), self._fd]:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._retired_fds = {}
        self._fd = -1


def _fsync_files(fds: list[int], directory: Path | None) -> None:
    for fd in fds:
        os.fsync(fd)
    if directory is not None:
        fsync_directory(directory)
