"""kill -9 in the middle of a multiline event: the event arrives whole, once (issue 14, point 1).

A real container prints half a Python traceback, waits, then prints the rest; a real logship following it
(file sink) is killed with SIGKILL while it holds the first half, and started again. The checkpoint never
covered the held lines, so the restarted logship reads them again and joins the whole trace.

Second case: logship is killed right after it stored the joined event, before its checkpoint file caught
up (checkpoints are saved with the buffer's fsync, here every 30 s). At start the position comes from the
buffer's last records, and a joined record positions its stream at its *last* line (``log.end``): the
trace's lines are not read again as lines of their own.
"""

from __future__ import annotations

import shlex
import time
from typing import Any

import pytest

from tests.support import DockerHarness, LogshipProcess, wait_until

pytestmark = pytest.mark.docker

FIRST_HALF = ["Traceback (most recent call last):", '  File "/app/worker.py", line 41, in <module>',
              "    main()", '  File "/app/worker.py", line 37, in main']
SECOND_HALF = ['    raise ValueError("order 42 not found")', "ValueError: order 42 not found"]
TRACE = "\n".join(FIRST_HALF + SECOND_HALF)


def printf(lines: list[str], stream: str = "") -> str:
    return "printf '%s\\n' " + " ".join(shlex.quote(line) for line in lines) + stream


def records_of(logship: LogshipProcess, name: str) -> list[dict[str, Any]]:
    return [r for r in logship.records() if r["container"]["name"] == name]


def test_kill_9_while_an_event_is_held_the_event_arrives_whole_once(docker: DockerHarness,
                                                                      logship: LogshipProcess) -> None:
    logship.start()
    logship.health_url()
    name = f"kill9-multiline-{docker.run_id}"
    script = "; ".join([printf(["before the trace"]), printf(FIRST_HALF, " >&2"), "sleep 6",
                        printf(SECOND_HALF, " >&2"), printf(["after the trace"]), "sleep 30"])
    # The timeout must outlast the pause in the middle of the trace (the default 1s would ship the half).
    docker.run(script, name=name, labels={"logship.multiline.timeout": "30s"})
    logship.wait_for_messages(name, 1)
    time.sleep(2)  # the first half has been read and held; the checkpoints were saved meanwhile (200 ms)
    logship.kill()
    logship.start()
    logship.health_url()
    logship.wait_for_messages(name, 3, timeout=60)
    time.sleep(1)
    records = records_of(logship, name)
    # stdout and stderr are independent streams: their order relative to each other is not kept.
    assert [r["message"] for r in records if r["stream"] == "stdout"] == ["before the trace", "after the trace"]
    [trace] = [r for r in records if r["stream"] == "stderr"]
    assert trace["message"] == TRACE
    assert trace["log"] == {"level": "error", "lines": len(FIRST_HALF) + len(SECOND_HALF), "end": trace["log"]["end"]}
    assert trace["log"]["end"] > trace["timestamp"]
    assert logship.stop() == 0


def test_kill_9_after_the_event_was_stored_its_lines_are_not_read_again(docker: DockerHarness,
                                                                        logship: LogshipProcess) -> None:
    logship.env["LOGSHIP_BUFFER_FSYNC_INTERVAL"] = "30s"  # the checkpoint file lags the buffer
    logship.start()
    logship.health_url()
    name = f"kill9-stored-{docker.run_id}"
    script = "; ".join([printf(["before the trace"]), "sleep 2", printf(FIRST_HALF + SECOND_HALF, " >&2"),
                        "sleep 4", printf(["after the trace"]), "sleep 30"])
    docker.run(script, name=name)
    wait_until(lambda: any(r["message"] == TRACE for r in records_of(logship, name)), 60, message="the trace")
    logship.kill()
    logship.start()
    logship.health_url()
    wait_until(lambda: any(r["message"] == "after the trace" for r in records_of(logship, name)), 60,
               message="the line after the trace")
    time.sleep(1)
    # A record delivered twice (the file sink's acknowledgement lagged the kill) is the same record; a
    # line read again from dockerd would be a new record holding part of the trace.
    distinct = {(r["timestamp"], r["stream"], r["message"]) for r in records_of(logship, name)}
    assert sorted(message for _, _, message in distinct) == sorted(["before the trace", TRACE, "after the trace"])
    assert logship.stop() == 0
