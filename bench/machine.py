"""What the bench reads from /proc: CPU and memory of a process, how busy the machine is, who dockerd is."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO_ROOT = Path(__file__).resolve().parent.parent
# The logship source tree the agent runs from: this work tree, or another checkout (BENCH_AGENT_TREE) for
# a before/after comparison driven by the same bench code, alternating in one session.
AGENT_TREE = Path(os.environ.get("BENCH_AGENT_TREE") or REPO_ROOT).resolve()


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (all its threads), in seconds; 0.0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def counters(pid: int) -> dict[str, float]:
    """Cumulative counters of ``pid``: user and system CPU seconds, the main thread's voluntary context
    switches (each one a wait of the event loop that ended: a wake-up), read() and write() syscalls on
    files (/proc/PID/io syscr/syscw: socket recv/send are not counted there), on-CPU time (schedstat)."""
    out: dict[str, float] = {}
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        out["user_s"] = int(fields[11]) / CLK_TCK
        out["system_s"] = int(fields[12]) / CLK_TCK
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                out["wakeups"] = int(line.split()[1])
        out["oncpu_s"] = sum(int((task / "schedstat").read_text().split()[0])
                             for task in Path(f"/proc/{pid}/task").iterdir()) / 1e9
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("syscr", "syscw"):
                out[key] = int(value)
    except (OSError, ValueError):
        pass
    return out


def counter_deltas(before: dict[str, float], after: dict[str, float], seconds: float, lines: int,
                   ) -> dict[str, float]:
    """Per second and per line rates of ``counters`` between two readings (for the report)."""
    out: dict[str, float] = {}
    for key in ("user_s", "system_s", "oncpu_s"):
        if key in before and key in after:
            out[f"cpu_{key[:-2]}_s"] = round(after[key] - before[key], 3)
    for key, name in (("wakeups", "wakeups"), ("syscr", "file_reads"), ("syscw", "file_writes")):
        if key in before and key in after:
            delta = after[key] - before[key]
            out[f"{name}_per_s"] = round(delta / seconds, 1) if seconds > 0 else 0
            out[f"{name}_per_1000_lines"] = round(delta / lines * 1000, 1) if lines else 0
    return out


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_bytes(pid: int) -> int:
    """VmRSS of ``pid`` in bytes (0 once it is gone)."""
    return _status_kib(pid, "VmRSS:") * 1024


def peak_rss_bytes(pid: int) -> int:
    """VmHWM (the peak resident set since the process started) in bytes."""
    return _status_kib(pid, "VmHWM:") * 1024


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """Machine-wide jiffies from /proc/stat: busy and total over all cores."""

    busy: int
    total: int

    @classmethod
    def read(cls) -> CpuTimes:
        with open("/proc/stat") as handle:
            values = [int(v) for v in handle.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        total = sum(values[:8])
        return cls(total - idle, total)


def busy_cores(before: CpuTimes, after: CpuTimes) -> float:
    """Cores busy on average between two readings (0 … nproc)."""
    total = after.total - before.total
    return (after.busy - before.busy) / total * (os.cpu_count() or 1) if total > 0 else 0.0


def dockerd_pid(socket_path: str = "/var/run/docker.sock") -> int | None:
    """The dockerd that serves ``socket_path``: the only one, else the one named with it (or without -H)."""
    try:
        pids = [int(p) for p in subprocess.run(["pidof", "dockerd"], capture_output=True, text=True,
                                                check=False).stdout.split()]
    except FileNotFoundError:
        pids = []
    if len(pids) <= 1:
        return pids[0] if pids else None
    fallback = None
    for pid in pids:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(socket_path.encode() in arg for arg in args):
            return pid
        if not any(arg.startswith((b"-H", b"--host")) for arg in args):
            fallback = pid
    return fallback or pids[0]


def _threads(pid: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def _place_threads(pid: int, cpus: set[int]) -> int:
    """Put every thread of ``pid`` on ``cpus``; returns how many were elsewhere. A thread that has just
    ended is skipped; PermissionError (not root) is raised."""
    moved = 0
    for tid in _threads(pid):
        try:
            if os.sched_getaffinity(tid) != cpus:
                os.sched_setaffinity(tid, cpus)
                moved += 1
        except ProcessLookupError:
            pass
    return moved


def engine_pids(dockerd: int | None) -> list[int]:
    """dockerd and every containerd process (the daemon and its shims): what serves the Engine API."""
    found = [dockerd] if dockerd else []
    for name in ("containerd", "containerd-shim", "containerd-shim-runc-v2"):
        out = subprocess.run(["pidof", name], capture_output=True, text=True, check=False).stdout
        found.extend(int(pid) for pid in out.split())
    return found


@contextlib.contextmanager
def pinned(engine: list[int], engine_cpus: set[int]) -> Iterator[set[int]]:
    """Run every thread of the ``engine`` processes on ``engine_cpus``, and this process (with whatever
    it starts from now on: logship, the receiver) on the other CPUs; put the old affinities back after.

    Yields the CPUs left to this process. Threads created meanwhile inherit their creator's affinity.
    """
    if not engine:
        raise ValueError("no dockerd found to pin")
    mine = os.sched_getaffinity(0)
    rest = mine - engine_cpus
    if not rest or not engine_cpus <= mine:
        raise ValueError(f"cannot pin the engine to CPUs {sorted(engine_cpus)} of {sorted(mine)}")
    processes = [*((pid, engine_cpus) for pid in engine), (os.getpid(), rest)]
    before: dict[int, set[int]] = {}  # per process, its main thread's affinity: new threads get it back
    for pid, _ in processes:
        with contextlib.suppress(OSError):
            before[pid] = os.sched_getaffinity(pid)
    try:
        for pid, cpus in processes:
            try:
                _place_threads(pid, cpus)
            except PermissionError as exc:  # not root: a "pinned" run must not silently be unpinned
                raise PermissionError(f"cannot set the CPU affinity of process {pid}: {exc.strerror} "
                                      "(--pin needs root)") from exc
        yield rest
    finally:
        for pid, _ in processes:
            with contextlib.suppress(OSError):
                _place_threads(pid, before.get(pid, mine))


def unpin(engine: list[int]) -> int:
    """Let every thread of the ``engine`` processes run on every CPU again (after a pinned run that was
    killed); returns how many threads were restricted."""
    everywhere = set(range(os.cpu_count() or 1))
    moved = 0
    for pid in engine:
        with contextlib.suppress(OSError):
            moved += _place_threads(pid, everywhere)
    return moved


def git_state() -> dict[str, object]:
    """Commit of the agent's tree (``AGENT_TREE``) and the files that differ from it (a bench of a dirty
    tree says so)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=AGENT_TREE, capture_output=True, text=True,
                              check=False).stdout.strip()

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line[3:].startswith("logship/")]
    return {"commit": git("rev-parse", "HEAD"), "subject": git("log", "-1", "--format=%s"),
            "logship_files_modified": changed}


def machine_info(docker_version: dict[str, object]) -> dict[str, object]:
    """Cores, CPU model, memory, kernel, dockerd version and the limits that matter for the bench."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass

    def sysctl(name: str) -> str:
        try:
            return Path("/proc/sys/" + name.replace(".", "/")).read_text().strip()
        except OSError:
            return "?"

    versions = {}
    for module in ("aiohttp", "orjson"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # informational only
            versions[module] = "?"
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        **{f"{name}_version": value for name, value in versions.items()},
        "dockerd_version": docker_version.get("Version"),
        "docker_api_version": docker_version.get("ApiVersion"),
        "inotify_max_user_instances": sysctl("fs.inotify.max_user_instances"),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }
