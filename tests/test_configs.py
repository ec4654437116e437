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


def _statement(sql: str) -> str:
    """A SQL text without its comments, its white space folded, no trailing semicolon."""
    return " ".join(re.sub(r"--[^\n]*", "", sql).split()).rstrip(";").strip()


@pytest.mark.parametrize("schema", ["compat", "modern"])
def test_clickhouse_sql_files_are_the_statements_the_sink_runs(schema: str) -> None:
    """configs/clickhouse/<schema>.sql (for a user creating the table by hand) and the statement the sink
    runs with LOGSHIP_CLICKHOUSE_CREATE_TABLE=true are the same, comments aside: one cannot drift."""
    from logship.sinks.clickhouse.sink import COMPAT_DDL, MODERN_DDL

    sql = (CONFIGS[0].parent / "clickhouse" / f"{schema}.sql").read_text()
    assert _statement(sql) == _statement({"compat": COMPAT_DDL, "modern": MODERN_DDL}[schema])
