"""``python -m bench backlog --rounds N``: each round's store sinks relate to that round's file sink, and
the report's ratio is the ratio of the means over the rounds (one round's ratio moves by ±20 % here)."""

from __future__ import annotations

from typing import Any

from bench import scenarios
from bench.__main__ import _parser, _plan


def _case(sink: str, round_number: int, cpu: float, containers: int = 4) -> dict[str, Any]:
    return {"scenario": "backlog", "case": f"backlog-{sink}-{containers}-round{round_number}",
            "params": {"containers": containers, "lines_per_container": 100_000, "sink": sink, "writers": "exited",
                       "pinned": "dockerd on CPU 0", "profile": "", "round": round_number},
            "figures": {"cpu_us_per_line": cpu, "host_us_per_line": cpu + 5}, "targets": []}


def test_each_round_relates_to_its_own_file_case() -> None:
    cases = [_case("file", 1, 4.0), _case("loki", 1, 6.0), _case("file", 2, 6.0), _case("loki", 2, 6.6)]
    scenarios.relate_to_file(cases)
    assert [case["figures"].get("cpu_vs_file") for case in cases] == [None, 1.5, None, 1.1]


def test_the_ratio_over_rounds_is_the_ratio_of_the_means() -> None:
    cases = [_case("file", 1, 4.0), _case("elasticsearch", 1, 6.0), _case("otlp", 1, 5.0),
             _case("file", 2, 6.0), _case("elasticsearch", 2, 6.6), _case("otlp", 2, 6.0),
             _case("file", 3, 5.0), _case("elasticsearch", 3, 7.5), _case("otlp", 3, 5.5)]
    rows = {row["sink"]: row for row in scenarios.over_rounds(cases)}
    assert rows["file"]["cpu_us_per_line_mean"] == 5.0 and "cpu_vs_file_of_means" not in rows["file"]
    assert rows["elasticsearch"]["rounds"] == 3
    assert rows["elasticsearch"]["cpu_us_per_line_mean"] == 6.7
    assert (rows["elasticsearch"]["cpu_us_per_line_min"], rows["elasticsearch"]["cpu_us_per_line_max"]) == (6.0, 7.5)
    assert rows["elasticsearch"]["cpu_vs_file_of_means"] == 1.34
    assert rows["elasticsearch"]["target"]["pass"] is False
    assert rows["otlp"]["cpu_vs_file_of_means"] == 1.1 and rows["otlp"]["target"]["pass"] is True


def test_one_round_and_other_sizes_give_no_mean() -> None:
    single = [_case("file", 0, 4.0), _case("loki", 0, 6.0)]
    assert scenarios.over_rounds(single) == []
    mixed = [_case("file", 1, 4.0), _case("loki", 1, 6.0, containers=16), _case("file", 2, 4.0),
             _case("loki", 2, 6.0, containers=16)]
    rows = {row["sink"]: row for row in scenarios.over_rounds(mixed)}
    assert "cpu_vs_file_of_means" not in rows["loki"]  # no file sink's rounds of 16 containers


def test_rounds_take_the_sinks_in_turn() -> None:
    args = _parser().parse_args(["backlog", "--sink", "file,loki", "--rounds", "3", "--containers", "4"])
    # Each step is a lambda whose defaults are its case: containers, writers, sink, round.
    steps = [step.__defaults__ for step in _plan(args)]
    assert steps == [(4, "running", sink, number) for number in (1, 2, 3) for sink in ("file", "loki")]
    one = _parser().parse_args(["backlog", "--sink", "file,loki"])
    assert [step.__defaults__ for step in _plan(one)] == [(4, "running", "file", 0), (4, "running", "loki", 0)]
