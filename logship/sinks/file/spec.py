"""The ``file`` sink's settings: LOGSHIP_FILE_*, its config, its batch defaults, its factory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from logship.settings.forms import parse_size, positive, positive_int
from logship.settings.types import BatchConfig
from logship.settings.variable import Variable
from logship.sinks._spec import SinkSpec, SinkValues, backlog_variables, batch_variables, lazy_factory

# A local file: larger batches mean fewer fsyncs and fewer event-loop round trips per line, which lets
# one shipper keep up with 16 tailers at full backlog speed (bench/RESULTS.md).
BATCH_DEFAULTS = (5000, 8 * 1024**2)


@dataclass(frozen=True)
class FileSinkConfig:
    """The `file` sink: NDJSON, rotated by size; one batch in flight (they must land in order)."""

    path: Path
    max_bytes: int
    keep: int
    batch: BatchConfig | None = None
    concurrency: int = 1


VARIABLES = (
    Variable("LOGSHIP_FILE_PATH", str, None,
             "NDJSON output file of the `file` sink (default DATA_DIR/output/containers.ndjson).",
             section="file"),
    Variable("LOGSHIP_FILE_MAX_BYTES", positive(parse_size), "100MiB",
             "Size at which the output file is rotated to PATH.1, PATH.2, …", section="file"),
    Variable("LOGSHIP_FILE_KEEP", positive_int, "5", "How many rotated files are kept.", section="file"),
    *batch_variables("file", BATCH_DEFAULTS),
    *backlog_variables("file"),
)


def configure(values: SinkValues) -> FileSinkConfig:
    """The config from LOGSHIP_FILE_*."""
    path = values["PATH"]
    return FileSinkConfig(path=Path(path) if path else values.data_dir / "output" / "containers.ndjson",
                          max_bytes=values["MAX_BYTES"], keep=values["KEEP"], batch=values.batch())



SPEC = SinkSpec(
    "file", VARIABLES, configure, lazy_factory("logship.sinks.file.sink", "FileSink"),
    batch_defaults=BATCH_DEFAULTS)
