"""``python -m bench faults``: the fault table of issue 12 (point 8), from the scenarios the tests run.

Each row is one scenario of ``tests/faults/scenarios.py`` (the code ``tests/faults/`` asserts on, not a
copy) run once against the real dockerd, with a real ``python -m logship`` from this work tree and the
fault-injecting store: fault → lines written, delivered, lost, duplicated (and the duplicates allowed),
seconds to recover. The table is printed, saved with every detail as
``bench/results/<run id>/faults.json`` and written into ``bench/RESULTS.md`` between the ``faults``
markers (``python -m bench all --record`` keeps that section).

Needs root (tmpfs mounts for the disk rows). ``--dockerd-restart`` adds the row that restarts dockerd,
which stops every container on the machine for a moment: only on a machine of your own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.machine import git_state, machine_info
from bench.report import ANALYSIS_START, FAULTS_END, FAULTS_START, markdown_table, text_table
from tests.faults import scenarios
from tests.faults.scenarios import FaultResult, Mounts, Rig
from tests.support import DockerHarness, LogshipProcess, ReceiverProcess

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_MD = BENCH_DIR / "RESULTS.md"
HEAD = ["fault", "lines written", "delivered", "lost", "duplicated", "duplicates allowed", "seconds to recover",
        "notes"]

Scenario = Callable[[Rig, Mounts, argparse.Namespace], FaultResult]

# name → scenario, in the table's order. Sizes are those of the tests, but the outage: --long.
SCENARIOS: dict[str, Scenario] = {
    "disk-full": lambda rig, mounts, args: scenarios.disk_full(rig, mounts),
    "checkpoint-dir": lambda rig, mounts, args: scenarios.checkpoint_dir_read_only(rig, mounts),
    "kill9-flapping": lambda rig, mounts, args: scenarios.kill9_flapping(rig, kills=10),
    "garbage": lambda rig, mounts, args: scenarios.store_mode(rig, "garbage", seconds=3),
    "elasticsearch-garbage": lambda rig, mounts, args: scenarios.elasticsearch_garbage(rig),
    "deaf": lambda rig, mounts, args: scenarios.store_mode(rig, "deaf", seconds=8),
    "dockerd-restart": lambda rig, mounts, args: scenarios.dockerd_restart(rig),
    "store-down": lambda rig, mounts, args: scenarios.store_down(rig, down=600.0 if args.long else 60.0),
}
# Figures worth a place in the notes column (the JSON has every detail).
NOTES = ("seed", "kills_at", "store_faults", "retries", "answers_garbled", "conflicts_409", "enospc_errors",
         "rss_before_mib", "rss_end_of_outage_mib", "rss_change", "rss_after_catch_up_mib", "lines_per_second",
         "last_line_after_restart_seconds")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m bench faults``."""
    parser.add_argument("--long", action="store_true", help="the store down for 10 minutes (default 60 s)")
    parser.add_argument("--only", default="", help=f"comma list of rows: {', '.join(SCENARIOS)}")
    parser.add_argument("--dockerd-restart", action="store_true",
                        help="include the row that restarts dockerd (stops every container for a moment)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows of the latest earlier run (bench/results/*-faults) that this run does "
                             "not repeat, e.g. a --only dockerd-restart run done apart")
    parser.add_argument("--no-record", action="store_true", help="print only; leave bench/RESULTS.md as it is")
    parser.add_argument("--note", default="", help="a sentence for RESULTS.md (e.g. how busy the machine was)")
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")


def _selected(args: argparse.Namespace) -> list[str]:
    names = [name.strip() for name in args.only.split(",") if name.strip()] or [
        name for name in SCENARIOS if name != "dockerd-restart" or args.dockerd_restart]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"--only: unknown row(s) {', '.join(unknown)}; expected {', '.join(SCENARIOS)}")
    return names


def run_one(harness: DockerHarness, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one scenario in a fresh temp dir with a fresh run label; its row (or the error) as a dict."""
    work = Path(tempfile.mkdtemp(prefix=f"logship-faults-{name}-"))
    harness.run_id = uuid.uuid4().hex[:10]
    logship = LogshipProcess(work, {"LOGSHIP_INCLUDE_LABELS": f"logship.test.run={harness.run_id}"})
    rig = Rig(harness, logship, ReceiverProcess(work))
    mounts = Mounts(work)
    started = time.monotonic()
    print(f"{name}: running (work dir {work})", flush=True)
    try:
        result = SCENARIOS[name](rig, mounts, args)
        row: dict[str, Any] = {"name": name, **result.__dict__, "ok": result.ok}
        print(f"{name}: {result.summary()}", flush=True)
    except Exception as exc:  # a row that could not finish is reported as such, the others still run
        row = {"name": name, "fault": name, "error": f"{type(exc).__name__}: {exc}", "ok": False,
               "log_tail": logship.log_text()[-3000:]}
        traceback.print_exc()
    finally:
        logship.ensure_stopped()
        rig.store.stop()
        with contextlib.suppress(Exception):
            harness.cleanup()
        mounts.close()
        shutil.rmtree(work, ignore_errors=True)
    row["seconds"] = round(time.monotonic() - started, 1)
    return row


def _notes(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"did not finish: {row['error']}"[:300]
    details = row.get("details", {})
    return "; ".join(f"{key.replace('_', ' ')} {_plain(details[key])}" for key in NOTES if key in details)


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    """The fault table's cells (HEAD) of each row."""
    cells = []
    for row in rows:
        if "error" in row:
            cells.append([row["fault"], "", "", "", "", "", "", _notes(row)])
            continue
        cells.append([row["fault"], f"{row['written']:,}", f"{row['delivered']:,}", f"{row['lost']:,}",
                      f"{row['duplicated']:,}", f"{row['bound']:,}", f"{row['recover_seconds']:.1f}", _notes(row)])
    return cells


def merged(document: dict[str, Any], results_dir: Path) -> dict[str, Any]:
    """``document`` with the rows of the latest earlier faults run that it does not repeat (SCENARIOS order)."""
    earlier = sorted(path for path in results_dir.glob("*-faults/faults.json")
                     if path.parent.name != document["run_id"])
    if not earlier:
        return document
    previous = json.loads(earlier[-1].read_text())
    ran = {row["name"] for row in document["rows"]}
    rows = [row for row in previous["rows"] if row["name"] not in ran] + document["rows"]
    rows.sort(key=lambda row: list(SCENARIOS).index(row["name"]))
    runs = [run for run in previous.get("runs", [previous]) if {r["name"] for r in rows} & set(run.get("names", []))]
    return {**document, "rows": rows, "runs": [*runs, document]}


def _run_line(run: dict[str, Any]) -> str:
    git = run["git"]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(run["started"]))
    modified = git.get("logship_files_modified") or []
    return (f"- **Run** `{run['run_id']}`, {when}: `{run['command']}` (rows: {', '.join(run.get('names', []))}); "
            f"commit `{git.get('commit', '?')[:12]}` ({git.get('subject', '')})"
            f"{'; logship/ modified: ' + ', '.join(modified) if modified else ''}")


def section(document: dict[str, Any]) -> str:
    """The faults section of RESULTS.md, markers included."""
    machine = document["machine"]
    runs = [{key: value for key, value in run.items() if key not in ("rows", "runs")}
            for run in document.get("runs", [document])]
    lines = [FAULTS_START, "## faults", "", *map(_run_line, runs),
             f"- **Machine**: {machine['cores']} cores, {machine['memory_gib']} GiB, kernel {machine['kernel']}; "
             f"dockerd {machine['dockerd_version']}; load average at start {' '.join(machine['loadavg_at_start'])}"]
    if document.get("note"):
        lines += ["", document["note"]]
    lines += [
        "",
        markdown_table(HEAD, table_rows(document["rows"])),
        "",
        "Each row is a scenario of `tests/faults/scenarios.py`, the code the tests in `tests/faults/` assert on: "
        "busybox containers on the real dockerd write numbered lines, a real `python -m logship` ships them "
        "through the `http` sink (the Elasticsearch row: the `elasticsearch` sink) to the fault-injecting "
        "store of `tests/fakes/http_receiver.py`. *delivered*: distinct lines the store kept; *duplicated*: "
        "extra copies; *duplicates allowed*: kill -9 rows, concurrency x batch size per kill (issue 12 point 3), "
        "else 0; *seconds to recover*: from the end of the fault (store healthy again, space back) until the "
        "last line had arrived; for dockerd, from its answering again until logship followed the new run of "
        "every container.",
        FAULTS_END,
    ]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    """Put ``text`` in place of the faults section of ``path`` (before the analysis when there is none yet)."""
    old = path.read_text() if path.exists() else ""
    start, end = old.find(FAULTS_START), old.find(FAULTS_END)
    if 0 <= start < end:
        new = old[:start] + text + old[end + len(FAULTS_END):]
    elif (at := old.find(ANALYSIS_START)) >= 0:
        new = old[:at] + text + "\n\n" + old[at:]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(new)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the selected rows, print the table, save the JSON and (unless --no-record) RESULTS.md."""
    names = _selected(args)
    harness = DockerHarness.connect()
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-faults"
    document: dict[str, Any] = {
        "run_id": run_id, "command": "python -m bench " + shlex.join([a for a in argv if a != args.note]),
        "note": args.note, "started": time.time(), "git": git_state(), "names": names,
        "machine": machine_info(harness.client.version()), "rows": []}
    results_dir: Path = args.results_dir / run_id
    results_dir.mkdir(parents=True, exist_ok=True)
    try:
        for name in names:
            document["rows"].append(run_one(harness, name, args))
            (results_dir / "faults.json").write_text(json.dumps(document, indent=1, default=str))
    finally:
        harness.close()
    print()
    print(text_table(HEAD[:-1], [cells[:-1] for cells in table_rows(document["rows"])]))
    print(f"\nresults: {results_dir / 'faults.json'}")
    failed = [row["name"] for row in document["rows"] if not row["ok"]]
    if failed:
        print(f"rows that did not hold (lost lines, too many duplicates, or not finished): {', '.join(failed)}",
              file=sys.stderr)
    if not args.no_record:
        write_section(RESULTS_MD, section(merged(document, args.results_dir) if args.merge else document))
        print("wrote the faults section of bench/RESULTS.md")
    return 1 if failed else 0
