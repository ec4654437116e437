"""``logship status``: a running agent's /readyz and /debug/tailers as a table a person can read.

Each sink's line says its last outcome, batches in flight and records pending; a sink with a backlog gets
a second line: how far behind it is (bytes, records, age of the oldest record: ``logship.ship.backlog``).
"""

from __future__ import annotations

import asyncio
import calendar
import time
from typing import Any, TextIO

import aiohttp


def _age(timestamp: str, now: float) -> str:
    try:
        seconds = calendar.timegm(time.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S")) + float(
            "0." + timestamp[20:29])
    except ValueError:
        return "?"
    return _duration(max(now - seconds, 0.0))


def _duration(age: float) -> str:
    if age < 120:
        return f"{age:.1f}s"
    if age < 7200:
        return f"{age / 60:.0f}m"
    return f"{age / 3600:.0f}h"


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{int(count)} B"
        count /= 1024
    return f"{count:.1f} GiB"


def render(readiness: dict[str, Any], tailers: dict[str, Any], now: float | None = None) -> str:
    """The status table for a readiness document and a tailers document."""
    now = time.time() if now is None else now
    engine = readiness.get("engine", {})
    buffer = readiness.get("buffer", {})
    lines = [f"ready       {'yes' if readiness.get('ready') else 'NO'}",
             f"engine      {'connected' if engine.get('connected') else 'DISCONNECTED: ' + str(engine.get('error'))}"]
    fill = ""
    if buffer.get("max_bytes"):
        fill = f" ({100 * buffer.get('bytes', 0) / buffer['max_bytes']:.1f}% of {_size(buffer['max_bytes'])})"
    lines.append(f"buffer      {_size(buffer.get('bytes', 0))} in {buffer.get('segments', 0)} segment(s){fill}")
    writes = readiness.get("writes") or {}
    if writes.get("failing"):
        lines.append(f"writes      FAILING for {writes.get('seconds', 0):.0f}s: {writes.get('paused_tailers', 0)} "
                     f"tailer(s) paused{', checkpoints not saved' if writes.get('checkpoints_failing') else ''}; "
                     f"{writes.get('last_error', '')}")
    pending = buffer.get("records_pending", {})
    for name, sink in readiness.get("sinks", {}).items():
        state = sink.get("last_outcome") or "no batch yet"
        error = f", last error: {sink['last_error']}" if sink.get("last_error") else ""
        lines.append(f"sink {name:<7}{state}, {sink.get('in_flight', 0)} in flight, "
                     f"{pending.get(name, 0)} records pending{error}")
        behind = sink.get("behind")
        if behind and behind.get("records"):
            lines.append(f"  behind by {_size(behind.get('bytes', 0))}, {behind['records']} record(s), the oldest "
                         f"{_duration(behind.get('oldest_age_seconds', 0.0))} old")
    lines.append(f"containers  {len(tailers)} followed")
    if tailers:
        rows = [("CONTAINER", "STATE", "LAST STDOUT", "LAST STDERR", "LAST ERROR")]
        for cid, tailer in sorted(tailers.items(), key=lambda item: item[1].get("name", "")):
            marks = tailer.get("checkpoint", {})
            ages = [f"{_age(marks[s][0], now)} ago" if s in marks else "-" for s in ("stdout", "stderr")]
            rows.append((tailer.get("name") or cid[:12], tailer.get("state", "?"), *ages,
                         (tailer.get("last_error") or "")[:60]))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines.append("")
        lines += ["  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)).rstrip()
                  for row in rows]
    return "\n".join(lines)


async def fetch(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """/readyz (whatever its status) and /debug/tailers of the agent at ``url``."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(f"{url}/readyz") as response:
            readiness = await response.json(content_type=None)
        async with session.get(f"{url}/debug/tailers") as response:
            tailers = await response.json(content_type=None)
    return readiness, tailers


def show(url: str, out: TextIO) -> bool:
    """Print the status of the agent at ``url``; False when it cannot be reached or is not ready."""
    try:
        readiness, tailers = asyncio.run(fetch(url))
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        print(f"cannot read the agent's status at {url}: {exc or type(exc).__name__}", file=out)
        return False
    print(render(readiness, tailers), file=out)
    return bool(readiness.get("ready"))
