"""Fixtures of the fault scenarios."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.scenarios import FaultResult, Rig
from tests.support import IN_CI, DockerHarness, LogshipProcess, ReceiverProcess


class SmallFs:
    """A tmpfs this test mounted (as root): resized or made read-only while logship runs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def remount(self, options: str) -> None:
        """``mount -o remount,OPTIONS``: ``size=64m`` gives room back, ``ro``/``rw`` switch writing."""
        subprocess.run(["mount", "-o", f"remount,{options}", str(self.path)], check=True, capture_output=True)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[..., SmallFs]]:
    """``small_fs(name, size="4m")``: a tmpfs mounted at ``tmp_path/name``, unmounted after the test."""
    mounted: list[Path] = []

    def mount(name: str, size: str = "4m", at: Path | None = None) -> SmallFs:
        path = at or tmp_path / name
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "logship-test", str(path)],
                                capture_output=True, text=True)
        if result.returncode:
            message = f"cannot mount a tmpfs (the fault tests run as root): {result.stderr.strip()}"
            if IN_CI and os.geteuid() == 0:
                pytest.fail(message)
            pytest.skip(message)
        mounted.append(path)
        return SmallFs(path)

    yield mount
    for path in reversed(mounted):  # inner mounts first
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(path)], capture_output=True)


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
