"""The `file` sink: NDJSON records appended to a file, fsynced before they count as delivered.

Rotation by size: when ``PATH`` would grow past ``max_bytes``, it becomes ``PATH.1`` (``PATH.1``
becomes ``PATH.2``, …) and a new ``PATH`` starts; at most ``keep`` rotated files are kept.
Records are written whole: a rotation never splits a batch's record in two files.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from logship.config import FileSinkConfig
from logship.ship.outcome import DELIVERED, Outcome, retry
from logship.sinks.base import Batch, SinkError


def encode(batch: Batch) -> bytes:
    """NDJSON: one record per line."""
    return b"\n".join(batch.records) + b"\n"


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
        data = encode(batch)
        try:
            if self._fd is None:
                self._open()
            if self._size and self._size + len(data) > self.config.max_bytes:
                self._rotate()
            assert self._fd is not None
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            self._size += len(data)
            await asyncio.to_thread(os.fsync, self._fd)
        except OSError as exc:
            # Disk full, folder gone: the records stay in the buffer and are written again.
            self._close()
            return retry(f"write {self.config.path}: {exc.strerror or exc}")
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
