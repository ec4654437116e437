"""The supervisor keeps one tailer per container and survives a tailer's bug."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from logship.collect.checkpoint import CheckpointStore
from logship.collect.discovery import Supervisor
from logship.metrics import Metrics


class FakeTailer:
    """Stands in for a Tailer: runs until told to stop; fails once when asked to."""

    def __init__(self, container_id: str, fail_once: bool = False) -> None:
        self.container_id = container_id
        self.name = container_id
        self.state = "following"
        self.runs = 0
        self._fail_once = fail_once
        self._stop = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        if self._fail_once:
            self._fail_once = False
            raise RuntimeError("a bug")
        await self._stop.wait()

    def request_stop(self) -> bool:
        self._stop.set()
        return False

    def mark_removed(self) -> None:
        self.state = "removed"
        self._stop.set()


async def test_one_tailer_per_container_and_a_crash_restarts_it(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    checkpoints = CheckpointStore(tmp_path / "checkpoints.json")
    made: dict[str, FakeTailer] = {}

    def make(container_id: str) -> FakeTailer:
        made[container_id] = FakeTailer(container_id, fail_once=container_id == "bad")
        return made[container_id]

    async with asyncio.TaskGroup() as group:
        supervisor = Supervisor(group, make, checkpoints, metrics, inotify_limit=1000)  # type: ignore[arg-type]
        assert supervisor.ensure("a") is supervisor.ensure("a")
        supervisor.ensure("bad")
        await asyncio.sleep(1.5)  # the crashed tailer is restarted after a short backoff
        assert made["bad"].runs == 2
        assert metrics.registry.get_sample_value("logship_tailer_errors_total", {"reason": "crash"}) == 1
        assert metrics.registry.get_sample_value("logship_containers_followed") == 2
        await supervisor.stop(timeout=1)
    assert not supervisor.tailers
    assert "tailer of container bad failed" in caplog.text


async def test_removed_container_loses_its_checkpoint(tmp_path: Path) -> None:
    from logship.collect.positions import Mark

    checkpoints = CheckpointStore(tmp_path / "checkpoints.json")
    checkpoints.advance("gone", {"stdout": Mark(b"2026-11-25T16:37:09.305268574Z", 1)})
    async with asyncio.TaskGroup() as group:
        supervisor = Supervisor(group, FakeTailer, checkpoints, Metrics(), inotify_limit=1000)  # type: ignore[arg-type]
        supervisor.ensure("gone")
        await asyncio.sleep(0)
        supervisor.removed("gone")
        await asyncio.sleep(0.1)
    assert "gone" not in checkpoints.container_ids()


async def test_warns_once_near_the_inotify_limit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with asyncio.TaskGroup() as group:
        supervisor = Supervisor(group, FakeTailer, CheckpointStore(tmp_path / "c.json"), Metrics(),  # type: ignore[arg-type]
                                inotify_limit=12)
        for index in range(10):
            supervisor.ensure(f"c{index}")
        await supervisor.stop(timeout=1)
    warnings = [r for r in caplog.records if "max_user_instances" in r.getMessage()]
    assert len(warnings) == 1
    assert "sysctl -w fs.inotify.max_user_instances=" in warnings[0].getMessage()
