"""dockerd restarted under load (issue 12, point 7): every line the containers wrote is delivered.

Three containers write ~1,000 numbered lines/s each (restart policy ``always``) and a backlog waits; dockerd
gets SIGTERM and is started again with its own command line; the containers come back and logship,
which kept running, follows their new runs. Every line in dockerd's logs of those containers (every run)
must reach the store. Marked ``dockerd_restart``: it runs after every other test (tests/conftest.py); by
hand only under ``flock -x /tmp/logship-docker.lock``. The scenario is ``scenarios.dockerd_restart``.
"""

from __future__ import annotations

import pytest

from tests.faults.conftest import check
from tests.faults.scenarios import Rig, dockerd_restart

pytestmark = [pytest.mark.docker, pytest.mark.dockerd_restart]


def test_dockerd_restarted_under_load_every_line_delivered(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    result = dockerd_restart(rig)
    check(result, capsys)
    assert result.details["runs"] >= 6  # each writer's run before and after the restart
    assert rig.logship.stop() == 0
