"""The ``file`` sink, the Sink class: send, healthcheck, aclose.

The wire format and the answers are described in ``logship.sinks.file``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from logship.files import write_all
from logship.ship.outcome import DELIVERED, Outcome, RetryReason, retry
from logship.sinks.base import Batch, SinkError
from logship.sinks.file.encode import encode
from logship.sinks.file.spec import FileSinkConfig


def _write_and_sync(fd: int, pieces: list[bytes]) -> None:
    for piece in pieces:
        write_all(fd, piece)
    os.fsync(fd)


class FileSink:
    """Appends batches to an NDJSON file, rotated by size."""

    name = "file"
    # Batches must land in order: one in flight.
    concurrency = 1

    def __init__(self, config: FileSinkConfig) -> None:
        self.config = config
        self._fd: int | None = None
        self._size = 0

    async def start(self) -> None:
        self.config.path.parent.mkdir(parents=True, exist_ok=True)
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.config.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._size = os.fstat(self._fd).st_size

    async def send(self, batch: Batch) -> Outcome:
        pieces = encode(batch)
        size = sum(map(len, pieces))
        try:
            if self._fd is None:
                self._open()
            if self._size and self._size + size > self.config.max_bytes:
                self._rotate()
            assert self._fd is not None
            # Off the event loop: copying a batch of a few MiB into the page cache takes milliseconds, in
            # which dockerd's send buffers (a few hundred lines each) would fill and its readers stall.
            await asyncio.to_thread(_write_and_sync, self._fd, pieces)
            self._size += size
        except OSError as exc:
            # Disk full, folder gone: the records stay in the buffer and are written again.
            self._close()
            return retry(RetryReason.WRITE, detail=f"{self.config.path}: {exc.strerror or exc}")
        return DELIVERED

    def _rotate(self) -> None:
        self._close()
        path = self.config.path
        for index in range(self.config.keep, 0, -1):
            source = path if index == 1 else Path(f"{path}.{index - 1}")
            if source.exists():
                os.replace(source, f"{path}.{index}")
        self._open()

    async def healthcheck(self) -> None:
        folder = self.config.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create {folder}: {exc.strerror}", retriable=False) from exc
        if not os.access(folder, os.W_OK):
            raise SinkError(f"{folder} is not writable", retriable=False)

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def aclose(self) -> None:
        self._close()
