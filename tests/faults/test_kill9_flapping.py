"""kill -9 ten times at random moments under mixed load while the store flaps (issue 12, point 7).

Mixed load: a backlog written before logship starts, two steady writers, short-lived containers starting
and exiting every second. The store (``tests.fakes.http_receiver`` as a process) cycles through 503,
429 with ``Retry-After``, connections reset mid-body and requests that never get an answer (the client
times out), with short healthy spells between. Every line must arrive; duplicates only within what was
in flight at the kills: kills x concurrency x batch size (point 3). The scenario is
``scenarios.kill9_flapping``, also a row of ``python -m bench faults``.
"""

from __future__ import annotations

import pytest

from tests.faults.conftest import check
from tests.faults.scenarios import Rig, kill9_flapping

pytestmark = pytest.mark.docker


def test_kill_9_ten_times_under_mixed_load_while_the_store_flaps_every_line_arrives(
        rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    result = kill9_flapping(rig, kills=10)
    check(result, capsys)
    faults = result.details["store_faults"]
    assert {"503", "429", "reset", "hang"} <= set(faults), f"the store did not go through every fault: {faults}"
    assert rig.logship.stop() == 0
