"""Where a held event ends with a real container and logship: the timeout (the default 1s) while the
container keeps running, and logship's shutdown (issue 14, point 1)."""

from __future__ import annotations

import shlex
import time

import pytest

from tests.support import DockerHarness, LogshipProcess, wait_until

pytestmark = pytest.mark.docker

HALF = ["Traceback (most recent call last):", '  File "/app/worker.py", line 41, in <module>', "    main()"]


def printf(lines: list[str]) -> str:
    return "printf '%s\\n' " + " ".join(shlex.quote(line) for line in lines)


def test_the_timeout_ships_a_trace_that_waits_for_more(docker: DockerHarness, logship: LogshipProcess) -> None:
    logship.start()
    logship.health_url()
    name = f"timeout-{docker.run_id}"
    container = docker.run(f"{printf(HALF)}; sleep 60", name=name)
    started = time.monotonic()
    [message] = logship.wait_for_messages(name, 1, timeout=30)
    waited = time.monotonic() - started
    assert message == "\n".join(HALF)
    container.reload()
    assert container.status == "running", f"shipped only after the container stopped ({waited:.1f}s)"
    [record] = [r for r in logship.records() if r["container"]["name"] == name]
    assert record["log"]["lines"] == len(HALF)
    assert logship.stop() == 0


def test_shutdown_stores_a_held_trace(docker: DockerHarness, logship: LogshipProcess) -> None:
    logship.start()
    logship.health_url()
    name = f"shutdown-{docker.run_id}"
    docker.run(f"{printf(['ready'])}; {printf(HALF)}; sleep 60", name=name,
               labels={"logship.multiline.timeout": "10m"})
    logship.wait_for_messages(name, 1, timeout=30)
    time.sleep(1.5)  # the half trace is read and held (its timeout is 10 minutes)
    assert logship.messages(name) == ["ready"]
    assert logship.stop() == 0
    wait_until(lambda: len(logship.messages(name)) == 2, 5, message="the held trace after the shutdown")
    assert logship.messages(name) == ["ready", "\n".join(HALF)]
