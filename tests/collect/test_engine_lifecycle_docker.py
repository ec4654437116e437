"""Containers restarting, being removed, and dockerd itself restarting while logship runs.

Marked ``dockerd_restart``: restarting dockerd stops every container for a moment, so tests/conftest.py runs
it after every other test of the session.
"""

from __future__ import annotations

import collections
import time

import orjson
import pytest

from tests.support import DockerHarness, LogshipProcess, restart_dockerd, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.dockerd_restart]

# Each run of the container numbers its lines from 1, prefixed by a run id: a gap inside a run is a lost line.
RUN_WRITER = ("trap 'exit 0' TERM; run=$(cat /proc/sys/kernel/random/uuid); i=1; "
              "while true; do echo \"$run $i\"; i=$((i+1)); [ $((i % 20)) -eq 0 ] && usleep 20000; done")


def runs_of(messages: list[str]) -> dict[str, list[int]]:
    runs: dict[str, list[int]] = collections.defaultdict(list)
    for message in messages:
        run, number = message.split()
        runs[run].append(int(number))
    return runs


def assert_no_gaps(name: str, messages: list[str]) -> dict[str, list[int]]:
    runs = runs_of(messages)
    for run, numbers in runs.items():
        assert numbers == list(range(1, len(numbers) + 1)), f"{name} run {run}: lines lost or repeated"
    return runs


def test_restart_rm_and_dockerd_restart_lose_nothing(docker: DockerHarness, logship: LogshipProcess) -> None:
    restarted = f"restarted-{docker.run_id}"
    removed = f"removed-{docker.run_id}"
    steady = f"steady-{docker.run_id}"
    always = {"Name": "always"}
    logship.start()
    docker.run(RUN_WRITER, name=restarted, restart_policy=always)
    container_removed = docker.run(RUN_WRITER, name=removed)
    docker.run(RUN_WRITER, name=steady, restart_policy=always)
    logship.wait_for_messages(restarted, 200)

    docker.client.containers.get(restarted).restart(timeout=5)
    container_removed.remove(force=True)
    wait_until(lambda: len(runs_of(logship.messages(restarted))) == 2, 30, message="second run of the restarted")

    checkpoints = logship.data_dir / "checkpoints.json"
    wait_until(lambda: container_removed.id not in orjson.loads(checkpoints.read_bytes())["containers"], 30,
               message="checkpoint of the removed container deleted")

    before = {name: len(logship.messages(name)) for name in (restarted, steady)}
    restart_dockerd(docker.client)
    # Both come back (restart policy) and logship follows their new runs.
    for name in (restarted, steady):
        wait_until(lambda n=name: len(logship.messages(n)) > before[n] + 200, 90,
                   message=f"{name} followed after the dockerd restart")
    logship.assert_alive()
    for name in (restarted, steady):
        docker.client.containers.get(name).stop(timeout=5)
    time.sleep(2)  # the last lines written before the stop reach the output

    for name in (restarted, steady):
        logs = docker.client.containers.get(name).logs(stdout=True, stderr=True).decode().split()
        written = [f"{a} {b}" for a, b in zip(logs[::2], logs[1::2], strict=True)]
        got = logship.messages(name)
        assert_no_gaps(name, got)
        assert got == written, f"{name}: {len(got)} records for {len(written)} lines written"
    removed_runs = assert_no_gaps(removed, logship.messages(removed))
    assert len(removed_runs) == 1
    assert logship.stop() == 0
