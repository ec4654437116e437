"""The data directory's filesystem fills while the store is down, then space returns: every line arrives
exactly once (issue 12, point 1).

A real dockerd container writes numbered lines, a real logship ships them to the fake store (a separate
process) which is down, so the buffer grows until the small tmpfs holding LOGSHIP_DATA_DIR is full and
appends fail with ENOSPC. Regression: the tailer's position had moved when it decoded, so the lines of
the failed append were skipped as replays when it read again (703 of 60,000 lost).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

import pytest

from tests.faults.conftest import SmallFs
from tests.ship.test_delivery_docker import duplicates, expected_lines, report, seq_writer, use_http, wait_for_lines
from tests.support import DockerHarness, LogshipProcess, ReceiverProcess, wait_until

pytestmark = pytest.mark.docker

ENOSPC = {"errno": "ENOSPC"}


def test_disk_full_while_the_store_is_down_then_space_returns_every_line_once(
        docker: DockerHarness, logship: LogshipProcess, fault_store: ReceiverProcess, small_fs: Callable[..., SmallFs],
        capsys: pytest.CaptureFixture[str]) -> None:
    data = small_fs("data", size="6m")
    fault_store.start()
    fault_store.down()
    use_http(logship, fault_store.url, LOGSHIP_DATA_DIR=str(data.path), LOGSHIP_BUFFER_MAX_BYTES="256MiB",
             LOGSHIP_BUFFER_SEGMENT_BYTES="1MiB", LOGSHIP_RETRY_MAX="2s")
    logship.start()
    logship.health_url()
    lines = 40_000
    writers = [docker.run(seq_writer(f"f{i}", lines), name=f"full-{docker.run_id}-{i}") for i in range(2)]
    expected = expected_lines("f0", lines) | expected_lines("f1", lines)

    wait_until(lambda: logship.metric("logship_buffer_write_errors_total", **ENOSPC) > 0, 60,
               message="an append failing with ENOSPC")
    first = logship.metric("logship_buffer_write_errors_total", **ENOSPC)
    wait_until(lambda: logship.metric("logship_buffer_write_errors_total", **ENOSPC) >= first + 3, 60,
               message="the paused tailers trying again")
    ready = logship.readyz()
    assert not ready["ready"] and ready["writes"]["failing"], ready
    assert ready["writes"]["paused_tailers"] >= 1 and "No space left" in ready["writes"]["last_error"], ready
    for writer in writers:
        assert writer.wait(timeout=120)["StatusCode"] == 0
    assert logship.run_log().count("cannot write") == 1, logship.run_log()[-3000:]  # once, not per retry
    errors = logship.metric("logship_buffer_write_errors_total", **ENOSPC)

    data.remount("size=512m")  # space returns
    back = time.monotonic()
    wait_until(lambda: not logship.readyz()["writes"]["failing"], 60, message="the tailers resuming")
    resumed = time.monotonic() - back
    fault_store.up()
    wait_for_lines(fault_store, logship, expected, timeout=180)
    logship.wait_drained("http")
    time.sleep(1)  # anything sent twice would arrive now

    counts = collections.Counter(fault_store.messages())
    report(capsys, f"disk full: {len(expected)} lines written, {len(set(counts) & expected)} delivered, "
                   f"{len(expected - set(counts))} lost, {duplicates(counts)} duplicated; {errors:.0f} ENOSPC "
                   f"write errors counted; writes settled (/readyz ready) {resumed:.1f}s after space returned")
    assert set(counts) == expected
    assert duplicates(counts) == 0
    assert logship.readyz()["ready"]
    assert "works again" in logship.run_log()
    assert logship.stop() == 0
