"""One owner for every buffer file descriptor: an fsync in a worker thread is never handed a descriptor
that the event loop closes meanwhile (issue 12, point 2).

Regression: ``_fsync_once`` gave the write segment's own descriptor to a worker thread; a roll (the
descriptor becomes a sealed segment's) plus a full acknowledgement (the sealed segment is deleted and
its descriptor closed) while the fsync ran made it fail with ``EBADF``, or, had the number been reused
by then, fsync another file.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from tests.buffer.buffer_helpers import Opener, drain, record


async def test_a_segment_deleted_while_its_fsync_runs_does_not_pull_the_descriptor_away(
        open_buffer: Opener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = await open_buffer(fsync_interval=3600, segment_bytes=1024)  # only explicit syncs
    entered = threading.Event()
    release = threading.Event()
    seen: list[tuple[int, int]] = []  # (inode at entry, inode when fsynced) of each descriptor
    real_fsync, real_close = os.fsync, os.close
    busy: set[int] = set()  # descriptors inside an fsync now
    closed_while_fsynced: list[int] = []

    def slow_fsync(fd: int) -> None:
        inode = os.fstat(fd).st_ino
        busy.add(fd)
        if not entered.is_set():
            entered.set()
            assert release.wait(10)  # the event loop rolls and deletes meanwhile
        seen.append((inode, os.fstat(fd).st_ino))
        busy.discard(fd)
        real_fsync(fd)

    def watched_close(fd: int) -> None:
        if fd in busy:
            closed_while_fsynced.append(fd)
        real_close(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    monkeypatch.setattr(os, "close", watched_close)
    first = [record(i) for i in range(5)]
    await buffer.append(first)
    first_segment = next(iter(buffer._log.segments.values())).path
    sync = asyncio.create_task(buffer.sync())
    await asyncio.to_thread(entered.wait, 10)  # the worker thread is inside fsync of segment 0

    # A roll (segment 0 is sealed) and a full acknowledgement (segment 0 is deleted, its fd closed).
    await buffer.append([record(i, 900) for i in range(5, 7)])
    assert len(buffer._log.segments) > 1
    assert await drain(buffer.reader("a")) == first + [record(i, 900) for i in range(5, 7)]
    assert not first_segment.exists()
    # Take the lowest free descriptor numbers, as any other open would: were the fsync's descriptor
    # closed, one of these would now carry its number.
    decoys = [os.open(tmp_path / f"decoy-{i}", os.O_WRONLY | os.O_CREAT) for i in range(4)]
    try:
        release.set()
        await asyncio.wait_for(sync, 10)  # failed with EBADF before (or fsynced a decoy)
    finally:
        for fd in decoys:
            os.close(fd)
    assert closed_while_fsynced == []
    assert seen and all(entry == fsynced for entry, fsynced in seen), seen
