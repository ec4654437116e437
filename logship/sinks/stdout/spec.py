"""The ``stdout`` sink's settings: its backlog limits only (its batches are the global ones)."""

from __future__ import annotations

from dataclasses import dataclass

from logship.settings.types import BatchConfig
from logship.sinks._spec import SinkSpec, SinkValues, backlog_variables, lazy_factory


@dataclass(frozen=True)
class StdoutSinkConfig:
    """The `stdout` sink: NDJSON on standard output; one batch in flight."""

    batch: BatchConfig | None = None
    concurrency: int = 1


def configure(values: SinkValues) -> StdoutSinkConfig:
    """Nothing to read."""
    return StdoutSinkConfig()



SPEC = SinkSpec(
    "stdout", tuple(backlog_variables("stdout")), configure, lazy_factory("logship.sinks.stdout.sink", "StdoutSink"))
