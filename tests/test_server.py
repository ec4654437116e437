"""/metrics, /readyz and /healthz of a running agent; `logship status` and `logship check` as a user runs them."""

from __future__ import annotations

import asyncio
import struct
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from logship.agent import Agent
from logship.config import load
from logship.status import render
from tests.fakes.fake_engine import FakeEngine
from tests.support import IN_CI, run_logship

TS = "2026-11-25T16:37:09.{:09d}Z"


def frames(lines: list[str], start: int = 0) -> bytes:
    body = b""
    for index, line in enumerate(lines, start):
        payload = f"{TS.format(index)} {line}\n".encode()
        body += struct.pack(">BxxxL", 1, len(payload)) + payload
    return body


@pytest.fixture
async def agent_and_engine(tmp_path: Path) -> AsyncIterator[tuple[Agent, FakeEngine, str]]:
    engine = FakeEngine(tmp_path / "docker.sock")
    await engine.start()
    config = load({"DOCKER_HOST": engine.docker_host, "LOGSHIP_DATA_DIR": str(tmp_path / "data"),
                   "LOGSHIP_LISTEN": "127.0.0.1:0", "LOGSHIP_BATCH_MAX_WAIT": "100ms",
                   "LOGSHIP_BUFFER_FSYNC_INTERVAL": "100ms"})
    agent = Agent(config)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await asyncio.wait_for(agent.started.wait(), 10)
    yield agent, engine, agent.server.url
    stop.set()
    await asyncio.wait_for(task, 15)
    await engine.close()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page, parsed by prometheus_client's own parser."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def eventually(predicate, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.1)


async def test_metrics_parse_and_move_as_lines_flow(agent_and_engine: tuple[Agent, FakeEngine, str]) -> None:
    _agent, engine, url = agent_and_engine
    status, text = await get(f"{url}/metrics")
    assert status == 200
    before = samples(text)
    assert before[("logship_lines_shipped_total", (("sink", "file"),))] == 0

    engine.add_container("web", running=False, logs=frames([f"line {i}" for i in range(25)]))
    engine.push_event(engine.container_event(engine.containers[next(iter(engine.containers))], "start"))

    async def shipped() -> dict | None:
        current = samples((await get(f"{url}/metrics"))[1])
        return current if current.get(("logship_lines_shipped_total", (("sink", "file"),))) == 25 else None

    after = await eventually(shipped)
    assert after[("logship_lines_read_total", (("service", "web"), ("stream", "stdout")))] == 25
    assert after[("logship_buffer_lines_written_total", ())] == 25
    assert after[("logship_buffer_bytes", ())] > 0
    assert after[("logship_containers_followed", ())] == 1
    status, body = await get(f"{url}/debug/tailers")
    assert status == 200 and '"name": "web"' in body


async def test_readyz_follows_the_engine_socket(agent_and_engine: tuple[Agent, FakeEngine, str],
                                                tmp_path: Path) -> None:
    _agent, engine, url = agent_and_engine

    async def ready() -> bool:
        return (await get(f"{url}/readyz"))[0] == 200

    async def unready() -> bool:
        return (await get(f"{url}/readyz"))[0] == 503

    await eventually(ready)
    assert (await get(f"{url}/healthz")) == (200, "ok\n")
    await engine.close()  # the socket goes away
    await eventually(unready)
    _status, body = await get(f"{url}/readyz")
    assert '"connected": false' in body
    assert (await get(f"{url}/healthz"))[0] == 200  # alive all the same
    await engine.start()
    await eventually(ready, timeout=30)


def test_status_table_renders_what_an_operator_needs() -> None:
    readiness = {"ready": True, "engine": {"connected": True, "error": ""},
                 "buffer": {"open": True, "max_bytes": 1024**3, "bytes": 3 * 1024**2, "segments": 2,
                            "records_pending": {"file": 12}},
                 "sinks": {"file": {"last_outcome": "delivered", "last_error": None, "in_flight": 1}}}
    tailers = {"abc": {"name": "web.1.x", "state": "following", "last_error": "",
                       "checkpoint": {"stdout": ["2026-11-25T16:37:09.000000000Z", 1]}}}
    now = 1795624629.5 + 0.0  # 2026-11-25T16:37:09.5Z
    text = render(readiness, tailers, now=now)
    assert "engine      connected" in text
    assert "3.0 MiB in 2 segment(s) (0.3% of 1.0 GiB)" in text
    assert "sink file   delivered, 1 in flight, 12 records pending" in text
    assert "web.1.x" in text and "following" in text and "0.5s ago" in text


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_logship(*args, env=env, timeout=60)


async def test_status_command_against_a_running_agent(agent_and_engine: tuple[Agent, FakeEngine, str]) -> None:
    _agent, _engine, url = agent_and_engine
    result = await asyncio.to_thread(run_cli, "status", "--url", url, env={})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "engine      connected" in result.stdout
    assert "sink file" in result.stdout


def test_status_command_without_an_agent_says_so() -> None:
    result = run_cli("status", "--url", "http://127.0.0.1:9", env={})
    assert result.returncode == 1
    assert "cannot read the agent's status at http://127.0.0.1:9" in result.stdout


@pytest.fixture
def engine_env(tmp_path: Path) -> dict[str, str]:
    """A real engine is needed for `check` to pass: the machine's dockerd."""
    if not Path("/var/run/docker.sock").exists():
        pytest.fail("logship check needs the Docker engine") if IN_CI else pytest.skip("no engine")
    return {"LOGSHIP_DATA_DIR": str(tmp_path / "data"), "DOCKER_HOST": "unix:///var/run/docker.sock"}


def test_check_with_everything_right(engine_env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli("check", env={**engine_env, "LOGSHIP_FILE_PATH": str(tmp_path / "out.ndjson")})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["ok   configuration", "ok   engine", "ok   data dir",
                                                      "ok   sink file"]


def test_check_with_an_unknown_variable(engine_env: dict[str, str]) -> None:
    result = run_cli("check", env={**engine_env, "LOGSHIP_SINKS": "file"})
    assert result.returncode == 2
    assert result.stdout.strip() == ("FAIL configuration: LOGSHIP_SINKS: unknown variable (did you mean "
                                     "LOGSHIP_SINK?); `logship --help-config` lists them all")


def test_check_with_a_bad_duration(engine_env: dict[str, str]) -> None:
    result = run_cli("check", env={**engine_env, "LOGSHIP_BATCH_MAX_WAIT": "soon"})
    assert result.returncode == 2
    assert result.stdout.strip() == ("FAIL configuration: LOGSHIP_BATCH_MAX_WAIT='soon': expected a duration "
                                     "such as 500ms, 5s, 2m or 1h")


def test_check_with_an_unreachable_sink(engine_env: dict[str, str]) -> None:
    result = run_cli("check", env={**engine_env, "LOGSHIP_SINK": "http",
                                   "LOGSHIP_HTTP_URL": "http://127.0.0.1:9/ingest", "LOGSHIP_HTTP_TIMEOUT": "3s"})
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and failed[0].startswith("FAIL sink http: http://127.0.0.1:9/: cannot connect"), failed
    assert "ok   engine" in result.stdout
