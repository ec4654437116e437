"""A running container's backlog is read without ``follow``, then followed: the switch loses and repeats nothing.

Real dockerd, real logship process. The container writes a backlog (with a line longer than Docker's 16 KiB
pieces in it) before logship starts, then keeps writing while logship catches up and opens its follow stream
from the checkpoint the catch-up left; stdout and stderr both. Every line must arrive once, in order.
"""

from __future__ import annotations

import pytest

from tests.collect.test_follow_docker import LONG
from tests.support import DockerHarness, LogshipProcess, wait_until

pytestmark = pytest.mark.docker

BACKLOG = 20_000
AFTER = 3_000


def writer_script() -> str:
    """``out N`` / ``err N`` for the backlog at full speed, a long line, then ``AFTER`` more lines a
    millisecond apart (the catch-up ends and the follow stream opens while these are being written)."""
    return (
        f'i=1; while [ $i -le {BACKLOG} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; '
        f"head -c {LONG} /dev/zero | tr '\\0' x; echo; "
        f'while [ $i -le {BACKLOG + AFTER} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); usleep 1000; done; '
        "exec sleep 3600"
    )


def test_catch_up_then_follow_loses_and_repeats_nothing(docker: DockerHarness, logship: LogshipProcess) -> None:
    name = f"catchup-{docker.run_id}"
    container = docker.run(writer_script(), name=name)
    # logship starts once the backlog is written and while the slow part is being written.
    wait_until(lambda: b"x" * 100 in container.logs(tail=AFTER + 5), 60, message="the backlog written")
    logship.start()
    total = BACKLOG + AFTER
    logship.wait_for_messages(name, total + 1 + total, timeout=120)  # stdout lines, the long line, stderr lines
    container.kill()
    logship.wait_drained("file")
    expected_out = [f"out {i}" for i in range(1, BACKLOG + 1)] + ["x" * LONG] + [
        f"out {i}" for i in range(BACKLOG + 1, total + 1)]
    assert logship.messages(name, "stdout") == expected_out
    assert logship.messages(name, "stderr") == [f"err {i}" for i in range(1, total + 1)]
    assert logship.stop() == 0
