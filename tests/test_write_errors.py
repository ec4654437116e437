"""WriteErrors: failed writes counted per errno, one log line per episode, the episode in /readyz."""

from __future__ import annotations

import asyncio
import errno
import logging

import pytest

from logship import write_errors
from logship.metrics import Metrics
from logship.status import render
from logship.write_errors import CHECKPOINTS, TAILER, WriteErrors


async def test_a_flapping_disk_is_one_episode_logged_once(caplog: pytest.LogCaptureFixture,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(write_errors, "SETTLE_SECONDS", 0.05)
    metrics = Metrics()
    errors = WriteErrors(metrics)
    full = OSError(errno.ENOSPC, "No space left on device")
    with caplog.at_level(logging.INFO, "logship.writes"):
        for _ in range(3):  # fails, works, fails: nearly full
            errors.failed(TAILER, "c1", full, "to the buffer")
            errors.failed(CHECKPOINTS, "", OSError(errno.EROFS, "Read-only file system"), "checkpoints")
            assert errors.status() | {"seconds": 0} == {
                "failing": True, "paused_tailers": 1, "checkpoints_failing": True, "seconds": 0,
                "last_error": "checkpoints: [Errno 30] Read-only file system"}
            errors.cleared(TAILER, "c1")
            errors.cleared(CHECKPOINTS, "")
            assert errors.failing  # not settled yet
        await asyncio.sleep(0.2)
    assert not errors.failing and errors.status()["last_error"] == ""
    assert [record.levelname for record in caplog.records] == ["ERROR", "WARNING"]
    sample = metrics.registry.get_sample_value
    assert sample("logship_buffer_write_errors_total", {"errno": "ENOSPC"}) == 3
    assert sample("logship_buffer_write_errors_total", {"errno": "EROFS"}) == 3


def test_status_table_shows_failing_writes() -> None:
    readiness = {"ready": False, "engine": {"connected": True}, "buffer": {}, "sinks": {},
                 "writes": {"failing": True, "paused_tailers": 2, "checkpoints_failing": True, "seconds": 12.3,
                            "last_error": "to the buffer: [Errno 28] No space left on device"}}
    text = render(readiness, {})
    assert "ready       NO" in text
    assert ("writes      FAILING for 12s: 2 tailer(s) paused, checkpoints not saved; to the buffer: [Errno 28] No "
            "space left on device") in text
