"""Containers restarting, being removed, and dockerd itself restarting while logship runs.

Named to run last in its folder: restarting dockerd stops every container for a moment.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import time
from pathlib import Path

import docker as docker_sdk
import orjson
import pytest

from tests.support import DockerHarness, LogshipProcess, wait_until

pytestmark = pytest.mark.docker

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


def restart_dockerd(client: docker_sdk.DockerClient) -> None:
    """Stop dockerd with SIGTERM and start it again with the same command line."""
    pid = int(subprocess.check_output(["pidof", "dockerd"]).split()[0])
    command = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), 60, message="dockerd stopped")
    log = open("/var/log/logship-ci/dockerd.log" if Path("/var/log/logship-ci").is_dir() else os.devnull, "ab")  # noqa: SIM115
    subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    log.close()

    def answers() -> bool:
        try:
            return bool(client.ping())
        except Exception:
            return False

    wait_until(answers, 60, message="dockerd answers again")


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
