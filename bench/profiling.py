"""Summaries of a py-spy ``--format raw`` profile (collapsed stacks: ``frame;frame;… count`` per line).

    python -m bench.profiling PROFILE.raw [--top 15]

prints the functions with the most *self* samples (the frame on top of the stack: where the CPU
was), the source lines with the most self samples, and the functions with the most *total* samples
(anywhere on the stack), each with its share of all samples. py-spy records line numbers; functions
are the frames with the line number taken off.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_SITE = re.compile(r"/(?:site|dist)-packages/")
_REPO = str(Path(__file__).resolve().parent.parent) + "/"


def _short(frame: str) -> str:
    """``func (/long/path/site-packages/aiohttp/x.py:12)`` → ``func (aiohttp/x.py:12)``."""
    frame = frame.replace(_REPO, "")
    name, _, where = frame.partition(" (")
    if _SITE.search(where):
        where = _SITE.split(where, 1)[1]
    elif "/lib/python3" in where:
        where = "stdlib/" + where.split("/lib/python3", 1)[1].split("/", 1)[1]
    return f"{name} ({where}" if where else name


_LINE = re.compile(r":\d+\)$")


def _function(frame: str) -> str:
    return _LINE.sub(")", frame)


def load(path: Path) -> tuple[Counter[str], Counter[str], Counter[str], int]:
    """(self samples per function, self samples per line, total samples per function, samples)."""
    self_counts: Counter[str] = Counter()
    line_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples += count
        line_counts[frames[-1]] += count
        self_counts[_function(frames[-1])] += count
        for frame in {_function(f) for f in frames}:
            total_counts[frame] += count
    return self_counts, line_counts, total_counts, samples


def summary(path: Path, top: int = 15) -> str:
    self_counts, line_counts, total_counts, samples = load(path)
    if not samples:
        return f"{path}: no samples"
    out = [f"{samples} samples", "", f"top {top} functions by self time (where the CPU was):", "",
           "| # | self % | samples | function |", "|---|---|---|---|"]
    for rank, (frame, count) in enumerate(self_counts.most_common(top), 1):
        out.append(f"| {rank} | {count / samples:.1%} | {count} | `{frame}` |")
    out += ["", f"top {top} source lines by self time:", "",
            "| # | self % | samples | line |", "|---|---|---|---|"]
    for rank, (frame, count) in enumerate(line_counts.most_common(top), 1):
        out.append(f"| {rank} | {count / samples:.1%} | {count} | `{frame}` |")
    # Frames under almost every sample (runpy, cli main, the event loop) say nothing: left out.
    inner = [(frame, count) for frame, count in total_counts.most_common() if count < 0.9 * samples]
    out += ["", f"top {top} by total time (self + callees; the event loop and the frames above it left out):",
            "", "| # | total % | samples | function |", "|---|---|---|---|"]
    for rank, (frame, count) in enumerate(inner[:top], 1):
        out.append(f"| {rank} | {count / samples:.1%} | {count} | `{frame}` |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profiling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    print(summary(args.profile, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
