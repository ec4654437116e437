"""Every example env file in configs/ names real variables, and its active lines make a valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from logship.config import VARIABLES_BY_NAME, load

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.env"))
_ASSIGNMENT = re.compile(r"^#?(LOGSHIP_[A-Z0-9_]+)=(.*)$")


def known(name: str) -> bool:
    if name in VARIABLES_BY_NAME:
        return True
    base = name.removesuffix("_FILE")
    return name.endswith("_FILE") and base in VARIABLES_BY_NAME and VARIABLES_BY_NAME[base].secret


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_env_file(path: Path, tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            assert known(match.group(1)), f"{path.name}: {match.group(1)} is not a logship variable"
            if not line.startswith("#") and not match.group(1).endswith("_FILE"):
                environ[match.group(1)] = match.group(2)
    assert environ.get("LOGSHIP_SINK"), f"{path.name} sets no sink"
    load(environ)  # raises ConfigError naming the variable when a value does not parse


def test_there_is_an_example_for_every_network_sink() -> None:
    names = {path.stem for path in CONFIGS}
    assert {"http", "loki", "elasticsearch", "clickhouse", "otlp", "syslog", "gelf"} <= names
