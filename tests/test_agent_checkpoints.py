"""The agent's checkpoint saver: a stop that arrives while a save runs loses no mark.

Regression: the saver used to be cancelled at stop. Cancelled after taking its snapshot (which marks the
store clean) but before writing it, the marks of that snapshot were never written, and the final save
found nothing to do: a restart collected the last lines of a container again (duplicates in a test of
issue #3 under load).
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from types import SimpleNamespace

from logship.agent import Agent
from logship.collect.checkpoint import CheckpointStore
from logship.collect.positions import Mark
from logship.metrics import Metrics
from logship.write_errors import WriteErrors

CID = "6ca5" + "a" * 60
EARLY = {"stdout": Mark(b"2026-11-25T16:37:09.000000000Z", 1)}
LAST = {"stdout": Mark(b"2026-11-25T16:37:10.000000000Z", 1)}


class SlowSyncBuffer:
    """The disk buffer's ``sync``, slow until released (an fsync on a busy disk)."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def sync(self) -> None:
        self.entered.set()
        await self.release.wait()

    def covered_index(self) -> int:
        return 0

    def checkpointed(self, index: int) -> None:
        pass


async def test_stop_during_a_save_keeps_the_last_marks(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "checkpoints.json")
    store.load()
    buffer = SlowSyncBuffer()
    metrics = Metrics()
    agent = SimpleNamespace(checkpoints=store, buffer=buffer, metrics=metrics, write_errors=WriteErrors(metrics),
                            config=SimpleNamespace(buffer=SimpleNamespace(fsync_interval=0.05)))
    agent.save_checkpoints = functools.partial(Agent.save_checkpoints, agent)
    stop = asyncio.Event()
    saver = asyncio.create_task(Agent._save_periodically(agent, stop))

    store.advance(CID, EARLY)
    await asyncio.wait_for(buffer.entered.wait(), 5)  # a periodic save has its snapshot, waits in sync
    store.advance(CID, LAST)  # the tailers' last commit, then the agent stops
    stop.set()
    await asyncio.sleep(0.1)
    buffer.release.set()
    await asyncio.wait_for(saver, 5)

    reloaded = CheckpointStore(tmp_path / "checkpoints.json")
    reloaded.load()
    assert reloaded.get(CID) == LAST


async def test_a_failed_save_is_tried_again(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "missing-dir" / "checkpoints.json")  # not created: the write fails
    buffer = SlowSyncBuffer()
    buffer.release.set()
    metrics = Metrics()
    agent = SimpleNamespace(checkpoints=store, buffer=buffer, metrics=metrics, write_errors=WriteErrors(metrics))
    store.advance(CID, LAST)
    await Agent.save_checkpoints(agent)
    (tmp_path / "missing-dir").mkdir()
    await Agent.save_checkpoints(agent)  # still dirty: written now
    assert (tmp_path / "missing-dir" / "checkpoints.json").exists()
