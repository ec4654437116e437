"""The checkpoint file's directory is unwritable for a while (a read-only remount), with a kill -9 and a
restart in the middle of it: every line arrives, and the restart does not collect again what the buffer
already holds (issue 12, points 1 and 3).

LOGSHIP_DATA_DIR (checkpoints.json) is a tmpfs the test mounts and then remounts read-only; the buffer
(DATA_DIR/buffer) is another tmpfs mounted inside it, so appends go on while checkpoint saves fail with
EROFS. The failure is counted, logged once and shown in /readyz. Regression: the restart started every
container from the stale checkpoint file and stored all the lines of the episode a second time.
"""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Callable

import pytest

from tests.faults.conftest import SmallFs
from tests.ship.test_delivery_docker import duplicates, expected_lines, report, steady_writer, use_http, wait_for_lines
from tests.support import DockerHarness, LogshipProcess, ReceiverProcess, wait_until

pytestmark = pytest.mark.docker

EROFS = {"errno": "EROFS"}
BATCH_LINES = 500
CONCURRENCY = 2


def checkpoints_failing(logship: LogshipProcess) -> bool:
    ready = logship.readyz()
    return ready["writes"]["checkpoints_failing"] and not ready["ready"]


def test_checkpoint_dir_read_only_for_a_while_with_a_kill_every_line_arrives(
        docker: DockerHarness, logship: LogshipProcess, fault_store: ReceiverProcess, small_fs: Callable[..., SmallFs],
        capsys: pytest.CaptureFixture[str]) -> None:
    data = small_fs("data", size="64m")
    small_fs("buffer", size="256m", at=data.path / "buffer")
    fault_store.start()
    use_http(logship, fault_store.url, LOGSHIP_DATA_DIR=str(data.path), LOGSHIP_BATCH_MAX_LINES=str(BATCH_LINES),
             LOGSHIP_HTTP_CONCURRENCY=str(CONCURRENCY))
    logship.start()
    logship.health_url()
    lines = 15_000  # ~1,000 lines/s per container for ~15 s
    writers = [docker.run(steady_writer(f"r{i}", lines), name=f"ckpt-{docker.run_id}-{i}") for i in range(2)]
    expected = expected_lines("r0", lines) | expected_lines("r1", lines)
    wait_until(lambda: len(fault_store.lines()) >= 2000 and logship.metric("logship_checkpoint_saves_total") >= 1, 60,
               message="delivery and a first checkpoint save")

    data.remount("ro")
    wait_until(lambda: logship.metric("logship_buffer_write_errors_total", **EROFS) > 0, 30,
               message="a checkpoint save failing with EROFS")
    wait_until(lambda: checkpoints_failing(logship), 30, message="/readyz showing it")
    time.sleep(3)  # lines go on being collected and delivered meanwhile
    assert logship.run_log().count("cannot write") == 1, logship.run_log()[-3000:]  # once, not per retry
    delivered_before_kill = len(fault_store.lines())
    logship.kill()
    logship.start()  # the checkpoint file is still the one from before the remount, and still unwritable
    logship.health_url()
    wait_until(lambda: checkpoints_failing(logship), 30, message="/readyz after the restart")
    data.remount("rw")
    wait_until(lambda: logship.readyz()["ready"], 30, message="ready again once saves work")
    for writer in writers:
        assert writer.wait(timeout=120)["StatusCode"] == 0
    wait_for_lines(fault_store, logship, expected, timeout=120)
    logship.wait_drained("http")
    time.sleep(1)  # anything sent twice would arrive now

    counts = collections.Counter(fault_store.messages())
    bound = CONCURRENCY * BATCH_LINES
    report(capsys, f"checkpoint dir read-only, kill -9 and restart in the episode: {len(expected)} lines written, "
                   f"{len(set(counts) & expected)} delivered, {len(expected - set(counts))} lost, "
                   f"{duplicates(counts)} duplicated (bound {bound}: concurrency x batch); "
                   f"{delivered_before_kill} delivered before the kill")
    assert set(counts) == expected
    assert duplicates(counts) <= bound
    assert re.search(r"start positions: \d+ record.* [1-9]\d* stream\(s\) start after", logship.run_log())
    assert "works again" in logship.run_log()
    assert logship.stop() == 0
