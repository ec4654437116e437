"""Issue 12, point 6: a store that stays down does not stop collection nor the other sinks.

A real ``python -m logship`` ships a real container's numbered lines to two sinks: ``file`` and ``http``,
whose store (``tests.fakes.http_receiver`` as a process) is down (503 to every request). The buffer is
small (4 MiB); the lines are four times that.

- With ``LOGSHIP_HTTP_MAX_BACKLOG``: the http sink gives up its oldest records, so the file sink gets every
  line while the store is down; ``/readyz`` and ``logship status`` say how far behind http is; once the
  store is back it gets the rest, and ``logship_lines_dropped_total`` counts exactly the lines it never got.
- Without it (the default), today's lossless ``block``: collection stops once the buffer is full, and
  every line reaches both sinks after the store is back.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import DockerHarness, LogshipProcess, ReceiverProcess, run_logship, wait_until

pytestmark = pytest.mark.docker

LINES = 40_000  # ~16 MiB of records: four times the buffer
MAX_BACKLOG = 1024 * 1024


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverProcess]:
    process = ReceiverProcess(tmp_path)
    yield process
    process.stop()


def two_sinks(logship: LogshipProcess, receiver: ReceiverProcess, **env: str) -> None:
    """file + http (whose store answers 503 until ``back``), a 4 MiB buffer of 256 KiB segments, quick
    retries. (It keeps listening: a port it let go could be taken by logship's own health server.)"""
    receiver.start()
    receiver.fail(503, times=100_000)  # far more than the outage sees
    logship.env.update({"LOGSHIP_SINK": "file,http", "LOGSHIP_HTTP_URL": receiver.url,
                        "LOGSHIP_BUFFER_MAX_BYTES": "4MiB", "LOGSHIP_BUFFER_SEGMENT_BYTES": "256KiB",
                        "LOGSHIP_RETRY_INITIAL": "100ms", "LOGSHIP_RETRY_MAX": "1s", **env})


def back(receiver: ReceiverProcess) -> None:
    """The store answers again."""
    receiver.clear()


def numbered(name: str) -> list[str]:
    return [f"{name} {i}" for i in range(1, LINES + 1)]


def test_a_sink_over_its_max_backlog_gives_up_its_oldest_lines_and_the_others_go_on(
        docker: DockerHarness, logship: LogshipProcess, receiver: ReceiverProcess) -> None:
    two_sinks(logship, receiver, LOGSHIP_HTTP_MAX_BACKLOG=str(MAX_BACKLOG))
    logship.start()
    name = f"numbers-{docker.run_id}"
    docker.run(f"seq {LINES} | sed 's/^/{name} /'", name=name)
    expected = numbered(name)

    # The file sink gets every line while the http store is down: collection never stopped.
    assert logship.wait_for_messages(name, LINES, timeout=180) == expected
    dropped = logship.metric("logship_lines_dropped_total", sink="http", reason="max_backlog")
    assert dropped > 0

    def settled() -> dict | None:
        behind = logship.readyz()["sinks"]["http"]["behind"]
        return behind if behind["bytes"] <= MAX_BACKLOG else None

    behind = wait_until(settled, 30, message="the http backlog within its limit")
    assert behind["records"] > 0 and behind["oldest_age_seconds"] >= 0
    status = run_logship("status", "--url", logship.health_url(), timeout=60)
    assert "sink http" in status.stdout and "behind by" in status.stdout, status.stdout
    dropped = logship.metric("logship_lines_dropped_total", sink="http", reason="max_backlog")

    back(receiver)
    logship.wait_drained("http", timeout=120)
    got = receiver.messages()
    assert not [line for line, count in collections.Counter(got).items() if count > 1], "duplicates"
    # The oldest lines were given up, exactly as many as counted; the store got the rest once each.
    assert sorted(got, key=lambda line: int(line.split()[1])) == expected[LINES - len(got):]
    assert dropped == LINES - len(got)
    assert logship.metric("logship_lines_dropped_total", sink="http", reason="max_backlog") == dropped
    assert logship.metric("logship_lines_dropped_total", sink="file", reason="max_backlog") == 0
    log = logship.run_log()
    assert log.count("giving up its oldest records") == 1, "logged once for the episode"
    wait_until(lambda: "caught up" in logship.run_log(), 10, message="the end of the episode logged")
    assert logship.stop() == 0


def test_without_max_backlog_a_store_that_stays_down_blocks_collection_and_loses_nothing(
        docker: DockerHarness, logship: LogshipProcess, receiver: ReceiverProcess) -> None:
    two_sinks(logship, receiver)
    logship.start()
    name = f"numbers-{docker.run_id}"
    docker.run(f"seq {LINES} | sed 's/^/{name} /'", name=name)

    def blocked() -> bool:
        logship.assert_alive()
        return logship.metric("logship_buffer_blocked_seconds_total") >= 2.0

    wait_until(blocked, 120, message="collection blocked by the full buffer")
    assert len(logship.messages(name)) < LINES  # the file sink waits too: collection stopped

    back(receiver)
    expected = numbered(name)
    assert logship.wait_for_messages(name, LINES, timeout=180) == expected
    logship.wait_drained("http", timeout=120)
    assert sorted(receiver.messages(), key=lambda line: int(line.split()[1])) == expected
    assert logship.metric("logship_lines_dropped_total", sink="http", reason="max_backlog") == 0
    assert logship.stop() == 0
