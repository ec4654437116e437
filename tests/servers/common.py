"""What the server helpers share: free ports, the CI rule for missing binaries, the server process's life
(start and wait until ready, stop), the session fixture and the by-hand runner."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

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


class ServerProcess:
    """A store's server run as a child process of the tests, with its files in ``directory``."""

    def __init__(self, directory: Path, binary: str) -> None:
        self.directory = directory
        self.binary = binary
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0

    def start(self) -> None:
        """Configure, start and wait until the server is ready. Raises RuntimeError when it is not."""
        raise NotImplementedError

    def launch(self, args: list[str], output: Path, ready: Callable[[], bool], timeout: float, what: str,
               log_file: Path) -> None:
        """Run ``args`` in ``directory`` (stdout and stderr appended to ``output``) and wait until ``ready``;
        ``startup_seconds`` is how long that took. RuntimeError with the end of ``log_file`` when it exits
        first or ``timeout`` passes."""
        started = time.monotonic()
        with output.open("ab") as out:
            self.process = subprocess.Popen(args, cwd=self.directory, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT)
        wait_ready(self.process, ready, timeout, what, log_file)
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


_Server = TypeVar("_Server", bound=ServerProcess)


def serve_session(server: _Server) -> Iterator[_Server]:
    """The body of a session fixture: ``server`` started (one that is installed but does not start fails
    the test, in CI and elsewhere), then stopped at the end."""
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


def run_by_hand(name: str, binary: str, make: Callable[[Path, str], _Server],
                describe: Callable[[_Server], str]) -> None:  # pragma: no cover - a manual helper
    """``python -m tests.servers.NAME``: start a server in a new scratch folder, say where it is, and run it
    until Ctrl-C or SIGTERM (which stop the server too, not just this process)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    path = find_binary(binary)
    if path is None:
        sys.exit(f"{binary} is not installed")
    server = make(Path(tempfile.mkdtemp(prefix=f"logship-{name}-")), path)
    server.start()
    print(describe(server), flush=True)
    try:
        assert server.process is not None
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
