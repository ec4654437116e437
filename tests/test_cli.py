"""The command line as a shell user meets it."""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO_ROOT, logship_env


def test_help_config_into_a_closed_pipe_ends_quietly() -> None:
    # `logship --help-config | head`: the reader is gone before logship writes. No traceback, one exit code.
    process = subprocess.Popen([sys.executable, "-m", "logship", "--help-config"], cwd=REPO_ROOT, env=logship_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert stderr == ""
