"""Shared fixtures: a real Docker engine, labelled test containers, a real logship process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import IN_CI, DockerHarness, LogshipProcess


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
