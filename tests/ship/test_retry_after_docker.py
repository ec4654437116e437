"""End to end, issue 12 point 4: a store's ``Retry-After`` pauses the whole sink, not just the batch it answered.

A real ``python -m logship`` ships a real container's lines through the http sink (four requests in flight
at most) to the fault-injecting receiver (``tests.fakes.http_receiver`` as a process). The receiver answers
the first request 429 with ``Retry-After``; once logship has counted that retry, a second container writes
lines that make many new batches. None of their requests may reach the store before the delay has passed:
the test compares the arrival times the receiver recorded with the time it answered the 429 (nothing about
how fast logship is).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import DockerHarness, LogshipProcess, ReceiverProcess, wait_until

pytestmark = pytest.mark.docker

RETRY_AFTER = 4  # seconds


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverProcess]:
    process = ReceiverProcess(tmp_path)
    yield process
    process.stop()


def test_no_request_reaches_the_store_before_its_retry_after_has_passed(
        docker: DockerHarness, logship: LogshipProcess, receiver: ReceiverProcess) -> None:
    receiver.start()
    receiver.fail(429, times=1, headers={"Retry-After": str(RETRY_AFTER)})
    logship.env.update({"LOGSHIP_SINK": "http", "LOGSHIP_HTTP_URL": receiver.url, "LOGSHIP_HTTP_CONCURRENCY": "4",
                        "LOGSHIP_BATCH_MAX_LINES": "50", "LOGSHIP_RETRY_INITIAL": "100ms",
                        "LOGSHIP_RETRY_MAX": "10s"})
    logship.start()
    docker.run("echo first", name=f"first-{docker.run_id}")

    def told_to_wait() -> bool:
        logship.assert_alive()
        return logship.metric("logship_retries_total", sink="http", reason="http_429") >= 1

    wait_until(told_to_wait, 60, message="the 429 counted as a retry")
    # Many new batches while the sink is paused (4 in flight at most, 50 lines each).
    docker.run("seq 3000 | sed 's/^/line /'", name=f"burst-{docker.run_id}")
    expected = {"first"} | {f"line {i}" for i in range(1, 3001)}

    def all_arrived() -> bool:
        logship.assert_alive()
        return expected <= set(receiver.messages())

    wait_until(all_arrived, 90, interval=0.5, message="every line at the receiver")
    assert not [line for line, count in collections.Counter(receiver.messages()).items() if count > 1]

    requests = receiver.requests()
    [told] = [request for request in requests if request["status"] == 429]
    window_end = told["answered"] + RETRY_AFTER
    inside = [request for request in requests if told["answered"] <= request["arrived"] < window_end]
    assert inside == [], f"{len(inside)} request(s) reached the store within its Retry-After: {inside[:3]}"
    after = [request for request in requests if request["arrived"] >= window_end]
    assert len(after) >= 3000 // 50  # the burst went after the pause, in many batches
    [again] = [request for request in after if request["digest"] == told["digest"]]  # the refused batch, once
    assert again["status"] == 200
    assert logship.stop() == 0
