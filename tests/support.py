"""Helpers for tests against a real dockerd and a real logship process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import orjson

TEST_IMAGE = "busybox:local"
TEST_LABEL = "logship.test"
REPO_ROOT = Path(__file__).resolve().parent.parent


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.2, message: str = "") -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail with ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s: {message}")
        time.sleep(interval)


class DockerHarness:
    """The docker SDK client plus the labels that let a test clean up after itself."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.run_id = "none"

    @classmethod
    def connect(cls) -> DockerHarness:
        client = docker.from_env(version="auto", timeout=120)
        client.ping()
        client.images.get(TEST_IMAGE)
        return cls(client)

    @property
    def labels(self) -> dict[str, str]:
        return {TEST_LABEL: "1", f"{TEST_LABEL}.run": self.run_id}

    def run(self, script: str, *, name: str | None = None, tty: bool = False, labels: dict[str, str] | None = None,
            log_config: dict[str, Any] | None = None, restart_policy: dict[str, Any] | None = None,
            detach: bool = True) -> Any:
        """Start a busybox container running ``sh -c script``, labelled for this test."""
        kwargs: dict[str, Any] = {}
        if log_config:
            kwargs["log_config"] = docker.types.LogConfig(**log_config)
        if restart_policy:
            kwargs["restart_policy"] = restart_policy
        return self.client.containers.run(
            TEST_IMAGE, ["sh", "-c", script], name=name, tty=tty, detach=detach,
            labels={**self.labels, **(labels or {})}, **kwargs)

    def cleanup(self) -> None:
        for service in self.client.services.list(filters={"label": f"{TEST_LABEL}.run={self.run_id}"}):
            service.remove()
        for container in self.client.containers.list(all=True, filters={"label": f"{TEST_LABEL}.run={self.run_id}"}):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)

    def close(self) -> None:
        self.client.close()


class LogshipProcess:
    """A real ``python -m logship`` process writing NDJSON to a file under ``tmp_path``."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.data_dir = tmp_path / "data"
        self.output = tmp_path / "out" / "containers.ndjson"
        self.log_path = tmp_path / "logship.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith("LOGSHIP_")}
        self.env = {
            **base,
            "PYTHONPATH": str(REPO_ROOT),
            "LOGSHIP_DATA_DIR": str(self.data_dir),
            "LOGSHIP_SINK": "file",
            "LOGSHIP_FILE_PATH": str(self.output),
            "LOGSHIP_FILE_MAX_BYTES": "1GiB",
            "LOGSHIP_LISTEN": "127.0.0.1:0",
            "LOGSHIP_LOG_FORMAT": "text",
            "LOGSHIP_BATCH_MAX_WAIT": "200ms",
            "LOGSHIP_BUFFER_FSYNC_INTERVAL": "200ms",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log_handle: Any = None

    def start(self) -> None:
        self._log_handle = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "-m", "logship"], env=self.env, stdout=self._log_handle,
                                        stderr=subprocess.STDOUT, cwd=REPO_ROOT)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then wait for the graceful exit; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        finally:
            self._close_log()
        return code

    def kill(self) -> None:
        """kill -9."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self._close_log()

    def ensure_stopped(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def records(self) -> list[dict[str, Any]]:
        """Every record written so far (rotated files first, oldest first)."""
        files = sorted(self.output.parent.glob(self.output.name + ".*"), key=lambda p: -int(p.suffix[1:]))
        records = []
        for path in [*files, self.output]:
            if path.exists():
                for line in path.read_bytes().splitlines():
                    records.append(orjson.loads(line))
        return records

    def messages(self, container_name: str, stream: str | None = None) -> list[str]:
        return [r["message"] for r in self.records()
                if r["container"]["name"] == container_name and (stream is None or r["stream"] == stream)]

    def wait_for_messages(self, container_name: str, count: int, timeout: float = 60) -> list[str]:
        """Wait until at least ``count`` records of the container arrived."""
        def enough() -> list[str] | None:
            self.assert_alive()
            messages = self.messages(container_name)
            return messages if len(messages) >= count else None

        try:
            return wait_until(enough, timeout, message=f"{count} records of {container_name}")
        except AssertionError:
            got = len(self.messages(container_name))
            raise AssertionError(f"{container_name}: {got} of {count} records after {timeout}s\n"
                                 f"--- logship log ---\n{self.log_text()[-4000:]}") from None

    def assert_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"logship exited with {self.process.returncode}\n{self.log_text()[-4000:]}")
