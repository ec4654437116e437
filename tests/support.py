"""Helpers for tests against a real dockerd and a real logship process."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import orjson
from prometheus_client.parser import text_string_to_metric_families

from logship.config import VARIABLES_BY_NAME

# In CI (or where .ci/run provisioned Docker) a missing engine or server fails a test; elsewhere it skips.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes") or os.environ.get("LOGSHIP_TEST_DOCKER") == "1"
TEST_IMAGE = "busybox:local"
TEST_LABEL = "logship.test"
REPO_ROOT = Path(__file__).resolve().parent.parent


def written_lines(path: Path) -> list[bytes]:
    """The lines of a file another process is appending to, as far as they are written: a last line
    without its newline yet is left for the next look (a reader can catch a writer mid-write)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return data[:data.rfind(b"\n") + 1].splitlines()


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


def http_get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    """GET ``url``: (status, body), also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text as ``{'name{label="value",…}': value}`` (labels sorted; no braces without labels)."""
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[metric_key(sample.name, **sample.labels)] = sample.value
    return samples


def metric_key(name: str, **labels: str) -> str:
    """The key of a sample in ``parse_metrics``'s result."""
    if not labels:
        return name
    return name + "{" + ",".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 where nothing listens (connections are refused) and nobody else can bind."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: refused, and the port stays ours
        yield sock.getsockname()[1]


def logship_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a logship process: this one's without any LOGSHIP_ variable (a developer's own
    settings must not leak into a test), the repository on PYTHONPATH, then ``env``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("LOGSHIP_")}
    return {**inherited, "PYTHONPATH": str(REPO_ROOT), **(env or {})}


def run_logship(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120,
                merge_output: bool = False) -> subprocess.CompletedProcess[str]:
    """``python -m logship ARGS`` run to its end in the repository, with ``logship_env(env)``; its output as
    text (stderr in ``stdout`` too with ``merge_output``). An async test runs it with ``asyncio.to_thread``,
    so that its event loop keeps serving the test's fakes meanwhile."""
    return subprocess.run([sys.executable, "-m", "logship", *args], cwd=REPO_ROOT, env=logship_env(env),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge_output else subprocess.PIPE,
                          text=True, timeout=timeout)


def check_report(tmp_path: Path, env: Mapping[str, str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``logship check`` with ``env`` and its data folder in ``tmp_path``; stdout and stderr together in
    ``stdout`` (``report_line`` finds a check's line)."""
    return run_logship("check", env={"LOGSHIP_DATA_DIR": str(tmp_path / "data"), **env}, timeout=timeout,
                       merge_output=True)


def report_line(output: str, what: str) -> str:
    """The line of ``logship check``'s report about ``what`` (``engine``, ``sink loki``…): ``ok   what: …``
    or ``FAIL what: …``, which must be in ``output`` exactly once."""
    found = [line for line in output.splitlines() if line[5:].startswith(what + ":")]
    assert len(found) == 1, f"{len(found)} {what!r} lines in:\n{output}"
    return found[0]


def example_env(name: str) -> dict[str, str]:
    """The variables ``configs/NAME`` sets (its commented-out lines left out). Every value there, commented
    out or not, must be valid for its variable; a ``…_FILE`` variable must be a secret's."""
    active: dict[str, str] = {}
    for line in (REPO_ROOT / "configs" / name).read_text().splitlines():
        match = re.match(r"^(#?)(LOGSHIP_[A-Z_]+)=(.*)$", line.strip())
        if not match:
            continue
        commented, variable, value = match.groups()
        if variable in VARIABLES_BY_NAME:
            VARIABLES_BY_NAME[variable].parse(value)  # every example value, commented or not, is valid
        else:  # a secret given as a file (Docker secrets)
            assert VARIABLES_BY_NAME[variable.removesuffix("_FILE")].secret, variable
        if not commented:
            active[variable] = value
    return active


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` (VmRSS in /proc/<pid>/status), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie child of ours counts, and is reaped)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def restart_dockerd(client: docker.DockerClient) -> None:
    """Stop dockerd with SIGTERM and start it again with the same command line and environment; wait until
    it answers.
    Only for tests marked ``dockerd_restart`` (run last, see tests/conftest.py; by hand under ``flock -x``).

    dockerd is started again even when stopping it fails, and detached (``setsid -f``: not our child), so
    that a later restart in the same session sees it exit instead of a zombie of ours."""
    pid = int(subprocess.check_output(["pidof", "dockerd"]).split()[0])
    command = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    environ = dict(item.split(b"=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                   if b"=" in item)
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: _gone(pid), 90, message="dockerd stopped")
    finally:
        log_dir = Path("/var/log/logship-ci")
        with open(log_dir / "dockerd.log" if log_dir.is_dir() else os.devnull, "ab") as log:
            subprocess.run([b"setsid", b"-f", *command], env=environ, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                           check=True)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except Exception:
            return False

    wait_until(answers, 60, message="dockerd answers again")


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
        self.env = logship_env({
            "LOGSHIP_DATA_DIR": str(self.data_dir),
            "LOGSHIP_SINK": "file",
            "LOGSHIP_FILE_PATH": str(self.output),
            "LOGSHIP_FILE_MAX_BYTES": "1GiB",
            "LOGSHIP_LISTEN": "127.0.0.1:0",
            "LOGSHIP_LOG_FORMAT": "text",
            "LOGSHIP_BATCH_MAX_WAIT": "200ms",
            "LOGSHIP_BUFFER_FSYNC_INTERVAL": "200ms",
            **env,
        })
        self.process: subprocess.Popen[bytes] | None = None
        self._log_handle: Any = None
        self._log_offset = 0  # where the current run's log starts in log_path
        self._health_url: str | None = None

    def start(self) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._health_url = None
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

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the running process."""
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit; returns the exit code (TimeoutExpired after ``timeout``)."""
        assert self.process is not None
        code = self.process.wait(timeout)
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

    def run_log(self) -> str:
        """The log of the current (latest) run only."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as file:
            file.seek(self._log_offset)
            return file.read().decode(errors="replace")

    def health_url(self, timeout: float = 30) -> str:
        """The health server's base URL of the current run, from its log line (waits for it)."""
        if self._health_url is None:
            def announced() -> str | None:
                self.assert_alive()
                found = re.search(r"health and metrics on (http://\S+)", self.run_log())
                return found.group(1) if found else None

            self._health_url = wait_until(announced, timeout, interval=0.1, message="the health server")
        return self._health_url

    def metrics(self) -> dict[str, float]:
        """Every sample of ``/metrics`` (see ``parse_metrics``)."""
        status, body = http_get(self.health_url() + "/metrics")
        assert status == 200, f"/metrics answered {status}"
        return parse_metrics(body.decode())

    def metric(self, name: str, **labels: str) -> float:
        """One sample of ``/metrics``; 0.0 when absent (a labelled counter not incremented yet)."""
        return self.metrics().get(metric_key(name, **labels), 0.0)

    def readyz(self) -> dict[str, Any]:
        """The JSON document of ``/readyz`` (whether ready or not)."""
        return orjson.loads(http_get(self.health_url() + "/readyz")[1])

    def rss_bytes(self) -> int:
        """Resident memory of the running process."""
        return rss_bytes(self.pid)

    def wait_drained(self, sink: str, timeout: float = 60) -> None:
        """Wait until ``sink`` has no record pending in the buffer and no batch in flight."""
        def drained() -> bool:
            self.assert_alive()
            ready = self.readyz()
            return (ready["buffer"]["records_pending"].get(sink) == 0
                    and ready["sinks"].get(sink, {}).get("in_flight") == 0)

        wait_until(drained, timeout, message=f"sink {sink} drained")

    def records(self) -> list[dict[str, Any]]:
        """Every record written so far (rotated files first, oldest first)."""
        files = sorted(self.output.parent.glob(self.output.name + ".*"), key=lambda p: -int(p.suffix[1:]))
        records = []
        for path in [*files, self.output]:
            for line in written_lines(path):
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


class ReceiverProcess:
    """``python -m tests.fakes.http_receiver`` as a process, scripted through its control port.

    ``start()`` waits until it listens; ``url`` is what ``LOGSHIP_HTTP_URL`` should be. Lines it
    accepted are in ``out``, one line per record; every POST is in ``requests_log``.
    """

    def __init__(self, tmp_path: Path, name: str = "receiver") -> None:
        self.out = tmp_path / f"{name}.ndjson"
        self.requests_log = tmp_path / f"{name}-requests.ndjson"
        self.log_path = tmp_path / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.control_url = ""
        self._log_handle: Any = None

    @property
    def url(self) -> str:
        return self.base_url + "ingest"

    def start(self, *args: str, port: int = 0, timeout: float = 20) -> None:
        """Start listening (``args``: more command-line options, e.g. ``--delay 60``)."""
        self._log_handle = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.http_receiver", "--port", str(port), "--out", str(self.out),
             "--requests", str(self.requests_log), "--control-port", "0", *args],
            stdout=subprocess.PIPE, stderr=self._log_handle, cwd=REPO_ROOT)
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [lines.put(line) for line in iter(stdout.readline, b"")],
                         daemon=True).start()
        for prefix in ("listening on ", "control on "):
            try:
                line = lines.get(timeout=timeout).decode().strip()
            except queue.Empty:
                raise AssertionError(f"the receiver did not say {prefix!r} within {timeout}s") from None
            assert line.startswith(prefix), line
            if prefix == "listening on ":
                self.base_url = line.removeprefix(prefix)
            else:
                self.control_url = line.removeprefix(prefix)

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST (with ``body``) or GET (without) a control endpoint; returns the receiver's state."""
        data = orjson.dumps(body) if body is not None else None
        request = urllib.request.Request(self.control_url + path, data=data,
                                         method="GET" if data is None else "POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            return orjson.loads(response.read())

    def down(self) -> None:
        """Stop listening: connections are refused until ``up()``."""
        self.control("down", {})

    def up(self) -> None:
        """Listen again on the same port."""
        self.control("up", {})

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``times`` POSTs (after those already scripted) with ``status``."""
        self.control("fail", {"status": status, "times": times, "headers": headers or {}})

    def clear(self) -> None:
        self.control("clear", {})

    def set_delay(self, seconds: float) -> None:
        self.control("delay", {"seconds": seconds})

    def set_mode(self, mode: str, retry_after: str | None = None) -> None:
        """Answer every POST as ``mode`` says (``ok``, ``503``, ``429``, ``reset``, ``hang``, ``garbage``,
        ``deaf``: see the receiver's module docstring); ends a flap."""
        self.control("mode", {"mode": mode, **({"retry_after": retry_after} if retry_after else {})})

    def flap(self, schedule: list[tuple[str, float]]) -> None:
        """Cycle through ``(mode, seconds)`` steps until ``set_mode``."""
        self.control("flap", {"schedule": schedule})

    def stats(self) -> dict[str, Any]:
        """``{"listening", "pending", "requests", "lines", "scripted", "mode", "faults"}``."""
        return self.control("stats")

    def lines(self) -> list[bytes]:
        """Every line accepted so far, in order."""
        return written_lines(self.out)

    def messages(self) -> list[str]:
        """The ``message`` of every record accepted so far, in order."""
        return [orjson.loads(line)["message"] for line in self.lines()]

    def requests(self) -> list[dict[str, Any]]:
        """Every POST answered so far (see the receiver's module docstring)."""
        return [orjson.loads(line) for line in written_lines(self.requests_log)]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
