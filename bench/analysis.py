"""After a case: which lines arrived (each once?), and how late.

Every record starts ``{"timestamp":"<30 bytes>","message":"<message>…`` (``logship.collect.lines``
splices records that way), so the Docker timestamp and the bench's ``CCCC NNNNNNNNN`` numbers are
read by slicing; anything else is parsed as JSON. A line's arrival time is that of the first
``marks`` entry whose end offset covers it (the receiver's stamp per request, or the tail's poll).
"""

from __future__ import annotations

import calendar
import time
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

_HEAD = b'{"timestamp":"'
_MIDDLE = b'","message":"'
_TS = slice(14, 44)
_MSG_START = 57


@dataclass
class Delivery:
    expected: int = 0
    received: int = 0  # lines in the file
    unique: int = 0  # distinct expected lines among them
    duplicates: int = 0
    foreign: int = 0  # lines that are not the bench's (should be 0)
    missing: int = 0
    missing_by_container: dict[int, int] = field(default_factory=dict)
    latencies: np.ndarray | None = None  # seconds, for lines written in the window
    first_ts: float | None = None
    last_ts: float | None = None
    last_ts_before: dict[float, float] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return self.unique / self.expected if self.expected else 0.0

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lines_expected": self.expected, "lines_received": self.received,
                               "lines_unique": self.unique, "lines_duplicated": self.duplicates,
                               "lines_missing": self.missing, "lines_foreign": self.foreign,
                               "delivered_share": round(self.share, 6)}
        if self.missing_by_container:
            worst = sorted(self.missing_by_container.items(), key=lambda kv: -kv[1])[:10]
            out["missing_by_container"] = {str(k): v for k, v in worst}
            out["containers_missing_lines"] = len(self.missing_by_container)
        return out


_epoch_cache: dict[bytes, int] = {}


def docker_time(ts: bytes) -> float:
    """``2026-11-25T16:32:42.123456789Z`` → Unix time (float; the cache makes it cheap per line)."""
    seconds = _epoch_cache.get(ts[:19])
    if seconds is None:
        seconds = calendar.timegm(time.strptime(ts[:19].decode(), "%Y-%m-%dT%H:%M:%S"))
        _epoch_cache[ts[:19]] = seconds
    return seconds + int(ts[20:29]) * 1e-9


def analyse(paths: Iterable[Path], marks: list[tuple[float, int]], expected: Mapping[int, int], *,
            window: tuple[float, float] | None = None, latency: bool = True,
            split_at: Iterable[float] = ()) -> Delivery:
    """Check every line of ``paths`` (read as one stream) against ``expected`` ({container index: lines}).

    ``marks``: (arrival time, end offset) ascending. ``window``: only lines with a Docker timestamp in
    it count for latency. ``split_at``: for each time T, the latest arrival of a line written before T
    (``last_ts_before[T]``), e.g. when the backlog of an outage had been delivered.
    """
    seen = {index: bytearray(count) for index, count in expected.items()}
    result = Delivery(expected=sum(expected.values()))
    lat = array("d")
    splits = sorted(split_at)
    latest_before = dict.fromkeys(splits, 0.0)
    mark_times = [m[0] for m in marks]
    mark_offsets = [m[1] for m in marks]
    m = 0
    offset = 0
    first_ts = float("inf")
    last_ts = 0.0
    lo, hi = window if window else (float("-inf"), float("inf"))
    for path in paths:
        with open(path, "rb") as handle:
            for line in handle:
                offset += len(line)
                while m < len(mark_offsets) - 1 and mark_offsets[m] < offset:
                    m += 1
                arrival = mark_times[m] if mark_times else 0.0
                result.received += 1
                if line.startswith(_HEAD) and line[44:57] == _MIDDLE:
                    ts = line[_TS]
                    index_text = line[_MSG_START:_MSG_START + 4]
                    number_text = line[_MSG_START + 5:_MSG_START + 14]
                else:
                    try:
                        record = orjson.loads(line)
                        ts = record["timestamp"].encode()
                        message = record["message"].encode()
                    except (orjson.JSONDecodeError, KeyError, AttributeError):
                        result.foreign += 1
                        continue
                    index_text, number_text = message[:4], message[5:14]
                try:
                    index = int(index_text)
                    number = int(number_text)
                    marks_of = seen[index]
                    if marks_of[number]:
                        result.duplicates += 1
                        continue
                except (ValueError, KeyError, IndexError):
                    result.foreign += 1
                    continue
                marks_of[number] = 1
                result.unique += 1
                if latency:
                    written = docker_time(ts)
                    first_ts = min(first_ts, written)
                    last_ts = max(last_ts, written)
                    if lo <= written <= hi:
                        lat.append(arrival - written)
                    for split in splits:
                        if written < split and arrival > latest_before[split]:
                            latest_before[split] = arrival
    for index, flags in seen.items():
        missing = len(flags) - sum(flags)
        if missing:
            result.missing_by_container[index] = missing
            result.missing += missing
    if latency:
        result.latencies = np.frombuffer(lat, dtype=np.float64) if len(lat) else np.zeros(0)
        result.first_ts = first_ts if first_ts != float("inf") else None
        result.last_ts = last_ts or None
        result.last_ts_before = latest_before
    return result


def latency_figures(latencies: np.ndarray | None) -> dict[str, Any]:
    if latencies is None or not len(latencies):
        return {}
    p50, p90, p99, p999 = np.percentile(latencies, [50, 90, 99, 99.9])
    return {"latency_p50_s": round(float(p50), 4), "latency_p90_s": round(float(p90), 4),
            "latency_p99_s": round(float(p99), 4), "latency_p999_s": round(float(p999), 4),
            "latency_max_s": round(float(latencies.max()), 4), "latency_min_s": round(float(latencies.min()), 4),
            "latency_samples": len(latencies)}
