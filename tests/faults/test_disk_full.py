"""The data directory's filesystem fills while the store is down, then space returns: every line arrives
exactly once (issue 12, point 1).

A real dockerd container writes numbered lines, a real logship ships them to the fake store (a separate
process) which is down, so the buffer grows until the small tmpfs holding LOGSHIP_DATA_DIR is full and
appends fail with ENOSPC. Regression: the tailer's position had moved when it decoded, so the lines of
the failed append were skipped as replays when it read again (703 of 60,000 lost). The scenario is
``scenarios.disk_full``, also a row of ``python -m bench faults``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.conftest import check
from tests.faults.scenarios import Rig, SmallFs, disk_full

pytestmark = pytest.mark.docker


def test_disk_full_while_the_store_is_down_then_space_returns_every_line_once(
        rig: Rig, small_fs: Callable[..., SmallFs], capsys: pytest.CaptureFixture[str]) -> None:
    result = disk_full(rig, small_fs)
    details = result.details
    ready = details.pop("ready_while_full")
    check(result, capsys)
    assert result.duplicated == 0
    assert details["enospc_errors"] > 0
    assert not ready["ready"] and ready["writes"]["failing"], ready
    assert ready["writes"]["paused_tailers"] >= 1 and "No space left" in ready["writes"]["last_error"], ready
    assert details["cannot_write_logged"] == 1, rig.logship.run_log()[-3000:]  # once, not per retry
    assert details["ready_at_end"]
    assert details["works_again_logged"]
    assert rig.logship.stop() == 0
