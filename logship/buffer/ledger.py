"""Ledger files: the acknowledged position of one sink in the buffer.

``ledger-<sink>.json`` holds ``{"segment": <sequence>, "offset": <byte offset>}``: the position of
the sink's next unacknowledged record (every record before it has a final outcome). It is replaced
atomically: written to ``ledger-<sink>.json.tmp``, renamed over the old file. A crash therefore
leaves either the old or the new ledger, plus perhaps a stale ``.tmp`` file that the next start
removes.

When it is durable (``LedgerKeeper`` keeps this):
- within ``LEDGER_DELAY_SECONDS`` (50 ms) of every acknowledgement that moves the position (final
  outcomes coalesced), the ledger is written and renamed without fsync: a process killed (kill -9,
  OOM) loses at most those 50 ms of acknowledgements, so after a restart only the records in flight
  at the kill (concurrency x batch size) plus those are delivered again;
- every ``fsync_interval`` (and on close) a ledger written since is written again with an fsync of
  the file and of the directory: a power loss loses at most that interval (the records themselves
  are fsynced on the same interval).

A ledger may lag behind the truth, which only causes re-delivery; it may also run ahead of data
lost in a crash under ``fsync=interval``, which recovery clamps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from logship.files import fsync_directory, replace_file
from logship.metrics import Metrics
from logship.write_errors import errno_name

log = logging.getLogger("logship.buffer")

# Acknowledgements are written to the ledger at most this long after they happen (coalesced).
LEDGER_DELAY_SECONDS = 0.05

LEDGER_RE = re.compile(r"^ledger-(.+)\.json$")
SINK_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class LedgerError(ValueError):
    """A ledger file that exists but cannot be understood."""


@dataclass(frozen=True, slots=True)
class LedgerPosition:
    """A position in the buffer: segment sequence number and byte offset within it."""

    segment: int
    offset: int


def ledger_name(sink: str) -> str:
    """The file name of ``sink``'s ledger."""
    return f"ledger-{sink}.json"


def parse_ledger_name(name: str) -> str | None:
    """The sink of a ledger file name, or None when ``name`` is not a ledger."""
    match = LEDGER_RE.match(name)
    return match.group(1) if match else None


def load_ledger(path: Path) -> LedgerPosition:
    """Read a ledger. Raises FileNotFoundError when absent, LedgerError when unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise LedgerError(f"cannot read: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise LedgerError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise LedgerError("not a JSON object")
    segment, offset = data.get("segment"), data.get("offset")
    # bool is an int subclass: reject it explicitly.
    for value in (segment, offset):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise LedgerError(f"segment and offset must be whole numbers >= 0, got {data!r}")
    assert isinstance(segment, int) and isinstance(offset, int)
    return LedgerPosition(segment, offset)


def write_ledgers(directory: Path, positions: dict[str, LedgerPosition], fsync: bool = True) -> None:
    """Atomically replace the ledger of each sink in ``positions`` (blocking: call in a thread).

    ``fsync=False``: write and rename only (survives the process, not a power loss)."""
    if not positions:
        return
    for sink, position in positions.items():
        body = json.dumps({"segment": position.segment, "offset": position.offset}).encode()
        replace_file(directory / ledger_name(sink), body, fsync)
    if fsync:
        fsync_directory(directory)


class LedgerKeeper:
    """Writes the ledgers of one buffer when the module docstring says: coalesced after acknowledgements
    (``moved``), with an fsync on ``persist`` (every ``fsync_interval`` and on close).

    Invariant: a ledger is written only from the acknowledged positions ``positions()`` returns, never
    ahead of them; one write at a time (a lock), so a later position is never overwritten by an
    earlier one. Use it from the buffer's event loop only.
    """

    def __init__(self, directory: Path, positions: Callable[[], dict[str, tuple[int, int]]],
                 metrics: Metrics) -> None:
        self._dir = directory
        self._positions = positions
        self._metrics = metrics
        self._persisted: dict[str, tuple[int, int]] = {}  # what each ledger file holds
        self._unsynced: set[str] = set()  # written since their last fsync
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None  # the coalesced write after an ack
        self._failing = False

    def found(self, sink: str, position: LedgerPosition | None) -> None:
        """The ledger file of ``sink`` held ``position`` at start (None: missing or unreadable)."""
        if position is not None:
            self._persisted[sink] = (position.segment, position.offset)

    async def persist(self, fsync: bool = True) -> None:
        """Write the ledgers that moved; with ``fsync`` also those written without one since."""
        async with self._lock:
            unsynced = self._unsynced if fsync else set()
            changed = {sink: LedgerPosition(*acked) for sink, acked in self._positions().items()
                       if self._persisted.get(sink) != acked or sink in unsynced}
            if not changed:
                return
            await asyncio.to_thread(write_ledgers, self._dir, changed, fsync)
            for sink, position in changed.items():
                self._persisted[sink] = (position.segment, position.offset)
            if fsync:
                self._unsynced -= changed.keys()
            else:
                self._unsynced |= changed.keys()

    def moved(self) -> None:
        """An acknowledged position moved: have the ledgers written within LEDGER_DELAY_SECONDS."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._write_soon())

    async def stop(self) -> None:
        """Cancel a coalesced write that has not started; one that has started finishes first."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    def count_error(self, exc: OSError) -> None:
        """Count a failed write of the data directory in ``logship_buffer_write_errors_total``."""
        self._metrics.buffer_write_errors.labels(errno=errno_name(exc)).inc()

    async def _write_soon(self) -> None:
        """Coalesce the acknowledgements of LEDGER_DELAY_SECONDS into one ledger write (no fsync)."""
        try:
            await asyncio.sleep(LEDGER_DELAY_SECONDS)
        finally:
            self._task = None  # acks from here on schedule the next write
        try:
            # Shielded: cancelled by stop(), a write in its thread must end before close's own write.
            await asyncio.shield(self.persist(fsync=False))
            self._failing = False
        except OSError as exc:
            self.count_error(exc)
            if not self._failing:
                log.error("buffer: cannot write the ledgers in %s: %s; retrying (records may be delivered "
                          "again after a restart, none is lost)", self._dir, exc)
            self._failing = True
