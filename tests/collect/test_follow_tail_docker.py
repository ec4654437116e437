"""Once it has read something, a tailer asks for the log's last entries only (``tail``, see
``logship.collect.window``), so dockerd does not read the whole log again to find ``since``: the follow
stream after its catch-up, and the catch-up of a tailer that resumes from a checkpoint (a restart of
logship). When the window does not reach back to what was read, the stream is dropped unread and read again
with a wider window. Either way every line arrives once, in order.

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
from logship.collect.tailer import Tailer
from logship.collect.window import FIRST, GROWTH, WIDEST, Windows
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


async def tail_container(tmp_path: Path, container_id: str, first: int, total: int,
                         before_tailed: Callable[[], None] | None = None,
                         checkpoints: CheckpointStore | None = None) -> tuple[Collected, list[tuple[bool, int | None]]]:
    """Run a tailer (first window ``first``) on the container until ``total`` lines have arrived; its
    records and its requests. ``checkpoints``: where an earlier tailer left off."""
    collected = Collected()
    async with EngineClient(load({"LOGSHIP_DATA_DIR": str(tmp_path)}).engine) as client:
        engine = RecordingEngine(client, before_tailed)
        tailer = Tailer(container_id, engine, no_fields, collected,  # type: ignore[arg-type]
                        checkpoints or CheckpointStore(tmp_path / "checkpoints.json"), 1 << 20, Metrics(),
                        windows=Windows(first))
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
    """Whether the container's stderr has reached ``err <lines>``. (Its whole stderr: dockerd applies ``tail``
    before choosing the streams, and stdout's and stderr's entries reach the log in runs of either.)"""
    numbers = container.logs(stdout=False, stderr=True).split()[1::2]
    return bool(numbers) and int(numbers[-1]) >= lines


def expected(total: int) -> dict[str, list[str]]:
    return {"stdout": [f"out {i}" for i in range(1, total + 1)], "stderr": [f"err {i}" for i in range(1, total + 1)]}


async def test_the_follow_stream_after_a_catch_up_asks_for_the_last_entries_only(
        docker: DockerHarness, tmp_path: Path) -> None:
    after = 2_000
    container = docker.run(writer(after, "usleep 1000"))
    wait_until(lambda: written(container, BACKLOG), 60, message="the backlog written")
    collected, requests = await tail_container(tmp_path, container.id, FIRST, 2 * (BACKLOG + after))
    assert collected.messages == expected(BACKLOG + after)
    # The catch-up reads the log from its start; the follow stream then asks for its last entries only.
    assert requests == [(False, None), (True, FIRST)]


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
    # Caught up; followed with a window that did not reach back; caught up again with windows GROWTH
    # times wider each until one reached back (how many depends on how fast the container writes);
    # followed without a window.
    assert requests[:2] == [(False, None), (True, 1)]
    assert requests[-1] == (True, None)
    catch_ups = requests[2:-1]
    widths = [1 * GROWTH**n for n in range(4) if GROWTH**n <= WIDEST] + [None]
    assert catch_ups == [(False, width) for width in widths[:len(catch_ups)]] and catch_ups


async def test_a_tailer_that_resumes_from_a_checkpoint_reads_the_last_entries_only(
        docker: DockerHarness, tmp_path: Path) -> None:
    # A first tailer reads the backlog and stops (logship stops); the container writes on meanwhile; a
    # second tailer starts from the checkpoint the first left.
    pause = 1_000
    script = (f'i=1; while [ $i -le {BACKLOG} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; '
              "while [ ! -e /tmp/more ]; do usleep 10000; done; "
              f'while [ $i -le {BACKLOG + pause} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; '
              "exec sleep 3600")
    container = docker.run(script)
    wait_until(lambda: written(container, BACKLOG), 60, message="the backlog written")
    checkpoints = CheckpointStore(tmp_path / "checkpoints.json")
    first, _ = await tail_container(tmp_path, container.id, FIRST, 2 * BACKLOG, checkpoints=checkpoints)
    assert first.messages == expected(BACKLOG)
    container.exec_run(["touch", "/tmp/more"])
    wait_until(lambda: written(container, BACKLOG + pause), 30, message="the lines written while logship was down")
    second, requests = await tail_container(tmp_path, container.id, FIRST, 2 * pause, checkpoints=checkpoints)
    assert second.messages == {stream: lines[BACKLOG:] for stream, lines in expected(BACKLOG + pause).items()}
    # 2,000 entries were written meanwhile: the first window (1,000) misses, the next one reaches back.
    assert requests == [(False, FIRST), (False, FIRST * GROWTH), (True, FIRST)]
