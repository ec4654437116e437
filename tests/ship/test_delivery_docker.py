"""End to end, issue 3: delivery through the http sink survives outages, crashes, a full buffer and corruption.

Real dockerd containers write the lines, a real ``python -m logship`` ships them, and the fake store runs
as a separate process (``tests.fakes.http_receiver``, scripted through its control port), so that
logship's resident memory is its own. Each test prints what it measured.
"""

from __future__ import annotations

import collections
import random
import signal
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support import DockerHarness, LogshipProcess, ReceiverProcess, closed_port, metric_key, wait_until

pytestmark = pytest.mark.docker

MiB = 1024 * 1024
FRAME = struct.Struct(">II")  # a buffer segment frame's header: [u32 length][u32 crc32], big-endian


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverProcess]:
    """The fake store as a process (not started yet)."""
    process = ReceiverProcess(tmp_path)
    yield process
    process.stop()


def report(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Print a measured figure so that the CI log shows it even when the test passes."""
    with capsys.disabled():
        print(f"\n[delivery] {text}", flush=True)


def seq_writer(prefix: str, count: int) -> str:
    """A script writing ``prefix 1`` … ``prefix count`` as fast as it can."""
    return f"seq {count} | sed 's/^/{prefix} /'"


def steady_writer(prefix: str, count: int, per_tick: int = 100, tick_us: int = 100_000) -> str:
    """A script writing ``prefix 1`` … ``prefix count``, ``per_tick`` lines every ``tick_us`` µs at most."""
    return (f'i=1; while [ $i -le {count} ]; do echo "{prefix} $i"; i=$((i+1)); '
            f'[ $((i % {per_tick})) -eq 0 ] && usleep {tick_us}; done; true')


def expected_lines(prefix: str, count: int) -> set[str]:
    return {f"{prefix} {i}" for i in range(1, count + 1)}


def use_http(logship: LogshipProcess, url: str, **env: str) -> None:
    """Ship to ``url`` only, with short retries (Retry-After is capped by LOGSHIP_RETRY_MAX)."""
    logship.env.update({"LOGSHIP_SINK": "http", "LOGSHIP_HTTP_URL": url, "LOGSHIP_RETRY_MAX": "5s", **env})


def wait_for_lines(receiver: ReceiverProcess, logship: LogshipProcess, expected: set[str], timeout: float) -> None:
    """Wait until every expected message reached the receiver."""
    def arrived() -> bool:
        logship.assert_alive()
        return len(receiver.lines()) >= len(expected) and expected <= set(receiver.messages())

    try:
        wait_until(arrived, timeout, interval=0.5, message="every line at the receiver")
    except AssertionError:
        missing = len(expected - set(receiver.messages()))
        raise AssertionError(f"{missing} of {len(expected)} lines missing after {timeout}s\n"
                             f"--- logship log ---\n{logship.log_text()[-4000:]}") from None


def duplicates(counts: collections.Counter[str]) -> int:
    return sum(count - 1 for count in counts.values())


def segment_frames(data: bytes) -> list[tuple[int, int]]:
    """(offset, payload length) of every whole frame of a segment file's bytes."""
    frames, pos = [], 0
    while pos + FRAME.size <= len(data):
        length = FRAME.unpack_from(data, pos)[0]
        if pos + FRAME.size + length > len(data):
            break
        frames.append((pos, length))
        pos += FRAME.size + length
    assert pos == len(data), "a clean shutdown leaves whole frames only"
    return frames


# --- 1. outage, 503s, 429s: everything arrives, Retry-After honoured, memory flat ------------------------------


def test_outage_then_503_then_429_every_line_arrives(docker: DockerHarness, logship: LogshipProcess,
                                                     receiver: ReceiverProcess,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    receiver.start()
    use_http(logship, receiver.url)
    logship.start()
    # First batches from four writers, as during the outage, so that the memory measured before the outage
    # is that of a process at work (the first burst grows buffers and the encoding threads' heaps once).
    expected: set[str] = set()
    for i in range(4):
        docker.run(seq_writer(f"w{i}", 5000), name=f"warm-{docker.run_id}-{i}")
        expected |= expected_lines(f"w{i}", 5000)
    wait_for_lines(receiver, logship, expected, timeout=60)
    logship.wait_drained("http")
    rss_before = logship.rss_bytes()
    written_before = logship.metric("logship_buffer_lines_written_total")

    receiver.down()
    outage_started = time.monotonic()
    # Two waves of two writers (at 0 s and 15 s): memory must not grow with what piles up in the buffer.
    writers = []
    rss_peak = rss_before
    series = []  # (seconds into the outage, RSS, records buffered so far)
    while (elapsed := time.monotonic() - outage_started) < 30:
        if len(writers) < 4 and elapsed >= 15 * (len(writers) // 2):
            for i in (len(writers), len(writers) + 1):
                writers.append(docker.run(seq_writer(f"c{i}", 50_000), name=f"outage-{docker.run_id}-{i}"))
                expected |= expected_lines(f"c{i}", 50_000)
        rss = logship.rss_bytes()
        rss_peak = max(rss_peak, rss)
        if not series or elapsed - series[-1][0] >= 5:
            series.append((elapsed, rss, logship.metric("logship_buffer_lines_written_total")))
        time.sleep(0.5)
    rss_after = logship.rss_bytes()
    written = logship.metric("logship_buffer_lines_written_total")
    connect_retries = logship.metric("logship_retries_total", sink="http", reason="connect")
    for writer in writers:
        writer.reload()
        assert writer.status == "exited", f"{writer.name} still writing after the outage"

    receiver.fail(503, times=3)
    receiver.fail(429, times=3, headers={"Retry-After": "2"})
    up_at = time.time()
    receiver.up()
    back = time.monotonic()
    wait_for_lines(receiver, logship, expected, timeout=180)
    delivered_after = time.monotonic() - back
    logship.wait_drained("http")
    time.sleep(1)  # anything sent twice would arrive now

    counts = collections.Counter(receiver.messages())
    report(capsys, f"outage: RSS before {rss_before / MiB:.1f} MiB, at the end of the 30 s outage "
                   f"{rss_after / MiB:.1f} MiB (peak {rss_peak / MiB:.1f} MiB, "
                   f"{(rss_after - rss_before) / rss_before:+.1%}); "
                   f"{written - written_before:.0f} records buffered during it, "
                   f"{connect_retries:.0f} connect retries; all {len(expected)} lines delivered "
                   f"{delivered_after:.1f}s after the store came back; {duplicates(counts)} duplicates; "
                   f"test took {time.monotonic() - started:.1f}s")
    report(capsys, "outage: RSS / records buffered over time: " + ", ".join(
        f"{t:.0f}s {rss / MiB:.1f} MiB / {n:.0f}" for t, rss, n in series))
    assert set(counts) == expected
    assert duplicates(counts) == 0
    assert written >= len(expected), "the outage was over before logship had read every line"
    assert connect_retries > 0
    assert abs(rss_after - rss_before) <= 0.2 * rss_before, "resident memory grew during the outage"

    after = [request for request in receiver.requests() if request["arrived"] >= up_at]
    statuses = [request["status"] for request in after]
    assert statuses[:6] == [503, 503, 503, 429, 429, 429], statuses[:10]
    assert set(statuses[6:]) == {200}
    gaps = []
    for index, request in enumerate(after):
        if request["status"] != 429:
            continue
        # The same batch (same body) sent again: not before Retry-After has passed.
        again = next((later for later in after[index + 1:] if later["digest"] == request["digest"]), None)
        assert again is not None, "a batch answered 429 was never sent again"
        gaps.append(again["arrived"] - request["answered"])
    report(capsys, f"429 with Retry-After: 2 -> the same batch came again after {', '.join(f'{g:.2f}s' for g in gaps)}")
    assert min(gaps) >= 1.9, gaps
    assert logship.stop() == 0


# --- 2. kill -9 at five random moments -----------------------------------------------------------------------


class FlakyStore(threading.Thread):
    """Alternates the receiver between healthy and failing (503s, 429s, down) until stopped."""

    def __init__(self, receiver: ReceiverProcess, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.receiver = receiver
        self.rng = rng
        self.stopping = threading.Event()
        self.actions: collections.Counter[str] = collections.Counter()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.wait(self.rng.uniform(0.8, 1.6)):
                action = self.rng.choice(["503", "429", "down"])
                self.actions[action] += 1
                if action == "503":
                    self.receiver.fail(503, times=self.rng.randint(1, 4))
                elif action == "429":
                    self.receiver.fail(429, times=self.rng.randint(1, 3), headers={"Retry-After": "1"})
                else:
                    self.receiver.down()
                    self.stopping.wait(self.rng.uniform(0.5, 1.5))
                    self.receiver.up()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def finish(self) -> None:
        self.stopping.set()
        self.join(30)
        self.receiver.up()
        self.receiver.clear()
        if self.error is not None:
            raise self.error


def test_kill_9_five_times_every_line_arrives(docker: DockerHarness, logship: LogshipProcess,
                                              receiver: ReceiverProcess,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    started = time.monotonic()
    receiver.start()
    use_http(logship, receiver.url, LOGSHIP_RETRY_MAX="2s")
    logship.start()
    logship.health_url()
    # Two writers of ~1,000 lines/s each for ~20 s.
    lines = 20_000
    writers = [docker.run(steady_writer(f"k{i}", lines), name=f"kill-{docker.run_id}-{i}") for i in range(2)]
    expected = expected_lines("k0", lines) | expected_lines("k1", lines)
    flaky = FlakyStore(receiver, random.Random(seed + 1))
    flaky.start()
    writing = time.monotonic()
    planned = sorted(rng.uniform(1.0, 18.0) for _ in range(5))  # seconds into the writing
    moments = []
    try:
        for moment in planned:
            time.sleep(max(0.0, writing + moment - time.monotonic()))
            logship.assert_alive()
            moments.append(time.monotonic() - writing)
            logship.kill()
            logship.start()
            logship.health_url()
        for writer in writers:
            assert writer.wait(timeout=120)["StatusCode"] == 0
        writing_ended = time.monotonic() - writing
    finally:
        flaky.finish()
    wait_for_lines(receiver, logship, expected, timeout=120)
    logship.wait_drained("http")
    time.sleep(1)

    counts = collections.Counter(receiver.messages())
    requests = collections.Counter(request["status"] for request in receiver.requests())
    report(capsys, f"kill -9 at {', '.join(f'{m:.1f}s' for m in moments)} into the writing (seed {seed}); "
                   f"writers ended at "
                   f"{writing_ended:.1f}s; store faults {dict(flaky.actions)}, answers {dict(requests)}; "
                   f"{len(expected)} lines, all arrived, {duplicates(counts)} duplicates; "
                   f"took {time.monotonic() - started:.1f}s")
    assert set(counts) == expected
    assert logship.stop() == 0


# --- 3. a bounded buffer: block, drop_oldest ----------------------------------------------------------------


BOUND = 4 * MiB


def small_buffer(logship: LogshipProcess, url: str, when_full: str) -> None:
    use_http(logship, url, LOGSHIP_RETRY_MAX="1s", LOGSHIP_BUFFER_MAX_BYTES="4MiB",
             LOGSHIP_BUFFER_SEGMENT_BYTES="512KiB", LOGSHIP_BUFFER_WHEN_FULL=when_full)


def test_full_buffer_blocks_reading_until_the_store_returns(docker: DockerHarness, logship: LogshipProcess,
                                                            receiver: ReceiverProcess,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    receiver.start()
    receiver.down()
    small_buffer(logship, receiver.url, "block")
    logship.start()
    lines = 10_000
    for i in range(4):
        docker.run(seq_writer(f"b{i}", lines), name=f"block-{docker.run_id}-{i}")
    expected = set().union(*(expected_lines(f"b{i}", lines) for i in range(4)))

    largest = 0.0
    history: list[tuple[float, float]] = []

    def sample() -> dict[str, float]:
        metrics = logship.metrics()
        nonlocal largest
        largest = max(largest, metrics["logship_buffer_bytes"])
        history.append((metrics["logship_buffer_lines_written_total"], metrics["logship_buffer_bytes"]))
        return metrics

    def paused() -> bool:
        sample()
        # Reading has paused when the buffer is close to its bound and nothing was written to it for 2 s.
        return len(history) > 8 and history[-1][0] == history[-9][0] > 0 and history[-1][1] > BOUND - 512 * 1024

    wait_until(paused, 60, interval=0.25, message="logship pauses reading")
    first = sample()
    for _ in range(12):
        time.sleep(0.25)
        second = sample()
    report(capsys, f"block: reading paused at {second['logship_buffer_lines_written_total']:.0f} of {len(expected)} "
                   f"lines; buffer at most {largest:.0f} bytes (bound {BOUND}); blocked seconds "
                   f"{first['logship_buffer_blocked_seconds_total']:.2f} -> "
                   f"{second['logship_buffer_blocked_seconds_total']:.2f} over 3 s")
    assert largest <= BOUND
    assert second["logship_buffer_lines_written_total"] == first["logship_buffer_lines_written_total"] < len(expected)
    assert second["logship_buffer_blocked_seconds_total"] > first["logship_buffer_blocked_seconds_total"], \
        "logship_buffer_blocked_seconds_total does not grow while writers are blocked"

    receiver.up()
    back = time.monotonic()
    wait_for_lines(receiver, logship, expected, timeout=120)
    logship.wait_drained("http")
    time.sleep(1)
    counts = collections.Counter(receiver.messages())
    blocked = logship.metric("logship_buffer_blocked_seconds_total")
    report(capsys, f"block: all {len(expected)} lines arrived {time.monotonic() - back:.1f}s after the store "
                   f"returned, {duplicates(counts)} duplicates; blocked {blocked:.1f}s in total")
    assert set(counts) == expected
    assert duplicates(counts) == 0
    assert logship.stop() == 0


def test_full_buffer_drop_oldest_counts_exactly_what_is_lost(docker: DockerHarness, logship: LogshipProcess,
                                                             receiver: ReceiverProcess,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    receiver.start()
    receiver.down()
    small_buffer(logship, receiver.url, "drop_oldest")
    logship.start()
    lines = 10_000
    for i in range(4):
        docker.run(seq_writer(f"d{i}", lines), name=f"drop-{docker.run_id}-{i}")
    expected = set().union(*(expected_lines(f"d{i}", lines) for i in range(4)))
    largest = 0.0

    def all_read() -> bool:
        nonlocal largest
        metrics = logship.metrics()
        largest = max(largest, metrics["logship_buffer_bytes"])
        return metrics["logship_buffer_lines_written_total"] >= len(expected)

    wait_until(all_read, 60, interval=0.25, message="every line read into the buffer")
    receiver.up()
    logship.wait_drained("http", timeout=120)
    time.sleep(1)
    counts = collections.Counter(receiver.messages())
    dropped = logship.metric("logship_buffer_lines_dropped_total", reason="full")
    missing = expected - set(counts)
    report(capsys, f"drop_oldest: buffer at most {largest:.0f} bytes (bound {BOUND}); {len(missing)} of "
                   f"{len(expected)} lines never arrived, logship_buffer_lines_dropped_total{{reason=\"full\"}} "
                   f"= {dropped:.0f}; {duplicates(counts)} duplicates")
    assert largest <= BOUND
    assert set(counts) <= expected
    assert dropped > 0
    assert len(missing) == dropped
    assert logship.stop() == 0


# --- 4. two sinks, one dead ------------------------------------------------------------------------------------


def test_a_dead_sink_does_not_hold_back_the_other(docker: DockerHarness, logship: LogshipProcess,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with closed_port() as port:
        logship.env.update({"LOGSHIP_SINK": "file,http", "LOGSHIP_HTTP_URL": f"http://127.0.0.1:{port}/ingest",
                            "LOGSHIP_RETRY_MAX": "1s", "LOGSHIP_SHUTDOWN_TIMEOUT": "2s"})
        logship.start()
        lines = 5000
        names = [f"two-{docker.run_id}-{i}" for i in range(3)]
        for i, name in enumerate(names):
            docker.run(seq_writer(f"t{i}", lines), name=name)
        for i, name in enumerate(names):
            assert logship.wait_for_messages(name, lines, timeout=90) == [f"t{i} {n}" for n in range(1, lines + 1)]
        time.sleep(2)  # the http sink goes on retrying meanwhile
        metrics = logship.metrics()
        ready = logship.readyz()
        retries = metrics.get(metric_key("logship_retries_total", sink="http", reason="connect"), 0.0)
        shipped = {sink: metrics.get(metric_key("logship_lines_shipped_total", sink=sink), 0.0)
                   for sink in ("file", "http")}
        report(capsys, f"two sinks: file got {len(logship.records())} records; http: "
                       f"{shipped['http']:.0f} shipped, "
                       f"{retries:.0f} connect retries, {ready['buffer']['records_pending']['http']} pending, "
                       f"last error {ready['sinks']['http']['last_error']!r}")
        for i, name in enumerate(names):
            assert logship.messages(name) == [f"t{i} {n}" for n in range(1, lines + 1)]
        assert shipped == {"file": 3 * lines, "http": 0}
        assert retries > 0
        assert ready["buffer"]["records_pending"] == {"file": 0, "http": 3 * lines}
        assert ready["sinks"]["http"]["last_error"]
        assert logship.stop() == 0


# --- 5. a torn last record and a flipped byte in a segment ----------------------------------------------------


def test_torn_and_flipped_records_the_rest_is_delivered(docker: DockerHarness, logship: LogshipProcess,
                                                       receiver: ReceiverProcess,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    lines = 3000
    with closed_port() as port:
        use_http(logship, f"http://127.0.0.1:{port}/ingest", LOGSHIP_RETRY_MAX="1s",
                 LOGSHIP_SHUTDOWN_TIMEOUT="2s")
        logship.start()
        writer = docker.run(seq_writer("s", lines), name=f"torn-{docker.run_id}")
        assert writer.wait(timeout=60)["StatusCode"] == 0
        wait_until(lambda: logship.metric("logship_buffer_lines_written_total") == lines, 60,
                   message="every line in the buffer")
        assert logship.stop() == 0

    segments = [path for path in sorted((logship.data_dir / "buffer").glob("segment-*.log")) if path.stat().st_size]
    records: list[tuple[Path, int, int]] = []  # (segment, offset, payload length), oldest first
    for path in segments:
        records += [(path, offset, length) for offset, length in segment_frames(path.read_bytes())]
    assert len(records) == lines
    newest = segments[-1]
    newest_records = [record for record in records if record[0] == newest]
    # A flipped byte in the middle of a record's payload, in the first half of the newest segment.
    flipped = newest_records[len(newest_records) // 3]
    _, offset, length = flipped
    position = offset + FRAME.size + length // 2
    with open(newest, "r+b") as file:
        file.seek(position)
        byte = file.read(1)[0]
        file.seek(position)
        file.write(bytes([byte ^ 0x5A]))
    # A torn last record: its last 3 bytes never reached the disk.
    torn = newest_records[-1]
    size = newest.stat().st_size
    assert torn[1] + FRAME.size + torn[2] == size
    with open(newest, "r+b") as file:
        file.truncate(size - 3)

    def message(record: tuple[Path, int, int]) -> str:
        path, offset, length = record
        with open(path, "rb") as file:
            file.seek(offset + FRAME.size)
            return orjson.loads(file.read(length))["message"]

    survivors = [message(record) for record in records if record not in (flipped, torn)]
    assert len(survivors) == lines - 2

    receiver.start()
    logship.env["LOGSHIP_HTTP_URL"] = receiver.url
    logship.start()
    wait_until(lambda: len(receiver.lines()) >= len(survivors), 60, message="the intact records delivered")
    logship.wait_drained("http")
    time.sleep(1)
    counts = collections.Counter(receiver.messages())
    crc = logship.metric("logship_buffer_lines_dropped_total", reason="crc")
    corrupt = logship.metric("logship_buffer_lines_dropped_total", reason="corrupt")
    report(capsys, f"corruption: {len(records)} records in {len(segments)} segment(s); flipped a byte at offset "
                   f"{position} of {newest.name}, cut 3 bytes off its end; {len(counts)} records delivered "
                   f"(expected {len(survivors)}), {duplicates(counts)} duplicates; dropped crc={crc:.0f} "
                   f"corrupt={corrupt:.0f}")
    assert counts == collections.Counter(survivors)
    assert crc == 1
    assert corrupt == 0
    assert f"truncated from {size - 3} to {torn[1]} bytes" in logship.run_log()  # recovery cut the torn record
    assert logship.stop() == 0


# --- 6. graceful shutdown while the sink is down --------------------------------------------------------------


def test_graceful_shutdown_with_the_sink_down_then_exactly_once(docker: DockerHarness, logship: LogshipProcess,
                                                               receiver: ReceiverProcess,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    shutdown_timeout = 3.0
    receiver.start()
    use_http(logship, receiver.url, LOGSHIP_RETRY_MAX="1s", LOGSHIP_SHUTDOWN_TIMEOUT=f"{shutdown_timeout:g}s")
    logship.start()
    docker.run(seq_writer("g1", 3000), name=f"grace-{docker.run_id}-1")
    expected = expected_lines("g1", 3000)
    wait_for_lines(receiver, logship, expected, timeout=60)
    logship.wait_drained("http")

    receiver.down()
    docker.run(seq_writer("g2", 3000), name=f"grace-{docker.run_id}-2")
    expected |= expected_lines("g2", 3000)
    wait_until(lambda: logship.metric("logship_buffer_lines_written_total") == 6000, 60,
               message="the second writer's lines in the buffer")
    wait_until(lambda: logship.readyz()["sinks"]["http"]["in_flight"] > 0
               and logship.metric("logship_retries_total", sink="http", reason="connect") > 0, 30,
               message="the sink retrying")
    signalled = time.monotonic()
    logship.signal(signal.SIGTERM)
    code = logship.wait(shutdown_timeout + 30)
    took = time.monotonic() - signalled
    report(capsys, f"graceful stop with the sink down: exit code {code} after {took:.2f}s "
                   f"(LOGSHIP_SHUTDOWN_TIMEOUT={shutdown_timeout:g}s)")
    assert code == 0
    assert took <= shutdown_timeout + 2

    receiver.up()
    logship.start()
    docker.run(seq_writer("g3", 1000), name=f"grace-{docker.run_id}-3")
    expected |= expected_lines("g3", 1000)
    wait_for_lines(receiver, logship, expected, timeout=60)
    logship.wait_drained("http")
    time.sleep(1.5)
    counts = collections.Counter(receiver.messages())
    report(capsys, f"after the restart: {len(counts)} distinct lines of {len(expected)}, "
                   f"{duplicates(counts)} duplicates")
    assert set(counts) == expected
    assert duplicates(counts) == 0
    assert logship.stop() == 0


# --- 7. a second signal forces the exit -----------------------------------------------------------------------


def test_second_sigterm_exits_at_once_with_code_3(docker: DockerHarness, logship: LogshipProcess,
                                                  receiver: ReceiverProcess,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    receiver.start("--delay", "300")  # a store that never answers
    use_http(logship, receiver.url, LOGSHIP_SHUTDOWN_TIMEOUT="60s", LOGSHIP_HTTP_TIMEOUT="120s")
    logship.start()
    docker.run(seq_writer("h", 100), name=f"hang-{docker.run_id}")
    stats: dict[str, Any] = wait_until(lambda: (s := receiver.stats())["pending"] > 0 and s, 60,
                                       message="a request hanging at the store")
    logship.signal(signal.SIGTERM)
    time.sleep(1.5)
    assert logship.process is not None and logship.process.poll() is None, "the first SIGTERM should drain"
    signalled = time.monotonic()
    logship.signal(signal.SIGTERM)
    code = logship.wait(30)
    took = time.monotonic() - signalled
    report(capsys, f"second SIGTERM with {stats['pending']} request(s) hanging: exit code {code} after {took:.2f}s")
    assert code == 3
    assert took < 2
    assert "second SIGTERM" in logship.run_log()
