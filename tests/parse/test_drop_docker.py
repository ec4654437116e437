"""LOGSHIP_DROP / label logship.drop with a real container and logship: dropped lines are counted, never
shipped, and the container's checkpoint moves past them although nothing was stored (issue 14, point 6)."""

from __future__ import annotations

import orjson
import pytest

from tests.support import DockerHarness, LogshipProcess, wait_until

pytestmark = pytest.mark.docker


def test_a_container_whose_lines_are_all_dropped_is_checkpointed(docker: DockerHarness,
                                                                 logship: LogshipProcess) -> None:
    logship.start()
    logship.health_url()
    name = f"drop-{docker.run_id}"
    container = docker.run("for i in 1 2 3; do echo \"GET /health 200 $i\"; done", name=name,
                           labels={"logship.drop": "^GET /health"})
    assert container.wait(timeout=30)["StatusCode"] == 0
    wait_until(lambda: logship.metric("logship_lines_filtered_total", reason="drop") == 3, 30,
               message="3 lines dropped")
    assert logship.stop() == 0
    assert logship.messages(name) == []
    checkpoints = orjson.loads((logship.data_dir / "checkpoints.json").read_bytes())
    logs = container.logs(timestamps=True).decode().splitlines()
    last = logs[-1].split(" ", 1)[0]
    assert checkpoints["containers"][container.id]["stdout"] == [last, 1]
