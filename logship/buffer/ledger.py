"""Ledger files: the acknowledged position of one sink in the buffer.

``ledger-<sink>.json`` holds ``{"segment": <sequence>, "offset": <byte offset>}``: the position of
the sink's next unacknowledged record (every record before it has a final outcome). It is replaced
atomically: written to ``ledger-<sink>.json.tmp``, renamed over the old file. A crash therefore
leaves either the old or the new ledger, plus perhaps a stale ``.tmp`` file that the next start
removes.

When it is durable (``DiskBuffer`` keeps this):
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

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

LEDGER_RE = re.compile(r"^ledger-(.+)\.json$")
TEMP_SUFFIX = ".tmp"
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
        final = directory / ledger_name(sink)
        temp = final.with_name(final.name + TEMP_SUFFIX)
        body = json.dumps({"segment": position.segment, "offset": position.offset}).encode()
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, body)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, final)
    if fsync:
        fsync_directory(directory)


def fsync_directory(directory: Path) -> None:
    """Make renames, creations and deletions in ``directory`` durable (blocking)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (blocking), resuming after a short write."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
