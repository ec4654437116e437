"""kill -9 during delivery, several times: every line arrives, and the lines delivered twice are bounded by
what was in flight at each kill: concurrency x batch size (issue 12, point 3).

Real dockerd containers write numbered lines, a real logship ships them to the fake store (a separate
process) and is killed with SIGKILL at random moments, then started again at once. Regression: the
acknowledgements reached the ledger only at the periodic save, and the checkpoints lagged the buffer by
an interval, so each kill re-sent and re-collected up to an interval of lines (tens of thousands of
duplicates over a few kills).
"""

from __future__ import annotations

import collections
import random
import time

import pytest

from tests.ship.test_delivery_docker import duplicates, expected_lines, report, steady_writer, use_http, wait_for_lines
from tests.support import DockerHarness, LogshipProcess, ReceiverProcess

pytestmark = pytest.mark.docker

BATCH_LINES = 500
CONCURRENCY = 2
KILLS = 5


def test_kill_9_during_delivery_duplicates_within_what_was_in_flight(
        docker: DockerHarness, logship: LogshipProcess, fault_store: ReceiverProcess,
        capsys: pytest.CaptureFixture[str]) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    fault_store.start()
    use_http(logship, fault_store.url, LOGSHIP_BATCH_MAX_LINES=str(BATCH_LINES),
             LOGSHIP_HTTP_CONCURRENCY=str(CONCURRENCY), LOGSHIP_BUFFER_FSYNC_INTERVAL="1s")  # the default
    logship.start()
    logship.health_url()
    lines = 20_000  # ~1,000 lines/s per container for ~20 s
    writers = [docker.run(steady_writer(f"k{i}", lines), name=f"kill9-{docker.run_id}-{i}") for i in range(2)]
    expected = expected_lines("k0", lines) | expected_lines("k1", lines)
    writing = time.monotonic()
    moments = []
    for moment in sorted(rng.uniform(2.0, 17.0) for _ in range(KILLS)):
        time.sleep(max(0.0, writing + moment - time.monotonic()))
        logship.assert_alive()
        moments.append(time.monotonic() - writing)
        logship.kill()
        logship.start()
        logship.health_url()
    for writer in writers:
        assert writer.wait(timeout=120)["StatusCode"] == 0
    wait_for_lines(fault_store, logship, expected, timeout=120)
    logship.wait_drained("http")
    time.sleep(1)  # anything sent twice would arrive now

    counts = collections.Counter(fault_store.messages())
    bound = KILLS * CONCURRENCY * BATCH_LINES
    report(capsys, f"kill -9 x{KILLS} at {', '.join(f'{m:.1f}s' for m in moments)} (seed {seed}): "
                   f"{len(expected)} lines written, {len(set(counts) & expected)} delivered, "
                   f"{len(expected - set(counts))} lost, {duplicates(counts)} duplicated; bound {bound} "
                   f"({KILLS} kills x concurrency {CONCURRENCY} x batch {BATCH_LINES})")
    assert set(counts) == expected
    assert duplicates(counts) <= bound
    assert logship.stop() == 0
