"""The bench's output: a table on the terminal, ``results.json`` with every figure and series, PNG charts,
and (``--record``) ``bench/RESULTS.md``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

MIB = 1024 * 1024

# Per scenario: (column title, how to get the text from a case).
Columns = list[tuple[str, Callable[[dict[str, Any]], Any]]]


def _f(key: str, fmt: str = "{}") -> Callable[[dict[str, Any]], Any]:
    def get(case: dict[str, Any]) -> Any:
        value = case["figures"].get(key)
        return "-" if value is None else fmt.format(value)
    return get


def _share(case: dict[str, Any]) -> str:
    figures = case["figures"]
    text = f"{figures['delivered_share']:.4%}"
    if figures.get("lines_duplicated"):
        text += f" (+{figures['lines_duplicated']} dup)"
    return text


COLUMNS: dict[str, Columns] = {
    "backlog": [
        ("case", lambda c: c["case"]),
        ("lines", _f("lines_expected", "{:,}")),
        ("seconds", _f("seconds", "{:.1f}")),
        ("lines/s", _f("lines_per_s", "{:,}")),
        ("MB/s", _f("mb_per_s")),
        ("ceiling lines/s", _f("ceiling_lines_per_s", "{:,}")),
        ("ratio", _f("ratio_to_ceiling", "{:.2f}")),
        ("ratio after 1st line", _f("ratio_to_ceiling_after_first_line", "{:.2f}")),
        ("CPU µs/line (= s/M lines)", _f("cpu_us_per_line")),
        ("dockerd µs/line", _f("dockerd_us_per_line")),
        ("host µs/line", _f("host_us_per_line")),
        ("CPU vs file", _f("cpu_vs_file", "{:.2f}x")),
        ("dockerd cores", _f("dockerd_cores", "{:.2f}")),
        ("peak RSS MB", _f("peak_rss_mb")),
        ("machine busy", _f("machine_busy_cores", "{:.2f}")),
        ("delivered", _share),
    ],
    "steady": [
        ("case", lambda c: c["case"]),
        ("containers", lambda c: c["params"]["containers"]),
        ("lines/s written", _f("lines_written_per_s", "{:,}")),
        ("CPU % core", _f("cpu_pct_of_core", "{:.1f}")),
        ("CPU µs/line", _f("cpu_us_per_line")),
        ("peak RSS MB", _f("peak_rss_mb")),
        ("p50 s", _f("latency_p50_s", "{:.3f}")),
        ("p99 s", _f("latency_p99_s", "{:.3f}")),
        ("max s", _f("latency_max_s", "{:.3f}")),
        ("dockerd % core", _f("dockerd_cpu_pct_of_core", "{:.1f}")),
        ("host µs/line", _f("host_us_per_line")),
        ("machine busy", _f("machine_busy_cores", "{:.2f}")),
        ("delivered", _share),
    ],
    "churn": [
        ("case", lambda c: c["case"]),
        ("containers", _f("containers_started")),
        ("starts/s", _f("starts_per_s")),
        ("lines", _f("lines_expected", "{:,}")),
        ("missing", _f("lines_missing")),
        ("CPU % core", _f("cpu_pct_of_core", "{:.1f}")),
        ("host µs/line", _f("host_us_per_line")),
        ("peak RSS MB", _f("peak_rss_mb")),
        ("p99 s", _f("latency_p99_s", "{:.3f}")),
        ("delivered", _share),
    ],
    "outage": [
        ("case", lambda c: c["case"]),
        ("down s", lambda c: c["params"]["down_s"]),
        ("RSS before MB", _f("rss_mb_before")),
        ("RSS end of outage MB", _f("rss_mb_end_of_outage")),
        ("end/before", _f("rss_end_of_outage_over_before", "{:.2f}")),
        ("RSS after catch-up MB", _f("rss_mb_final")),
        ("after/before", _f("rss_final_over_before", "{:.2f}")),
        ("peak RSS MB", _f("peak_rss_mb")),
        ("buffer max MB", _f("buffer_mb_max")),
        ("1st delivery after up s", _f("first_delivery_after_up_s")),
        ("catch-up s", _f("catch_up_s")),
        ("host µs/line", _f("host_us_per_line")),
        ("delivered", _share),
    ],
}


def _rows(cases: list[dict[str, Any]], scenario: str) -> tuple[list[str], list[list[str]]]:
    columns = COLUMNS[scenario]
    return [title for title, _ in columns], [[str(get(c)) for _, get in columns] for c in cases
                                              if c["scenario"] == scenario]


def text_table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.rjust(w) if i and _numeric(v) else v.ljust(w)
                      for i, (v, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    return "\n".join(out)


def _numeric(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or text[0] in "-." or text.endswith("%"))


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _target_rows(cases: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for case in cases:
        for target in case.get("targets", []):
            value = target["value"]
            verdict = "-" if target["pass"] is None else ("PASS" if target["pass"] else "FAIL")
            if not target["at_target_size"] and target["pass"] is not None:
                why = "pinned" if case.get("params", {}).get("pinned") else "not at the issue's size"
                verdict += f" ({why}: indicative)"
            rows.append([case["case"], target["name"], "-" if value is None else f"{value}{target['unit']}",
                         f"{target['op']} {target['limit']}{target['unit']}", verdict])
    return rows


TARGET_HEAD = ["case", "target", "value", "limit", "verdict"]


def print_tables(cases: list[dict[str, Any]], out: Callable[[str], None] = print) -> None:
    for scenario in COLUMNS:
        head, rows = _rows(cases, scenario)
        if rows:
            out(f"\n{scenario}")
            out(text_table(head, rows))
    rows = _target_rows(cases)
    if rows:
        out("\ntargets")
        out(text_table(TARGET_HEAD, rows))


ROUNDS_HEAD = ["containers", "writers", "sink", "rounds", "CPU µs/line: mean", "min", "max",
               "mean vs file's mean", "verdict"]


def print_rounds(rows: list[dict[str, Any]], out: Callable[[str], None] = print) -> None:
    """The table of ``scenarios.over_rounds`` (nothing without ``--rounds``)."""
    if not rows:
        return
    lines = []
    for row in rows:
        target = row.get("target")
        verdict = "-" if target is None else f"{'PASS' if target['pass'] else 'FAIL'} (≤ {target['limit']}x)"
        ratio = row.get("cpu_vs_file_of_means")
        lines.append([str(row["containers"]) + ("-pinned" if row["pinned"] else ""), row["writers"], row["sink"],
                      str(row["rounds"]), f"{row['cpu_us_per_line_mean']:.2f}", str(row["cpu_us_per_line_min"]),
                      str(row["cpu_us_per_line_max"]), "-" if ratio is None else f"{ratio:.2f}x", verdict])
    out("\nbacklog over the rounds")
    out(text_table(ROUNDS_HEAD, lines))


def save_json(path: Path, document: dict[str, Any]) -> None:
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))


# --- charts -----------------------------------------------------------------------------------------


def _rate(times: list[float], counts: list[Any], window: float) -> list[float | None]:
    """Rate of a counter: over the previous sample, or averaged over ``window`` seconds."""
    out: list[float | None] = [None]
    start = 0
    for i in range(1, len(times)):
        if counts[i] is None:
            out.append(None)
            continue
        while start < i - 1 and times[i] - times[start + 1] >= window and counts[start + 1] is not None:
            start += 1
        j = start if window else i - 1
        if counts[j] is None or times[i] <= times[j]:
            out.append(None)
            continue
        out.append((counts[i] - counts[j]) / (times[i] - times[j]))
    return out



def charts(cases: list[dict[str, Any]], directory: Path) -> list[Path]:
    """One throughput-and-RSS chart per case, a latency chart per case that has latencies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for case in cases:
        series = case.get("series", {})
        main = series.get("logship")
        if not main:
            continue
        fig, axes = plt.subplots(3 if case["scenario"] == "outage" else 2, 1, figsize=(10, 7.5), sharex=True)
        top, middle = axes[0], axes[1]
        window = 0.0 if case["scenario"] == "backlog" else 2.0
        top.plot(main["t"], _rate(main["t"], main.get("delivered", []), window), color="tab:blue",
                 label="logship: lines/s delivered" + (f" ({window:g} s average)" if window else ""))
        for name, other in series.items():
            if name.startswith("ceiling_") and other.get("ceiling_per_s"):
                top.plot(other["t"], other["ceiling_per_s"], label=f"ceiling run {int(name[-1]) + 1}: lines/s read",
                         linestyle="--", alpha=0.8)
        top.set_ylabel("lines/s")
        top.legend(loc="upper right", fontsize=8)
        top.grid(alpha=0.3)
        rss = [None if v is None else v / MIB for v in main.get("logship_rss", [])]
        middle.plot(main["t"], rss, color="tab:red", label="logship RSS (MiB)")
        middle.set_ylabel("RSS MiB")
        middle.set_ylim(bottom=0)
        middle.grid(alpha=0.3)
        cpu_axis = middle.twinx()
        cpu_axis.plot(main["t"], main.get("logship_cpu_pct", []), color="tab:green", alpha=0.5,
                      label="logship CPU % of a core")
        if "dockerd_cpu_pct" in main:
            cpu_axis.plot(main["t"], main["dockerd_cpu_pct"], color="tab:gray", alpha=0.4,
                          label="dockerd CPU % of a core")
        cpu_axis.set_ylabel("CPU %")
        cpu_axis.set_ylim(bottom=0)
        handles = middle.get_legend_handles_labels()[0] + cpu_axis.get_legend_handles_labels()[0]
        middle.legend(handles, [h.get_label() for h in handles], loc="upper right", fontsize=8)
        if case["scenario"] == "outage":
            bottom = axes[2]
            values = [None if v is None else v / 1e6 for v in main.get("buffer_bytes", [])]
            points = [(t, v) for t, v in zip(main["t"], values, strict=False) if v is not None]
            if points:
                bottom.plot(*zip(*points, strict=True), color="tab:purple", label="buffer MB")
            bottom.set_ylabel("buffer MB")
            bottom.grid(alpha=0.3)
            bottom.legend(loc="upper right", fontsize=8)
            events = case.get("events", {})
            for axis in axes:
                axis.axvspan(events.get("down", 0), events.get("up", 0), color="orange", alpha=0.15)
        axes[-1].set_xlabel("seconds since the writers started" if case["scenario"] in ("steady", "outage") else
                            "seconds since the first container was started" if case["scenario"] == "churn" else
                            "seconds since the start of each run (logship, ceiling)")
        fig.suptitle(f"{case['case']}: throughput and memory")
        fig.tight_layout()
        path = directory / f"{case['case']}-throughput-rss.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)

        hist = case.get("latencies")
        if hist and hist.get("counts"):
            import numpy as np

            counts = np.array(hist["counts"], dtype=float)
            edges = hist["start_s"] + np.arange(len(counts) + 1) * hist["bin_s"]
            fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
            left.stairs(counts, edges, fill=True, alpha=0.6)
            left.set_yscale("log")
            left.set_xlabel("latency s (Docker timestamp → sink)")
            left.set_ylabel("lines per 10 ms bin")
            left.grid(alpha=0.3)
            cdf = np.cumsum(counts) / counts.sum()
            right.plot(edges[1:], cdf)
            figures = case["figures"]
            for key, style in (("latency_p50_s", ":"), ("latency_p99_s", "--")):
                if figures.get(key) is not None:
                    right.axvline(figures[key], linestyle=style, color="gray", label=f"{key[8:11]} {figures[key]} s")
            right.set_xlabel("latency s")
            right.set_ylabel("share of lines")
            right.grid(alpha=0.3)
            right.legend(fontsize=8)
            fig.suptitle(f"{case['case']}: end-to-end latency")
            fig.tight_layout()
            path = directory / f"{case['case']}-latency.png"
            fig.savefig(path, dpi=90)
            plt.close(fig)
            written.append(path)
    return written


# --- RESULTS.md -------------------------------------------------------------------------------------


ANALYSIS_START = "<!-- analysis: written by hand, kept by --record -->"
ANALYSIS_END = "<!-- end of analysis -->"
# The fault table (``python -m bench faults``, bench/faults.py) lives between these and is kept by --record.
FAULTS_START = "<!-- faults: written by `python -m bench faults`, kept by --record -->"
FAULTS_END = "<!-- end of faults -->"


def write_results_md(path: Path, document: dict[str, Any], note: str = "") -> None:
    """Write RESULTS.md from ``document``, keeping the hand-written analysis and the fault table of the file it
    replaces."""
    analysis = faults = ""
    if path.exists():
        old = path.read_text()
        start, end = old.find(ANALYSIS_START), old.find(ANALYSIS_END)
        if 0 <= start < end:
            analysis = old[start:end + len(ANALYSIS_END)]
        start, end = old.find(FAULTS_START), old.find(FAULTS_END)
        if 0 <= start < end:
            faults = old[start:end + len(FAULTS_END)]
    text = results_markdown(document, note, analysis)
    if faults:
        at = text.find(ANALYSIS_START)
        text = text[:at] + faults + "\n\n" + text[at:]
    path.write_text(text)


def results_markdown(document: dict[str, Any], note: str = "", analysis: str = "") -> str:
    """RESULTS.md: the runs, the machine, a table per scenario, the targets, ``analysis``, definitions."""
    machine = document["machine"]
    cases = document["cases"]
    runs = document.get("runs") or [document]
    lines = [
        "# logship bench: latest results",
        "",
        "Written by `python -m bench … --record` or `python -m bench report RUN… --record` (see `bench/README.md`);",
        "the JSON with every figure and the charts are in `bench/results/<run>/` on the machine that ran it",
        "(not committed).",
        "",
    ]
    for run in runs:
        when = dt.datetime.fromtimestamp(run["started"], dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        run_git = run.get("git", {})
        run_modified = run_git.get("logship_files_modified") or []
        lines += [
            f"- **Run** `{run['run_id']}`, {when}: `{run['command']}`; commit `{run_git.get('commit', '?')[:12]}` "
            f"({run_git.get('subject', '')})"
            + (f", with uncommitted changes in {', '.join(f'`{m}`' for m in run_modified)}" if run_modified else "")
            + f"; load average at start {' '.join(run['machine']['loadavg_at_start'])}",
        ]
    lines += [
        f"- **Machine**: {machine['cores']} cores ({machine['cpu_model']}), {machine['memory_gib']} GiB, kernel "
        f"{machine['kernel']}; dockerd {machine['dockerd_version']} (API {machine['docker_api_version']}), "
        f"json-file; Python {machine['python']}, aiohttp {machine['aiohttp_version']}, orjson "
        f"{machine['orjson_version']}; fs.inotify.max_user_instances={machine['inotify_max_user_instances']}",
    ]
    if note:
        lines += ["", note]
    for scenario in COLUMNS:
        head, rows = _rows(cases, scenario)
        if rows:
            lines += ["", f"## {scenario}", "", markdown_table(head, rows)]
    rows = _target_rows(cases)
    if rows:
        lines += ["", "## targets", "", markdown_table(TARGET_HEAD, rows)]
    lines += ["", analysis or f"{ANALYSIS_START}\n{ANALYSIS_END}"]
    lines += ["", "## definitions", "",
              "- *lines/s* (backlog): lines ÷ seconds from spawning `python -m logship` until the last line is in "
              "the sink (startup included); *MB/s*: the same rate in logs-API bytes "
              "(190-byte frames: header, timestamp, 151-byte line).",
              "- *ceiling*: the same containers read at once by a minimal HTTP/1.0 reader that only counts bytes "
              "(`bench/engine.py`); mean of its runs before and after logship.",
              "- *CPU µs/line*: logship's utime+stime (all threads) from the health server's start to the last "
              "line, ÷ lines; numerically the CPU seconds per million lines. "
              "`cpu_us_per_line_incl_startup` in the JSON adds the interpreter start and imports.",
              "- *dockerd cores*: dockerd's CPU over the same interval ÷ seconds; dockerd also serves the other "
              "work on the machine, and *machine busy* (cores busy on average, all processes) shows how much of "
              "that there was.",
              "- *latency*: arrival in the sink (the receiver's stamp per request; for the file sink, the bench's "
              "20 ms poll of the output file) - the line's Docker timestamp, for every line.",
              "- *peak RSS*: logship's VmHWM at the end of the case.",
              ""]
    return "\n".join(lines)
