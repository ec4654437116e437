"""Writes to the data directory that fail: the buffer's appends and the checkpoint saves.

A write that fails (``ENOSPC``, ``EIO``, ``EROFS``, a directory that vanished) loses nothing: the
tailer that could not append keeps its position (``LineAssembler.restore``), pauses, and tries again
with backoff, reading again from dockerd what it could not store; a checkpoint save that fails is
tried again at the next interval. This module only makes such failures visible:

- every failed write is counted in ``logship_buffer_write_errors_total{errno}`` (the errno's name);
- an *episode* starts with the first failure while none is failing and ends when every writer that
  failed has written again and no write failed for ``SETTLE_SECONDS`` (a disk that is nearly full
  fails and succeeds by turns: that is one episode); its start and end are logged once each (not
  once per retry);
- ``status()`` is the ``writes`` part of ``/readyz``: logship is not ready while an episode lasts.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from typing import Any

from logship.metrics import Metrics

log = logging.getLogger("logship.writes")

TAILER = "tailer"
CHECKPOINTS = "checkpoints"
SETTLE_SECONDS = 5.0


def errno_name(exc: OSError) -> str:
    """``ENOSPC`` for ``[Errno 28]``; ``unknown`` when the error carries no errno."""
    return errno.errorcode.get(exc.errno, "unknown") if exc.errno else "unknown"


class WriteErrors:
    """The writers whose last write failed, keyed by (kind, id): one per tailer, one for the checkpoints."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._failing: dict[tuple[str, str], str] = {}
        self._since = 0.0
        self._last_error = ""
        self._settle: asyncio.TimerHandle | None = None  # the end of the episode, once nothing fails

    def failed(self, kind: str, key: str, exc: OSError, what: str) -> None:
        """A write of ``what`` by writer (``kind``, ``key``) failed with ``exc``; it will be tried again."""
        self._metrics.buffer_write_errors.labels(errno=errno_name(exc)).inc()
        self._last_error = f"{what}: {exc}"
        if self._settle is not None:  # failing again before the episode settled: the same episode
            self._settle.cancel()
            self._settle = None
        elif not self._failing:
            self._since = time.monotonic()
            log.error("cannot write %s: %s. Nothing is lost: collection pauses where it cannot store and "
                      "resumes from the last stored position once writing works again (see /readyz; not "
                      "logged again until then)", what, exc)
        self._failing[(kind, key)] = self._last_error

    def cleared(self, kind: str, key: str) -> None:
        """Writer (``kind``, ``key``) wrote again (or is gone): the episode ends ``SETTLE_SECONDS`` after
        the last one did, unless a write fails meanwhile."""
        if self._failing.pop((kind, key), None) is not None and not self._failing:
            self._settle = asyncio.get_running_loop().call_later(SETTLE_SECONDS, self._settled)

    def _settled(self) -> None:
        self._settle = None
        log.warning("writing to the data directory works again (the episode lasted %.1fs): collection resumed",
                    time.monotonic() - self._since)

    @property
    def failing(self) -> bool:
        """True while an episode lasts."""
        return bool(self._failing) or self._settle is not None

    def status(self) -> dict[str, Any]:
        """``{"failing", "paused_tailers", "checkpoints_failing", "seconds", "last_error"}`` for /readyz."""
        return {
            "failing": self.failing,
            "paused_tailers": sum(kind == TAILER for kind, _ in self._failing),
            "checkpoints_failing": (CHECKPOINTS, "") in self._failing,
            "seconds": round(time.monotonic() - self._since, 1) if self.failing else 0.0,
            "last_error": self._last_error if self.failing else "",
        }
