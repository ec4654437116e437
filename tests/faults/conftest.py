"""Fixtures of the fault scenarios."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.scenarios import FaultResult, MountError, Mounts, Rig, SmallFs
from tests.support import IN_CI, DockerHarness, LogshipProcess, ReceiverProcess


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[..., SmallFs]]:
    """``small_fs(name, size="4m", at=None)``: a tmpfs mounted at ``tmp_path/name``, unmounted after the test."""
    mounts = Mounts(tmp_path)

    def mount(name: str, size: str = "4m", at: Path | None = None) -> SmallFs:
        try:
            return mounts(name, size, at)
        except MountError as exc:
            if IN_CI and os.geteuid() == 0:
                pytest.fail(str(exc))
            pytest.skip(str(exc))

    yield mount
    mounts.close()


@pytest.fixture
def fault_store(tmp_path: Path) -> Iterator[ReceiverProcess]:
    """The fake store (``tests.fakes.http_receiver``) as a process, not started yet; stopped after the test."""
    process = ReceiverProcess(tmp_path)
    yield process
    process.stop()


@pytest.fixture
def rig(docker: DockerHarness, logship: LogshipProcess, fault_store: ReceiverProcess) -> Rig:
    """What the shared scenarios (tests/faults/scenarios.py) drive."""
    return Rig(docker, logship, fault_store)


def check(result: FaultResult, capsys: pytest.CaptureFixture[str]) -> None:
    """Print a scenario's row (the CI log shows it even when the test passes), then assert it: every line
    arrived, duplicates within the scenario's bound."""
    with capsys.disabled():
        print(f"\n[faults] {result.summary()}", flush=True)
    assert result.lost == 0, result.summary()
    assert result.delivered == result.written, result.summary()
    assert result.duplicated <= result.bound, result.summary()
