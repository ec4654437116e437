"""After its catch-up a tailer follows with only the log's last entries (``tail``), so dockerd does not read
the whole log again to find ``since``; when those entries do not reach back to the catch-up, it catches up
again and follows without ``tail``. Either way every line arrives once, in order.

Real dockerd, a real ``Tailer`` in this process (its engine client records the requests it makes), a
container that keeps writing while the tailer switches from the catch-up to the follow stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from logship.collect.checkpoint import CheckpointStore
from logship.collect.tailer import FOLLOW_TAIL, Tailer
from logship.config import load
from logship.engine import EngineClient
from logship.metrics import Metrics
from tests.support import DockerHarness, wait_until

pytestmark = pytest.mark.docker

BACKLOG = 20_000


class RecordingEngine:
    """The real engine client; ``requests`` lists each logs request as (follow, tail). ``before_tailed`` runs
    when a follow stream with ``tail`` is asked for, before it is opened."""

    def __init__(self, engine: EngineClient, before_tailed: Callable[[], None] | None) -> None:
        self._engine = engine
        self._before_tailed = before_tailed
        self.requests: list[tuple[bool, int | None]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def logs(self, container_id: str, *, follow: bool, since: str, tail: int | None = None) -> Any:
        self.requests.append((follow, tail))
        if follow and tail is not None and self._before_tailed is not None:
            self._before_tailed()
        return self._engine.logs(container_id, follow=follow, since=since, tail=tail)


class Collected:
    """The tailer's record sink: keeps the messages, per stream."""

    def __init__(self) -> None:
        self.messages: dict[str, list[str]] = {"stdout": [], "stderr": []}

    async def append(self, records: list[bytes]) -> None:
        for record in records:
            fields = orjson.loads(record)
            self.messages[fields["stream"]].append(fields["message"])

    def count(self) -> int:
        return sum(map(len, self.messages.values()))


async def no_fields(inspect: dict[str, Any]) -> dict[str, Any]:
    return {}


async def tail_container(tmp_path: Path, container_id: str, follow_tail: int, total: int,
                         before_tailed: Callable[[], None] | None = None) -> tuple[
        Collected, list[tuple[bool, int | None]]]:
    """Run a tailer on the container until ``total`` lines have arrived; its records and its requests."""
    collected = Collected()
    async with EngineClient(load({"LOGSHIP_DATA_DIR": str(tmp_path)}).engine) as client:
        engine = RecordingEngine(client, before_tailed)
        tailer = Tailer(container_id, engine, no_fields, collected,  # type: ignore[arg-type]
                        CheckpointStore(tmp_path / "checkpoints.json"), 1 << 20, Metrics(), follow_tail=follow_tail)
        task = asyncio.create_task(tailer.run())
        try:
            for _ in range(1200):
                if collected.count() >= total or task.done():
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # a repeat after the last line would show now
        finally:
            if tailer.request_stop():  # as the supervisor stops it
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)
    return collected, engine.requests


def writer(after: int, pause: str) -> str:
    """``out N`` / ``err N``: the backlog at full speed, then ``after`` more lines with ``pause`` between."""
    return (f'i=1; while [ $i -le {BACKLOG} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; '
            f'while [ $i -le {BACKLOG + after} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); {pause}; done; '
            "exec sleep 3600")


def written(container: Any, lines: int) -> bool:
    """Whether the container's stderr has reached ``err <lines>``."""
    last = container.logs(stdout=False, stderr=True, tail=1).split()
    return len(last) == 2 and int(last[1]) >= lines


def expected(total: int) -> dict[str, list[str]]:
    return {"stdout": [f"out {i}" for i in range(1, total + 1)], "stderr": [f"err {i}" for i in range(1, total + 1)]}


async def test_the_follow_stream_after_a_catch_up_asks_for_the_last_entries_only(
        docker: DockerHarness, tmp_path: Path) -> None:
    after = 2_000
    container = docker.run(writer(after, "usleep 1000"))
    wait_until(lambda: written(container, BACKLOG), 60, message="the backlog written")
    collected, requests = await tail_container(tmp_path, container.id, FOLLOW_TAIL, 2 * (BACKLOG + after))
    assert collected.messages == expected(BACKLOG + after)
    # The catch-up reads the log from its start; the follow stream then asks for its last entries only.
    assert requests[:2] == [(False, None), (True, FOLLOW_TAIL)]
    assert len(requests) == 2


async def test_a_tail_that_does_not_reach_back_to_the_catch_up_is_dropped_and_the_lines_caught_up(
        docker: DockerHarness, tmp_path: Path) -> None:
    # After its backlog the container waits for /tmp/burst, then writes BURST lines per stream at once and
    # AFTER more a millisecond apart. The burst is made to happen between the catch-up's end and the follow
    # stream's start, so a tail of one entry cannot reach back to the catch-up.
    burst, after = 50, 1_000
    script = (f'i=1; while [ $i -le {BACKLOG} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; '
              "while [ ! -e /tmp/burst ]; do usleep 10000; done; "
              f'while [ $i -le {BACKLOG + burst} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; '
              f'while [ $i -le {BACKLOG + burst + after} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); '
              "usleep 1000; done; exec sleep 3600")
    container = docker.run(script)
    wait_until(lambda: written(container, BACKLOG), 60, message="the backlog written")

    def write_a_burst() -> None:
        container.exec_run(["touch", "/tmp/burst"])
        wait_until(lambda: written(container, BACKLOG + burst), 30, message="the burst written")

    total = BACKLOG + burst + after
    collected, requests = await tail_container(tmp_path, container.id, 1, 2 * total, write_a_burst)
    assert collected.messages == expected(total)
    # Caught up, followed with a tail that did not reach back, caught up again, followed without a tail.
    assert requests == [(False, None), (True, 1), (False, None), (True, None)]
