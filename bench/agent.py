"""The processes a scenario runs beside the containers: logship itself, the receiver, and the watchers.

- ``Logship``: ``python -m logship`` from this work tree, in its own session (Ctrl-C reaches the bench
  only, which stops it), configured like the tests do: a temporary data dir (on the root disk, as
  in production), ``LOGSHIP_INCLUDE_LABELS`` so that it follows only this case's containers, health
  and metrics on a free port, announced in its log. Its modules are byte-compiled first, as pip
  does when it installs logship: with ``PYTHONDONTWRITEBYTECODE=1`` (set on this machine) every start
  of a source tree would otherwise compile them again (about 30 ms of a 0.2 s start).
- ``ReceiverProcess``: ``python -m bench.receiver``, down and up by signal.
- ``DeliveryTail``: follows the file the records end up in (the file sink's output, or the
  receiver's), notes ``(time, size)`` every ``interval`` while it grows and counts its lines once it
  is quiet. Latency is computed from the marks afterwards (``analysis``), so the watcher costs almost
  nothing while logship runs.
- ``Sampler``: every ``interval``, CPU and RSS of logship, CPU of dockerd, machine busy, lines
  delivered; every ``readyz_interval`` the buffer's bytes and pending records from ``/readyz``.
"""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.machine import AGENT_TREE, REPO_ROOT, CpuTimes, busy_cores, cpu_seconds, peak_rss_bytes, rss_bytes


class ProcessError(RuntimeError):
    pass


class Logship:
    """One logship process for one case."""

    def __init__(self, workdir: Path, case_label: str, env: dict[str, str], tree: Path = AGENT_TREE) -> None:
        self.tree = tree  # the logship source tree it runs from (BENCH_AGENT_TREE, or a twin's)
        self.extra = set(env)
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.output = workdir / "out" / "containers.ndjson"
        self.log_path = workdir / "logship.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith("LOGSHIP_")}
        self.env = {
            **base,
            "PYTHONPATH": str(tree),
            "LOGSHIP_DATA_DIR": str(self.data_dir),
            "LOGSHIP_SINK": "file",
            "LOGSHIP_FILE_PATH": str(self.output),
            "LOGSHIP_FILE_MAX_BYTES": "1000GiB",  # no rotation: the bench follows one file
            "LOGSHIP_LISTEN": "127.0.0.1:0",
            "LOGSHIP_LOG_FORMAT": "text",
            "LOGSHIP_INCLUDE_LABELS": case_label,
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.spawned_at = 0.0  # time.time() of the spawn
        self.ready_at = 0.0  # when the health server was announced
        self.cpu_at_ready = 0.0
        self._log: Any = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def settings(self) -> dict[str, str]:
        """The LOGSHIP_* variables of the run and what the bench added (for the report)."""
        return {k: v for k, v in self.env.items() if k.startswith("LOGSHIP_") or k in self.extra}

    async def start(self, timeout: float = 60) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        compileall.compile_dir(self.tree / "logship", quiet=1)  # only what changed since the last run
        self._log = open(self.log_path, "ab")  # noqa: SIM115, ASYNC230 - closed in stop()
        self.spawned_at = time.time()
        self.process = subprocess.Popen([sys.executable, "-m", "logship"], env=self.env, cwd=self.tree,  # noqa: ASYNC220
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ProcessError(f"logship exited with {self.process.returncode}:\n{self.log_tail()}")
            found = re.search(r"health and metrics on (http://\S+)", self.log_text())
            if found:
                self.url = found.group(1)
                self.ready_at = time.time()
                self.cpu_at_ready = cpu_seconds(self.pid)
                break
            if time.monotonic() > deadline:
                raise ProcessError(f"logship did not announce its health server in {timeout}s:\n{self.log_tail()}")
            await asyncio.sleep(0.02)
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def peak_rss(self) -> int:
        return peak_rss_bytes(self.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            code = self.process.returncode if self.process else None
            raise ProcessError(f"logship exited with {code}:\n{self.log_tail()}")

    async def get_json(self, path: str) -> Any:
        assert self._http is not None
        async with self._http.get(self.url + path) as response:
            return orjson.loads(await response.read())

    async def readyz(self) -> dict[str, Any]:
        return await self.get_json("/readyz")

    async def metrics_text(self) -> str:
        assert self._http is not None
        async with self._http.get(self.url + "/metrics") as response:
            return await response.text()

    async def wait_following(self, count: int, timeout: float) -> None:
        """Until ``count`` tailers are in state ``following`` (their follow streams are open)."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            tailers = await self.get_json("/debug/tailers")
            following = sum(1 for t in tailers.values() if t.get("state") == "following")
            if following >= count:
                return
            if time.monotonic() > deadline:
                raise ProcessError(f"only {following} of {count} containers followed after {timeout}s")
            await asyncio.sleep(0.5)

    async def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM (graceful drain), SIGKILL after ``timeout``; returns the exit code."""
        if self._http is not None:
            await self._http.close()
            self._http = None
        code = None
        if self.process is not None:
            code = await _terminate(self.process, timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        return code


class ReceiverProcess:
    """``python -m bench.receiver`` (see there)."""

    def __init__(self, workdir: Path, store: str = "http") -> None:
        self.store = store
        self.out = workdir / "receiver.ndjson"
        self.index = workdir / "receiver.index"
        self.log_path = workdir / "receiver.log"
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0
        self.events: list[tuple[str, float]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ingest"

    async def start(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # noqa: ASYNC230
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.receiver", "--port", "0", "--out", str(self.out),
                "--index", str(self.index), "--store", self.store, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE,
                stderr=log, start_new_session=True)
        line = await asyncio.wait_for(self._line(), 20)
        if not line.startswith("listening on "):
            raise ProcessError(f"receiver said {line!r}")
        self.port = int(line.split()[-1])

    async def _line(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        return (await self.process.stdout.readline()).decode().strip()

    async def _switch(self, signum: int, word: str) -> float:
        assert self.process is not None
        self.process.send_signal(signum)
        line = await asyncio.wait_for(self._line(), 20)
        kind, _, when = line.partition(" ")
        if kind != word:
            raise ProcessError(f"receiver said {line!r}")
        self.events.append((kind, float(when)))
        return float(when)

    async def down(self) -> float:
        """Stop listening and drop the connections; returns when (unix time)."""
        return await self._switch(signal.SIGUSR1, "down")

    async def up(self) -> float:
        return await self._switch(signal.SIGUSR2, "up")

    def arrivals(self) -> list[tuple[float, int, int]]:
        """(arrival time, end offset in ``out``, lines) of every accepted request."""
        rows = []
        if self.index.exists():
            for line in self.index.read_text().splitlines():
                when, offset, lines = line.split()
                rows.append((float(when), int(offset), int(lines)))
        return rows

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def _terminate(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - a child process
            await asyncio.sleep(0.05)
        if process.poll() is None:
            process.kill()
            process.wait(10)
    return process.returncode


class DeliveryTail:
    """Follows a growing NDJSON file: ``marks`` say how many bytes had arrived by when.

    While the file grows, a poll is one ``stat``. Lines are counted (read and ``count``) only once the
    file has been quiet for ``quiet`` seconds: reading and counting logship's output as it arrives (130 MB/s
    in a 16-container backlog) took about 0.07 core of this 2-core machine from logship and dockerd, which
    the ceiling reader's run does not pay. ``lines_at`` gives the lines behind any offset afterwards.
    """

    def __init__(self, path: Path, interval: float = 0.02, quiet: float = 0.1) -> None:
        self.path = path
        self.interval = interval
        self.quiet = quiet
        self.lines = 0  # whole lines among the first ``_counted`` bytes
        self.offset = 0  # the file's size at the last poll
        self.marks: list[tuple[float, int]] = []  # (time, size) whenever the file had grown
        self._counted = 0
        self._counted_upto = 0  # the size the last count went up to (a partial line stays uncounted)
        self._grown_at = time.monotonic()
        self._changed = asyncio.Event()

    def poll(self) -> None:
        """Note the file's size; count its lines when it has been quiet."""
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return
        if size > self.offset:
            self.offset = size
            self._grown_at = time.monotonic()
            self.marks.append((time.time(), size))
            self._changed.set()
        elif self._counted_upto < self.offset and time.monotonic() - self._grown_at >= self.quiet:
            self.count()

    def count(self) -> None:
        """Count the whole lines up to the size seen last."""
        target = self.offset
        with open(self.path, "rb", buffering=0) as handle:
            handle.seek(self._counted)
            while self._counted < target:
                data = handle.read(min(8 << 20, target - self._counted))
                cut = data.rfind(b"\n") + 1  # only whole lines count
                if cut == 0:
                    break
                self.lines += data.count(b"\n", 0, cut)
                self._counted += cut
                if cut < len(data):
                    handle.seek(self._counted)
                    if len(data) < 8 << 20:
                        break
        self._counted_upto = target
        self._changed.set()

    def lines_at(self, offsets: list[int]) -> list[int]:
        """For each offset (ascending), how many whole lines end at or before it: one pass over the file."""
        counts: list[int] = []
        lines = position = 0
        with open(self.path, "rb") as handle:
            for offset in offsets:
                if offset > position:
                    data = handle.read(offset - position)
                    lines += data.count(b"\n")
                    position += len(data)
                counts.append(lines)
        return counts

    async def run(self) -> None:
        while True:
            self.poll()
            await asyncio.sleep(self.interval)

    async def wait_for(self, lines: int, timeout: float, check: Any = None, stall: float = 0) -> bool:
        """Until at least ``lines`` lines arrived (True), or ``timeout`` seconds passed, or (``stall``) no line
        arrived for that many seconds (False)."""
        deadline = time.monotonic() + timeout
        last, since = self.offset, time.monotonic()
        while self.lines < lines:
            now = time.monotonic()
            if self.offset != last:
                last, since = self.offset, now
            if now >= deadline or (stall and now - since >= stall):
                return False
            remaining = deadline - now
            if check is not None:
                check()
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
        return True

    async def wait_quiet(self, quiet: float, timeout: float) -> None:
        """Until no line arrived for ``quiet`` seconds (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        last, since = self.offset, time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if self.offset != last:
                last, since = self.offset, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return


class Sampler:
    """Time series of one case (see the module docstring); ``rows`` is a list of dicts."""

    def __init__(self, logship: Logship | None, dockerd: int | None, tail: DeliveryTail | None,
                 interval: float = 0.5, readyz_interval: float = 1.0) -> None:
        self.logship = logship
        self.dockerd = dockerd
        self.tail = tail
        self.interval = interval
        self.readyz_interval = readyz_interval
        self.rows: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}  # values other code wants in every row (e.g. ceiling bytes)
        self.extra_fn: Any = None

    def sample(self, cpu: CpuTimes | None = None) -> dict[str, Any]:
        row: dict[str, Any] = {"t": time.time()}
        cpu = cpu or CpuTimes.read()
        row["machine_busy_jiffies"], row["machine_total_jiffies"] = cpu.busy, cpu.total
        if self.logship is not None and self.logship.alive():
            row["logship_cpu_s"] = self.logship.cpu()
            row["logship_rss"] = self.logship.rss()
        if self.dockerd:
            row["dockerd_cpu_s"] = cpu_seconds(self.dockerd)
        if self.tail is not None:
            row["delivered_bytes"] = self.tail.offset
        if self.extra_fn is not None:
            row.update(self.extra_fn())
        return row

    async def run(self) -> None:
        next_readyz = 0.0
        while True:
            row = self.sample()
            if (self.logship is not None and self.readyz_interval and row["t"] >= next_readyz
                    and self.logship.alive() and self.logship.url):
                next_readyz = row["t"] + self.readyz_interval
                with contextlib.suppress(Exception):
                    ready = await self.logship.readyz()
                    row["buffer_bytes"] = ready["buffer"].get("bytes")
                    row["buffer_pending"] = sum(ready["buffer"].get("records_pending", {}).values())
                    row["containers_followed"] = ready.get("containers_followed")
            self.rows.append(row)
            await asyncio.sleep(self.interval)


def machine_busy(rows: list[dict[str, Any]], start: float, end: float) -> float | None:
    """Cores busy on average between the samples closest to ``start`` and ``end``."""
    inside = [r for r in rows if start - 0.6 <= r["t"] <= end + 0.6]
    if len(inside) < 2:
        return None
    first, last = inside[0], inside[-1]
    return busy_cores(CpuTimes(first["machine_busy_jiffies"], first["machine_total_jiffies"]),
                      CpuTimes(last["machine_busy_jiffies"], last["machine_total_jiffies"]))
