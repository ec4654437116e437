"""Fixtures of the disk-buffer tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from logship.buffer import DiskBuffer
from logship.metrics import Metrics
from tests.buffer.buffer_helpers import Opener, make_config


@pytest.fixture
async def open_buffer(tmp_path: Path) -> AsyncIterator[Opener]:
    """``await open_buffer(sinks=..., metrics=..., **config)`` → an opened DiskBuffer, closed afterwards."""
    opened: list[DiskBuffer] = []

    async def factory(sinks: tuple[str, ...] = ("a",), metrics: Metrics | None = None,
                      directory: Path | None = None, **overrides: object) -> DiskBuffer:
        buffer = DiskBuffer(make_config(directory or tmp_path / "buffer", **overrides), sinks,
                            metrics or Metrics())
        await buffer.open()
        opened.append(buffer)
        return buffer

    yield factory
    for buffer in opened:
        await buffer.close()  # a no-op for closed or abandoned buffers
