"""The parsed settings every part of logship reads, as frozen dataclasses (``logship.config`` builds them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class EngineConfig:
    """How to reach the Docker engine."""

    host: str
    tls_verify: bool
    cert_path: Path | None


@dataclass(frozen=True)
class CollectConfig:
    """What to follow and how lines become records."""

    max_line_bytes: int
    read_linger: float
    extra_fields: tuple[tuple[str, str], ...]
    include_names: re.Pattern[str] | None
    exclude_names: re.Pattern[str] | None
    include_labels: tuple[tuple[str, str | None], ...]
    exclude_labels: tuple[tuple[str, str | None], ...]
    exclude_images: re.Pattern[str] | None
    include_self: bool


@dataclass(frozen=True)
class BufferConfig:
    """The disk buffer under DATA_DIR/buffer."""

    directory: Path
    max_bytes: int
    when_full: str
    segment_bytes: int
    fsync: str
    fsync_interval: float


@dataclass(frozen=True)
class BatchConfig:
    """Limits of one batch."""

    max_lines: int
    max_bytes: int
    max_wait: float


@dataclass(frozen=True)
class RetryConfig:
    """Backoff for retriable outcomes (exponential, full jitter)."""

    initial: float
    maximum: float


@dataclass(frozen=True)
class BacklogLimits:
    """How far behind one sink may fall (LOGSHIP_<SINK>_MAX_BACKLOG, _MAX_BACKLOG_AGE; None: no limit).

    Past a limit the sink gives up its oldest unacknowledged records rather than letting the buffer
    fill and stop collection for every sink (``logship.ship.backlog``).
    """

    max_bytes: int | None = None
    max_age: float | None = None


@dataclass(frozen=True)
class TlsConfig:
    """TLS options of an outgoing connection."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False



@dataclass(frozen=True, kw_only=True)
class SinkOptions:
    """What every network sink has: concurrency, timeout, retried statuses, TLS, batch limits."""

    concurrency: int
    timeout: float
    retry_status: frozenset[int]
    tls: TlsConfig
    batch: BatchConfig | None = None  # None: the global LOGSHIP_BATCH_* limits



class SinkConfig(Protocol):
    """What the agent reads of any sink's config (``logship.sinks.<store>.spec``): its batch limits (None:
    the global ones) and how many batches it may have in flight."""

    @property
    def batch(self) -> BatchConfig | None:
        """The sink's batch limits."""

    @property
    def concurrency(self) -> int:
        """Batches in flight at once."""
