"""A tailer's counts, moved from its ``LineAssembler`` into the metrics once per chunk (never per line)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from logship.collect.lines import LineAssembler
from logship.metrics import Metrics

log = logging.getLogger("logship.collect.tailer")  # the tailer's own log: these are its reports


class Container(Protocol):
    """The container a report names (a ``Tailer``)."""

    name: str
    container_id: str


def move_counts(assembler: LineAssembler, metrics: Metrics, lines_read: Mapping[str, Any],
                container: Container) -> None:
    """Move the assembler's counts into the metrics: lines read per stream (``lines_read``: the
    container's labelled counters), skipped, cut, invalid UTF-8, dropped, and bad timestamps."""
    for stream, count in assembler.take_line_counts().items():
        if count:
            lines_read[stream].inc(count)
    if assembler.skipped:
        metrics.lines_skipped.inc(assembler.skipped)
        assembler.skipped = 0
    if assembler.cut:
        metrics.lines_cut.inc(assembler.cut)
        assembler.cut = 0
    if assembler.invalid_utf8:
        metrics.lines_invalid_utf8.inc(assembler.invalid_utf8)
        assembler.invalid_utf8 = 0
    filtered = assembler.take_filtered()
    if filtered:
        metrics.lines_filtered.labels(reason="drop").inc(filtered)
    if assembler.bad_timestamps:
        report_malformed(metrics, container, {"bad_timestamp": assembler.bad_timestamps})
        assembler.bad_timestamps = 0


def report_malformed(metrics: Metrics, container: Container, counts: Mapping[str, int]) -> None:
    """Count malformed frames by reason and say so in one log line per reason and chunk."""
    for reason, value in counts.items():
        metrics.frames_malformed.labels(reason=reason).inc(value)
        log.warning("container %s (%s): %d malformed frame(s) in its logs stream: %s; the data is kept where "
                    "it can be", container.name, container.container_id[:12], value, reason)
