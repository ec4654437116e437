"""Tests that restart dockerd run after every other test, by marker, whatever their file names (issue 13.6)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO_ROOT


def test_dockerd_restart_tests_are_collected_last() -> None:
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             "tests/collect", "tests/faults", "tests/test_config.py"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    ids = [line for line in listed.stdout.splitlines() if "::" in line]
    marked = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", "dockerd_restart",
         "tests/collect", "tests/faults", "tests/test_config.py"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    restarting = [line for line in marked.stdout.splitlines() if "::" in line]
    assert marked.returncode == 0, marked.stdout + marked.stderr
    # Both known restarting tests are marked; tests/faults sorts after tests/collect by name, yet neither
    # restarting test is followed by one that does not restart dockerd.
    lifecycle = "tests/collect/test_engine_lifecycle_docker.py::test_restart_rm_and_dockerd_restart_lose_nothing"
    assert lifecycle in restarting
    assert any(test.startswith("tests/faults/test_dockerd_restart.py::") for test in restarting)
    assert ids[-len(restarting):] == restarting, ids[-len(restarting) - 2:]
    assert len(ids) > len(restarting) + 10
