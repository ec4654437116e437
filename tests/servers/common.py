"""What the server helpers share: free ports, the CI rule for missing binaries, process stopping."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import IN_CI


def find_binary(name: str, *extra_dirs: str) -> str | None:
    """The path of ``name`` on PATH or in ``extra_dirs`` (sbin is not on every PATH), or None."""
    found = shutil.which(name)
    if found:
        return found
    for directory in (*extra_dirs, "/usr/sbin", "/usr/bin", "/sbin"):
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_binary(name: str, package: str) -> str:
    """``name``'s path; without it the test fails in CI (it must be installed there) and skips elsewhere."""
    path = find_binary(name)
    if path is None:
        message = f"{name} is not installed (apt-get install {package}; .ci/lib.sh ensure_store_packages)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_ready(process: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float, what: str,
               log_file: Path | None = None) -> float:
    """Poll ``ready`` every 20 ms; the seconds it took. Raises RuntimeError (with the log's tail) when the
    process exits first or ``timeout`` passes."""
    started = time.monotonic()
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it was ready{tail(log_file)}")
        if time.monotonic() - started > timeout:
            stop(process)
            raise RuntimeError(f"{what} was not ready within {timeout:g}s{tail(log_file)}")
        time.sleep(0.02)
    return time.monotonic() - started


def tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.is_file():
        return ""
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {path} ---\n" + "\n".join(text)


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it is still running after ``timeout``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)
