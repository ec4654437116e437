"""A container listed between ``docker run``'s create and its start (the agent's first list of containers
races the run): its inspect says "created", not running, yet its first lines may already be served. They
are not its last: a multiline event they leave open stays held and is joined with what the container
logs once followed, not cut as at the end of a container that has run and stopped (a CI run of
``tests/parse/test_event_ends_docker.py::test_shutdown_stores_a_held_trace`` saw a held trace stored
before its timeout, as this race would store it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.collect.test_malformed_frames import SETTLE_SECONDS, STDOUT, frame, running_agent
from tests.fakes.fake_engine import FakeEngine

HALF = [b"Traceback (most recent call last):", b'  File "/app/worker.py", line 41, in <module>', b"    main()"]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[FakeEngine]:
    async with FakeEngine(tmp_path / "docker.sock") as fake:
        yield fake


async def test_a_trace_read_before_the_start_event_is_joined_with_what_follows(engine: FakeEngine,
                                                                               tmp_path: Path) -> None:
    first = frame(STDOUT, b"ready\n", 0) + b"".join(frame(STDOUT, line + b"\n", 1 + n) for n, line in enumerate(HALF))
    container = engine.add_container("created-then-started", running=False, logs=first,
                                     labels={"logship.multiline.timeout": "10m"})
    container.created = True  # every logs request serves these first lines again, as dockerd replays from since
    async with running_agent(engine, tmp_path) as agent:
        assert await agent.wait_for_messages(container, 1) == ["ready"]
        await asyncio.sleep(SETTLE_SECONDS)
        assert agent.messages(container) == ["ready"]  # the trace is held, not cut at the end of the read
        engine.start_container(container.id)
        await agent.wait_for(lambda: any(r.follow for r in engine.requests_for(container.id)), "the follow stream")
        more = frame(STDOUT, b"ValueError: boom\n", 4) + frame(STDOUT, b"next\n", 5)
        engine.set_logs(container.id, first + more)  # what its log holds from now on (read again after a stop)
        await engine.feed_logs(container.id, more)
        engine.stop_container(container.id)  # its end ships the last event
        messages = await agent.wait_for_messages(container, 3)
    assert messages == ["ready", "\n".join(line.decode() for line in [*HALF, b"ValueError: boom"]), "next"]
