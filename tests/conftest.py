"""Shared fixtures: a real Docker engine, labelled test containers, a real logship process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import IN_CI, DockerHarness, LogshipProcess, wait_until

RESTARTS_DOCKERD = "dockerd_restart"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``dockerd_restart`` run after every other test of the session, whatever their file names:
    restarting dockerd stops every container, which would break the tests around them."""
    items[:] = sorted(items, key=lambda item: item.get_closest_marker(RESTARTS_DOCKERD) is not None)


@pytest.fixture(autouse=True)
def _engine_back_after_a_restart(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a ``dockerd_restart`` test, wait until the engine answers again (and the swarm, when this node
    is in one, is active), so that the next test finds the engine it expects."""
    yield
    if request.node.get_closest_marker(RESTARTS_DOCKERD) is None:
        return
    harness: DockerHarness = request.getfixturevalue("docker_harness")

    def back() -> bool:
        try:
            swarm = harness.client.info().get("Swarm", {}).get("LocalNodeState", "inactive")
        except Exception:
            return False
        return swarm in ("inactive", "active")

    wait_until(back, 120, interval=0.5, message="dockerd (and its swarm) back after the restart")


@pytest.fixture(scope="session")
def docker_harness() -> Iterator[DockerHarness]:
    """The engine the tests drive. In CI a missing engine fails the test; elsewhere it skips."""
    try:
        harness = DockerHarness.connect()
    except Exception as exc:  # any failure to reach the engine
        message = f"a Docker engine is needed: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    yield harness
    harness.close()


@pytest.fixture
def docker(docker_harness: DockerHarness) -> Iterator[DockerHarness]:
    """The harness with a fresh run label; the test's containers and services are removed after it."""
    docker_harness.run_id = uuid.uuid4().hex[:10]
    yield docker_harness
    docker_harness.cleanup()


@pytest.fixture
def logship(tmp_path: Path, docker: DockerHarness) -> Iterator[LogshipProcess]:
    """A logship process (not started yet) that follows only this test's containers."""
    process = LogshipProcess(tmp_path, {"LOGSHIP_INCLUDE_LABELS": f"logship.test.run={docker.run_id}"})
    yield process
    process.ensure_stopped()
