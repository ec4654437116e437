"""The fault scenarios of issue 12 (point 7), written once: the tests in ``tests/faults/`` assert on what they
return, and ``python -m bench faults`` prints the same runs as the fault table of ``bench/RESULTS.md``.

Each scenario drives real components: busybox containers on the real dockerd write numbered lines
(``prefix N``), a real ``python -m logship`` process ships them, and the store is the fault-injecting
receiver (``tests.fakes.http_receiver`` as a process, switched between its modes at run time) or, for
the Elasticsearch row, the Elasticsearch contract fake in a thread of its own. A scenario returns a
``FaultResult``: lines written, delivered (distinct), lost, duplicated (extra copies), seconds from the
end of the fault until the last line was delivered, and the duplicates allowed (kill -9: concurrency x
batch size per kill, issue 12 point 3; elsewhere 0). It asserts only what it needs to go on; the tests
check the figures.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import re
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson

from tests.fakes.elasticsearch import FakeElasticsearch
from tests.ship.test_delivery_docker import (
    duplicates,
    expected_lines,
    seq_writer,
    steady_writer,
    use_http,
    wait_for_lines,
)
from tests.support import DockerHarness, LogshipProcess, ReceiverProcess, restart_dockerd, wait_until

MiB = 1024 * 1024
BATCH_LINES = 500
CONCURRENCY = 2
# A store that flaps: every fault of issue 12's kill -9 row in turn, with short healthy spells between.
FLAP = [("ok", 1.5), ("503", 1.0), ("ok", 1.0), ("429", 1.5), ("ok", 1.0), ("reset", 1.0), ("ok", 1.0),
        ("hang", 2.5)]
_T = TypeVar("_T")


@dataclass
class FaultResult:
    """One row of the fault table (see the module docstring)."""

    fault: str
    written: int
    delivered: int
    lost: int
    duplicated: int
    recover_seconds: float
    bound: int = 0  # duplicates allowed
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every line arrived, and no more duplicates than allowed."""
        return self.lost == 0 and self.duplicated <= self.bound

    def summary(self) -> str:
        """One line for a test's output (details too long for a line, such as a /readyz document, left out)."""
        extra = "; ".join(f"{key} {value}" for key, value in self.details.items() if len(str(value)) <= 200)
        return (f"{self.fault}: {self.written} lines written, {self.delivered} delivered, {self.lost} lost, "
                f"{self.duplicated} duplicated (bound {self.bound}), recovered in {self.recover_seconds:.1f}s"
                + (f"; {extra}" if extra else ""))


def tally(fault: str, expected: set[str], got: list[str], recover_seconds: float, bound: int = 0,
          **details: Any) -> FaultResult:
    """The row for ``expected`` lines written and ``got`` messages received (in any order, with repeats)."""
    counts = collections.Counter(got)
    strangers = set(counts) - expected
    assert not strangers, f"{len(strangers)} lines nobody wrote, e.g. {sorted(strangers)[:3]}"
    return FaultResult(fault, len(expected), len(set(counts) & expected), len(expected - set(counts)),
                       duplicates(counts), recover_seconds, bound, details)


@dataclass
class Rig:
    """What a scenario drives: the engine (and its test labels), a logship process, the fake store."""

    docker: DockerHarness
    logship: LogshipProcess
    store: ReceiverProcess


def settle(rig: Rig, expected: set[str], timeout: float) -> float:
    """Wait until every expected line reached the store and the sink is drained, then a second more (anything
    sent twice arrives then). Returns the monotonic time at which the last line had arrived."""
    wait_for_lines(rig.store, rig.logship, expected, timeout=timeout)
    done = time.monotonic()
    rig.logship.wait_drained("http", timeout=timeout)
    time.sleep(1)
    return done


# --- the data directory's filesystem: full, read-only ------------------------------------------------------


class SmallFs:
    """A tmpfs a scenario mounted (as root): resized or made read-only while logship runs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def remount(self, options: str) -> None:
        """``mount -o remount,OPTIONS``: ``size=64m`` gives room back, ``ro``/``rw`` switch writing."""
        subprocess.run(["mount", "-o", f"remount,{options}", str(self.path)], check=True, capture_output=True)


class Mounts:
    """``mounts(name, size="4m", at=None)``: a tmpfs at ``root/name`` (or ``at``); ``close()`` unmounts them all.
    A mount that fails raises ``MountError`` (the fault tests run as root)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mounted: list[Path] = []

    def __call__(self, name: str, size: str = "4m", at: Path | None = None) -> SmallFs:
        path = at or self.root / name
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "logship-test", str(path)],
                                capture_output=True, text=True)
        if result.returncode:
            raise MountError(f"cannot mount a tmpfs (the fault scenarios run as root): {result.stderr.strip()}")
        self.mounted.append(path)
        return SmallFs(path)

    def close(self) -> None:
        for path in reversed(self.mounted):  # inner mounts first
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                if subprocess.run(["umount", str(path)], capture_output=True).returncode:
                    subprocess.run(["umount", "-l", str(path)], capture_output=True)
        self.mounted.clear()


class MountError(Exception):
    """A tmpfs could not be mounted."""


ENOSPC = {"errno": "ENOSPC"}
EROFS = {"errno": "EROFS"}


def disk_full(rig: Rig, mount: Callable[..., SmallFs], lines: int = 40_000) -> FaultResult:
    """The data directory (a 6 MiB tmpfs) fills while the store is down; then space returns, then the store.
    Point 1: appends fail with ENOSPC, the tailers pause (logged once, counted, in /readyz) and resume from
    the last stored position."""
    docker, logship, store = rig.docker, rig.logship, rig.store
    data = mount("data", size="6m")
    store.start()
    store.down()
    use_http(logship, store.url, LOGSHIP_DATA_DIR=str(data.path), LOGSHIP_BUFFER_MAX_BYTES="256MiB",
             LOGSHIP_BUFFER_SEGMENT_BYTES="1MiB", LOGSHIP_RETRY_MAX="2s")
    logship.start()
    logship.health_url()
    writers = [docker.run(seq_writer(f"f{i}", lines), name=f"full-{docker.run_id}-{i}") for i in range(2)]
    expected = expected_lines("f0", lines) | expected_lines("f1", lines)
    wait_until(lambda: logship.metric("logship_buffer_write_errors_total", **ENOSPC) > 0, 60,
               message="an append failing with ENOSPC")
    first = logship.metric("logship_buffer_write_errors_total", **ENOSPC)
    wait_until(lambda: logship.metric("logship_buffer_write_errors_total", **ENOSPC) >= first + 3, 60,
               message="the paused tailers trying again")
    ready_while_full = logship.readyz()
    for writer in writers:
        assert writer.wait(timeout=120)["StatusCode"] == 0
    logged = logship.run_log().count("cannot write")
    errors = logship.metric("logship_buffer_write_errors_total", **ENOSPC)
    data.remount("size=512m")  # space returns
    back = time.monotonic()
    wait_until(lambda: not logship.readyz()["writes"]["failing"], 60, message="the tailers resuming")
    resumed = time.monotonic() - back
    store.up()
    done = settle(rig, expected, timeout=180)
    return tally("data directory full while the store is down", expected, store.messages(), done - back,
                 enospc_errors=int(errors), cannot_write_logged=logged, resumed_seconds=round(resumed, 1),
                 ready_while_full=ready_while_full, ready_at_end=logship.readyz()["ready"],
                 works_again_logged="works again" in logship.run_log())


def checkpoint_dir_read_only(rig: Rig, mount: Callable[..., SmallFs], lines: int = 15_000) -> FaultResult:
    """The checkpoint file's directory read-only for a while (the buffer on another tmpfs inside it goes on
    working), with a kill -9 and a restart in the middle of it (points 1 and 3)."""
    docker, logship, store = rig.docker, rig.logship, rig.store
    data = mount("data", size="64m")
    mount("buffer", size="256m", at=data.path / "buffer")
    store.start()
    use_http(logship, store.url, LOGSHIP_DATA_DIR=str(data.path), LOGSHIP_BATCH_MAX_LINES=str(BATCH_LINES),
             LOGSHIP_HTTP_CONCURRENCY=str(CONCURRENCY))
    logship.start()
    logship.health_url()
    writers = [docker.run(steady_writer(f"r{i}", lines), name=f"ckpt-{docker.run_id}-{i}") for i in range(2)]
    expected = expected_lines("r0", lines) | expected_lines("r1", lines)
    wait_until(lambda: len(store.lines()) >= 2000 and logship.metric("logship_checkpoint_saves_total") >= 1, 60,
               message="delivery and a first checkpoint save")

    def checkpoints_failing() -> bool:
        ready = logship.readyz()
        return ready["writes"]["checkpoints_failing"] and not ready["ready"]

    data.remount("ro")
    wait_until(lambda: logship.metric("logship_buffer_write_errors_total", **EROFS) > 0, 30,
               message="a checkpoint save failing with EROFS")
    wait_until(checkpoints_failing, 30, message="/readyz showing it")
    time.sleep(3)  # lines go on being collected and delivered meanwhile
    logged = logship.run_log().count("cannot write")
    delivered_before_kill = len(store.lines())
    logship.kill()
    logship.start()  # the checkpoint file is still the one from before the remount, and still unwritable
    logship.health_url()
    wait_until(checkpoints_failing, 30, message="/readyz after the restart")
    data.remount("rw")
    back = time.monotonic()
    wait_until(lambda: logship.readyz()["ready"], 30, message="ready again once saves work")
    for writer in writers:
        assert writer.wait(timeout=120)["StatusCode"] == 0
    done = settle(rig, expected, timeout=120)
    log = logship.run_log()
    return tally("checkpoint directory read-only, kill -9 in the episode", expected, store.messages(),
                 max(0.0, done - back), bound=CONCURRENCY * BATCH_LINES, cannot_write_logged=logged,
                 delivered_before_kill=delivered_before_kill,
                 started_after_buffer=bool(re.search(r"start positions: \d+ record.* [1-9]\d* stream\(s\) start after",
                                                     log)),
                 works_again_logged="works again" in log)


# --- kill -9 ten times under mixed load while the store flaps -----------------------------------------------


class Churn(threading.Thread):
    """Starts a short-lived container (``lines`` numbered lines, then exit) every ``every`` seconds."""

    def __init__(self, docker: DockerHarness, lines: int = 300, every: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.docker = DockerHarness.connect()  # a client of its own: the main thread uses the other one
        self.docker.run_id = docker.run_id
        self.lines = lines
        self.every = every
        self.stopping = threading.Event()
        self.expected: set[str] = set()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            index = 0
            while not self.stopping.wait(self.every):
                prefix = f"c{index}"
                self.docker.run(seq_writer(prefix, self.lines), name=f"churn-{self.docker.run_id}-{index}")
                self.expected |= expected_lines(prefix, self.lines)
                index += 1
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self) -> set[str]:
        """Stop starting containers; wait until those started have exited; the lines they wrote."""
        self.stopping.set()
        self.join(60)
        try:
            if self.error is not None:
                raise self.error
            for container in self.docker.client.containers.list(
                    all=True, filters={"label": f"logship.test.run={self.docker.run_id}", "name": "churn-"}):
                assert container.wait(timeout=60)["StatusCode"] == 0
        finally:
            self.docker.close()
        return self.expected


def kill9_flapping(rig: Rig, kills: int = 10, seconds: float = 20.0, seed: int | None = None) -> FaultResult:
    """kill -9 ``kills`` times at random moments within ``seconds`` of writing, under mixed load (a backlog
    written before logship starts, two steady writers, short-lived containers starting and exiting) while
    the store flaps between 503, 429 with Retry-After, resets mid-body and requests that hang (FLAP)."""
    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    docker, logship, store = rig.docker, rig.logship, rig.store
    store.start()
    use_http(logship, store.url, LOGSHIP_BATCH_MAX_LINES=str(BATCH_LINES), LOGSHIP_HTTP_CONCURRENCY=str(CONCURRENCY),
             LOGSHIP_HTTP_TIMEOUT="2s", LOGSHIP_RETRY_MAX="2s", LOGSHIP_BUFFER_FSYNC_INTERVAL="1s")
    backlog = docker.run(seq_writer("b", 20_000), name=f"backlog-{docker.run_id}")
    assert backlog.wait(timeout=120)["StatusCode"] == 0
    expected = expected_lines("b", 20_000)
    store.flap(FLAP)
    logship.start()
    logship.health_url()
    lines = round(seconds * 800)  # steady writers: at most 1,000 lines/s each
    writers = [docker.run(steady_writer(f"s{i}", lines), name=f"steady-{docker.run_id}-{i}") for i in range(2)]
    expected |= expected_lines("s0", lines) | expected_lines("s1", lines)
    churn = Churn(docker)
    churn.start()
    writing = time.monotonic()
    moments = []
    try:
        for moment in sorted(rng.uniform(1.0, seconds) for _ in range(kills)):
            time.sleep(max(0.0, writing + moment - time.monotonic()))
            logship.assert_alive()
            moments.append(round(time.monotonic() - writing, 1))
            logship.kill()
            logship.start()
            logship.health_url()
    finally:
        expected |= churn.finish()
    for writer in writers:
        assert writer.wait(timeout=180)["StatusCode"] == 0
    store.set_mode("ok")  # the flapping ends
    healed = time.monotonic()
    done = settle(rig, expected, timeout=240)
    faults = store.stats()["faults"]
    return tally(f"kill -9 x{kills}, store flapping", expected, store.messages(), done - healed,
                 bound=kills * CONCURRENCY * BATCH_LINES, seed=seed, kills_at=moments, store_faults=faults)


# --- a store that lies (200, garbage) or listens and reads nothing -----------------------------------------------


def store_mode(rig: Rig, mode: str, seconds: float = 8.0, lines: int = 10_000) -> FaultResult:
    """The store in ``mode`` (``garbage``, ``deaf``, …) for ``seconds`` while two containers write ``lines``
    each, then healthy again."""
    docker, logship, store = rig.docker, rig.logship, rig.store
    store.start()
    use_http(logship, store.url, LOGSHIP_HTTP_TIMEOUT="2s", LOGSHIP_RETRY_MAX="2s")
    logship.start()
    logship.health_url()
    store.set_mode(mode)
    started = time.monotonic()
    writers = [docker.run(seq_writer(f"{mode}{i}", lines), name=f"{mode}-{docker.run_id}-{i}") for i in range(2)]
    expected = expected_lines(f"{mode}0", lines) | expected_lines(f"{mode}1", lines)
    for writer in writers:
        assert writer.wait(timeout=120)["StatusCode"] == 0
    time.sleep(max(0.0, started + seconds - time.monotonic()))
    retries = {reason: logship.metric("logship_retries_total", sink="http", reason=reason)
               for reason in ("timeout", "connect")}
    store.set_mode("ok")
    healed = time.monotonic()
    done = settle(rig, expected, timeout=120)
    return tally(f"store {mode}", expected, store.messages(), max(0.0, done - healed),
                 store_faults=store.stats()["faults"], retries={k: int(v) for k, v in retries.items() if v})


class ThreadedFake:
    """An in-process contract fake served by an event loop in a thread of its own, so that a synchronous
    test (driving a logship process) can use it; ``call`` runs a coroutine function on that loop."""

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadedFake:
        self.thread.start()
        self.call(self.fake.start)
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self.fake.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def call(self, function: Callable[[], Coroutine[Any, Any, _T]], timeout: float = 30) -> _T:
        return asyncio.run_coroutine_threadsafe(function(), self.loop).result(timeout)

    def read(self, function: Callable[[], _T]) -> _T:
        """``function()`` run on the fake's loop (no request is being handled meanwhile)."""
        async def run() -> _T:
            return function()

        return self.call(run)


def elasticsearch_garbage(rig: Rig, responses: int = 20, lines: int = 10_000) -> FaultResult:
    """Elasticsearch answering ``responses`` bulk requests 200 with a body that is not JSON (after indexing
    them, as a proxy that mangles answers would): the sink must retry (``create`` with the same ``_id``
    then answers 409, counted as delivered), never count an unreadable answer as success."""
    docker, logship = rig.docker, rig.logship
    with ThreadedFake(FakeElasticsearch()) as es:
        es.read(lambda: es.fake.malformed_responses(responses))
        logship.env.update({"LOGSHIP_SINK": "elasticsearch", "LOGSHIP_ELASTICSEARCH_URL": es.fake.base_url,
                            "LOGSHIP_BATCH_MAX_LINES": str(BATCH_LINES), "LOGSHIP_RETRY_MAX": "2s"})
        logship.start()
        logship.health_url()
        writers = [docker.run(seq_writer(f"e{i}", lines), name=f"es-{docker.run_id}-{i}") for i in range(2)]
        expected = expected_lines("e0", lines) | expected_lines("e1", lines)
        for writer in writers:
            assert writer.wait(timeout=120)["StatusCode"] == 0

        def created() -> list[str]:
            return [source["message"] for request in es.fake.requests if request.answer
                    for source, item in zip(request.sources, request.answer["items"], strict=True)
                    if item["create"]["status"] == 201]

        def arrived() -> bool:
            logship.assert_alive()
            return expected <= set(es.read(created))

        wait_until(arrived, 120, interval=0.5, message="every line in the index")
        logship.wait_drained("elasticsearch")
        time.sleep(1)
        garbled = es.read(lambda: responses - es.fake._malformed)
        conflicts = es.read(lambda: sum(item["create"]["status"] == 409 for request in es.fake.requests
                                        if request.answer for item in request.answer["items"]))
        malformed_retries = logship.metric("logship_retries_total", sink="elasticsearch", reason="malformed")
        got = es.read(created)
    return tally("elasticsearch 200 with a non-JSON body", expected, got, 0.0, answers_garbled=garbled,
                 malformed_retries=int(malformed_retries), conflicts_409=conflicts)


# --- dockerd restarted under load -----------------------------------------------------------------------------

# Each run of a container numbers its lines from 1, prefixed by a run id (a restart begins a new run).
RUN_WRITER = ("trap 'exit 0' TERM; run=$(cat /proc/sys/kernel/random/uuid); i=1; "
              "while true; do echo \"$run $i\"; i=$((i+1)); [ $((i % 50)) -eq 0 ] && usleep 50000; done")


def written_by(docker: DockerHarness, name: str) -> set[str]:
    """Every line the container wrote (all its runs), as dockerd's log has it."""
    return set(docker.client.containers.get(name).logs(stdout=True, stderr=True).decode().splitlines())


def dockerd_restart(rig: Rig, writers: int = 3) -> FaultResult:
    """dockerd stopped (SIGTERM) and started again while containers write ~1,000 lines/s each and a backlog
    waits; they come back by their restart policy and logship follows their new runs."""
    docker, logship, store = rig.docker, rig.logship, rig.store
    store.start()
    use_http(logship, store.url, LOGSHIP_RETRY_MAX="2s")
    names = [f"restart-{docker.run_id}-{i}" for i in range(writers)]
    backlog = f"restart-{docker.run_id}-backlog"
    docker.run(seq_writer("rb", 20_000), name=backlog).wait(timeout=120)
    logship.start()
    logship.health_url()
    for name in names:
        docker.run(RUN_WRITER, name=name, restart_policy={"Name": "always"})
    wait_until(lambda: len(store.lines()) >= 20_000 + 2000 * writers, 120, message="lines flowing")
    restart_dockerd(docker.client)
    back = time.monotonic()

    def runs() -> set[str]:
        return {message.split()[0] for message in store.messages() if not message.startswith("rb ")}

    before = runs()
    wait_until(lambda: len(runs() - before) >= writers, 120, message="the new run of every container followed")
    followed = time.monotonic() - back
    time.sleep(3)  # under load again
    for name in names:
        docker.client.containers.get(name).stop(timeout=5)
    expected = written_by(docker, backlog).union(*(written_by(docker, name) for name in names))
    done = settle(rig, expected, timeout=120)
    logship.assert_alive()
    # Recovered once logship follows every container's new run: the lines written afterwards are new load.
    return tally("dockerd restarted", expected, store.messages(), followed, runs=len(runs()),
                 last_line_after_restart_seconds=round(done - back, 1))


# --- the store down for a long time at a steady rate ------------------------------------------------------------


def paced_writer(prefix: str, count: int, rate: float, tick: int = 100) -> str:
    """A script writing ``prefix 1`` … ``prefix count`` at ``rate`` lines/s from its start, ``tick`` lines at a
    time (busybox sh: /proc/uptime for the clock, ``read -t`` on a FIFO to sleep without a fork); a writer
    that falls behind catches up, so the rate holds on average."""
    rate_x100 = max(1, round(rate * 100))
    return ("mkfifo /tmp/tick && exec 3<>/tmp/tick; read up _ < /proc/uptime; t0=${up%.*}${up#*.}; n=0; "
            f"while [ $n -lt {count} ]; do due=$((t0 + n * 10000 / {rate_x100})); "
            "read up _ < /proc/uptime; now=${up%.*}${up#*.}; d=$((due - now)); "
            "if [ $d -gt 0 ]; then s=$((d / 100)); c=$((d % 100)); [ $c -lt 10 ] && c=0$c; read -t $s.$c _ <&3; fi; "
            f"k=0; while [ $k -lt {tick} ] && [ $n -lt {count} ]; do n=$((n + 1)); k=$((k + 1)); "
            f"echo \"{prefix} $n\"; done; done")


def store_down(rig: Rig, down: float = 60.0, rate: float = 2000.0, warm: float = 15.0,
               containers: int = 4) -> FaultResult:
    """The store down (connection refused) for ``down`` seconds while ``containers`` write ``rate`` lines/s
    in all, from ``warm`` seconds before the outage to its end; logship's resident memory at the end of the
    outage compared with just before it, and again once every line is delivered."""
    docker, logship, store = rig.docker, rig.logship, rig.store
    store.start()
    use_http(logship, store.url, LOGSHIP_RETRY_MAX="5s")
    logship.start()
    logship.health_url()
    each = round(rate / containers * (warm + down))
    started = time.monotonic()
    writers = [docker.run(paced_writer(f"d{i}", each, rate / containers), name=f"down-{docker.run_id}-{i}")
               for i in range(containers)]
    expected = set().union(*(expected_lines(f"d{i}", each) for i in range(containers)))
    wait_until(lambda: len(store.lines()) > 0, 60, message="the first lines delivered")
    time.sleep(max(0.0, started + warm - time.monotonic()))
    rss_before = logship.rss_bytes()
    store.down()
    outage = time.monotonic()
    peak = rss_before
    while time.monotonic() - outage < down:
        peak = max(peak, logship.rss_bytes())
        time.sleep(1)
    rss_end = logship.rss_bytes()
    buffered = logship.readyz()["buffer"]["records_pending"]["http"]
    store.up()
    healed = time.monotonic()
    for writer in writers:
        assert writer.wait(timeout=120)["StatusCode"] == 0
    written_in = time.monotonic() - started
    done = settle(rig, expected, timeout=max(120.0, down))
    rss_after = logship.rss_bytes()
    return tally(f"store down {down:g}s at {rate:g} lines/s", expected, store.messages(), done - healed,
                 rss_before_mib=round(rss_before / MiB, 1), rss_end_of_outage_mib=round(rss_end / MiB, 1),
                 rss_change=f"{(rss_end - rss_before) / rss_before:+.1%}", rss_peak_mib=round(peak / MiB, 1),
                 rss_after_catch_up_mib=round(rss_after / MiB, 1), pending_at_end_of_outage=buffered,
                 lines_per_second=round(len(expected) / written_in))


def as_json(result: FaultResult) -> bytes:
    """A result as JSON (for the bench's results file)."""
    return orjson.dumps({**result.__dict__, "ok": result.ok})
