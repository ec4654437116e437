"""Writes to the data directory that fail: the buffer's appends and the checkpoint saves.

A write that fails (``ENOSPC``, ``EIO``, ``EROFS``, a directory that vanished) loses nothing: the
tailer that could not append keeps its position (``LineAssembler.restore``), pauses, and tries again
with backoff, reading again from dockerd what it could not store; a checkpoint save that fails is
tried again at the next interval. This module only makes such failures visible:

- every failed write is counted in ``logship_buffer_write_errors_total{errno}`` (the errno's name);
- an *episode* starts with the first failure while none is failing and ends when every writer that
  failed has written again; each start and end is logged once (not once per retry);
- ``status()`` is the ``writes`` part of ``/readyz``: logship is not ready while an episode lasts.
"""

from __future__ import annotations

import errno
import logging
import time
from typing import Any

from logship.metrics import Metrics

log = logging.getLogger("logship.writes")

TAILER = "tailer"
CHECKPOINTS = "checkpoints"


def errno_name(exc: OSError) -> str:
    """``ENOSPC`` for ``[Errno 28]``; ``unknown`` when the error carries no errno."""
    return errno.errorcode.get(exc.errno, "unknown") if exc.errno else "unknown"


class WriteErrors:
    """The writers whose last write failed, keyed by (kind, id): one per tailer, one for the checkpoints."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._failing: dict[tuple[str, str], str] = {}
        self._since = 0.0

    def failed(self, kind: str, key: str, exc: OSError, what: str) -> None:
        """A write of ``what`` by writer (``kind``, ``key``) failed with ``exc``; it will be tried again."""
        self._metrics.buffer_write_errors.labels(errno=errno_name(exc)).inc()
        if not self._failing:
            self._since = time.monotonic()
            log.error("cannot write %s: %s. Nothing is lost: collection pauses where it cannot store and "
                      "resumes from the last stored position once writing works again (see /readyz; not "
                      "logged again until then)", what, exc)
        self._failing[(kind, key)] = f"{what}: {exc}"

    def cleared(self, kind: str, key: str) -> None:
        """Writer (``kind``, ``key``) wrote again (or is gone): the end of the episode when it was the last."""
        if self._failing.pop((kind, key), None) is not None and not self._failing:
            log.warning("writing to the data directory works again after %.1fs: collection resumed",
                        time.monotonic() - self._since)

    @property
    def failing(self) -> bool:
        """True while an episode lasts."""
        return bool(self._failing)

    def status(self) -> dict[str, Any]:
        """``{"failing", "paused_tailers", "checkpoints_failing", "seconds", "last_error"}`` for /readyz."""
        return {
            "failing": self.failing,
            "paused_tailers": sum(kind == TAILER for kind, _ in self._failing),
            "checkpoints_failing": (CHECKPOINTS, "") in self._failing,
            "seconds": round(time.monotonic() - self._since, 1) if self._failing else 0.0,
            "last_error": next(reversed(self._failing.values()), ""),
        }
