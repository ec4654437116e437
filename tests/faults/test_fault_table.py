"""``python -m bench faults`` writes its table into bench/RESULTS.md's faults section, and ``python -m bench
all --record`` (which rewrites the file) keeps that section (issue 12, point 8). No Docker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import faults, report
from tests.faults.scenarios import FaultResult, tally

MACHINE = {"cores": 2, "memory_gib": 23.5, "kernel": "6.1", "dockerd_version": "20.10", "loadavg_at_start": ["1"]}


def document(*results: FaultResult) -> dict[str, Any]:
    return {"run_id": "20261207-120000-faults", "command": "python -m bench faults", "started": 0.0,
            "git": {"commit": "abc", "subject": "s"}, "machine": MACHINE, "names": ["kill9-flapping"],
            "rows": [{"name": "kill9-flapping", **result.__dict__, "ok": result.ok} for result in results]}


def test_tally_counts_lost_and_duplicated_lines() -> None:
    result = tally("kill", {"a 1", "a 2", "a 3"}, ["a 1", "a 1", "a 1", "a 2"], 1.5, bound=2)
    assert (result.written, result.delivered, result.lost, result.duplicated) == (3, 2, 1, 2)
    assert not result.ok
    with pytest.raises(AssertionError, match="nobody wrote"):
        tally("kill", {"a 1"}, ["a 1", "b 1"], 0.0)


def test_the_section_replaces_itself_and_survives_a_record_of_the_other_benches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(f"# logship bench\n\n## steady\n\n{report.ANALYSIS_START}\nby hand\n{report.ANALYSIS_END}\n")
    row = tally("kill -9 x10, store flapping", {f"s {i}" for i in range(10)}, [f"s {i}" for i in range(10)] * 2,
                2.25, bound=10_000, seed=7)
    faults.write_section(results, faults.section(document(row)))
    faults.write_section(results, faults.section(document(row)))
    text = results.read_text()
    assert text.count(report.FAULTS_START) == 1 and text.count(report.FAULTS_END) == 1
    assert "| kill -9 x10, store flapping | 10 | 10 | 0 | 10 | 10,000 | 2.2 | seed 7 |" in text
    assert text.index(report.FAULTS_END) < text.index(report.ANALYSIS_START)

    monkeypatch.setattr(report, "results_markdown", lambda document, note, analysis: f"# new\n\n{analysis}\n")
    report.write_results_md(results, {})
    rewritten = results.read_text()
    assert rewritten.startswith("# new")
    assert "| kill -9 x10, store flapping |" in rewritten and "by hand" in rewritten
