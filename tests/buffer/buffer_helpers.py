"""Helpers of the disk-buffer tests (imported as ``buffer_helpers``: the test directory is on sys.path)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from logship.buffer import BufferReader, DiskBuffer
from logship.config import BufferConfig


def make_config(directory: Path, **overrides: object) -> BufferConfig:
    """A small buffer: 1 KiB segments so that a few records span several segments."""
    values: dict[str, object] = {
        "directory": directory, "max_bytes": 1024 * 1024, "when_full": "block", "segment_bytes": 1024,
        "fsync": "interval", "fsync_interval": 0.05,
    }
    values.update(overrides)
    return BufferConfig(**values)  # type: ignore[arg-type]


def record(i: int, size: int = 100) -> bytes:
    """A recognisable NDJSON record of about ``size`` bytes."""
    head = b'{"n":%d,"pad":"' % i
    return head + b"x" * max(0, size - len(head) - 2) + b'"}'


async def drain(reader: BufferReader, max_records: int = 7, max_bytes: int = 1 << 20,
                ack: bool = True) -> list[bytes]:
    """Read (and ack) everything available now."""
    out: list[bytes] = []
    while True:
        chunk = reader.read(max_records, max_bytes)
        if not chunk.records and not await reader.wait(0):
            return out
        out.extend(chunk.records)
        if ack:
            reader.ack(chunk)


async def abandon(buffer: DiskBuffer) -> None:
    """Simulate kill -9: stop the background task and drop file descriptors without any final write."""
    if buffer._task is not None:
        buffer._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await buffer._task
    await buffer._ledgers.stop()
    buffer._log.close_descriptors()
    buffer._closed = True
    buffer._retention.close()
    for reader in buffer._reader_list:
        reader.close()


Opener = Callable[..., Awaitable[DiskBuffer]]
