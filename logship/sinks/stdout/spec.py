"""The ``stdout`` sink's settings: its backlog limits only (its batches are the global ones)."""

from __future__ import annotations

from dataclasses import dataclass

from logship.settings.types import BatchConfig
from logship.ship.contract import Sink
from logship.sinks._spec import SinkSpec, SinkValues, backlog_variables


@dataclass(frozen=True)
class StdoutSinkConfig:
    """The `stdout` sink: NDJSON on standard output; one batch in flight."""

    batch: BatchConfig | None = None
    concurrency: int = 1


def configure(values: SinkValues) -> StdoutSinkConfig:
    """Nothing to read."""
    return StdoutSinkConfig()


def build(config: StdoutSinkConfig) -> Sink:
    """The sink object."""
    from logship.sinks.stdout.sink import StdoutSink

    return StdoutSink(config)


SPEC = SinkSpec("stdout", tuple(backlog_variables("stdout")), configure, build)
