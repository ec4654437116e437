"""The checkpoint file's directory is unwritable for a while (a read-only remount), with a kill -9 and a
restart in the middle of it: every line arrives, and the restart does not collect again what the buffer
already holds (issue 12, points 1 and 3).

LOGSHIP_DATA_DIR (checkpoints.json) is a tmpfs the test mounts and then remounts read-only; the buffer
(DATA_DIR/buffer) is another tmpfs mounted inside it, so appends go on while checkpoint saves fail with
EROFS. The failure is counted, logged once and shown in /readyz. Regression: the restart started every
container from the stale checkpoint file and stored all the lines of the episode a second time. The
scenario is ``scenarios.checkpoint_dir_read_only``, also a row of ``python -m bench faults``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.conftest import check
from tests.faults.scenarios import Rig, SmallFs, checkpoint_dir_read_only

pytestmark = pytest.mark.docker


def test_checkpoint_dir_read_only_for_a_while_with_a_kill_every_line_arrives(
        rig: Rig, small_fs: Callable[..., SmallFs], capsys: pytest.CaptureFixture[str]) -> None:
    result = checkpoint_dir_read_only(rig, small_fs)
    check(result, capsys)  # duplicates within concurrency x batch: what was in flight at the one kill
    assert result.details["cannot_write_logged"] == 1, rig.logship.run_log()[-3000:]  # once, not per retry
    assert result.details["started_after_buffer"], rig.logship.run_log()[-3000:]
    assert result.details["works_again_logged"]
    assert rig.logship.stop() == 0
