"""Start-up recovery of the buffer directory: whatever is on disk, logship must start.

``recover`` runs once, in a thread, before the buffer accepts records. It

1. removes leftover ``*.tmp`` files (interrupted ledger writes) and the ledgers of sinks that are no
   longer configured;
2. reads each configured sink's ledger (missing or unreadable → the oldest segment: re-delivery
   rather than loss);
3. walks the frame headers of every segment, oldest first: a torn tail (crash mid-write, including a
   zero-filled tail) is truncated to the last whole frame; lost framing in the middle (nonsensical
   length followed by data) keeps what came before, copies the file to ``quarantine/`` for
   inspection, truncates the rest and counts one ``corrupt`` drop (the number of records lost is
   unknown); a segment that cannot be read is moved to ``quarantine/`` and counted as one
   ``quarantine`` drop; empty segments are deleted;
4. maps each ledger onto a frame boundary: a position inside a frame snaps back to that frame's
   start, a position at or past a segment's end moves to the next segment, and a position in a
   segment that no longer exists moves to the first existing segment after it.

CRCs are not checked here: readers check them as they read (each bad record is counted once).

Start positions: once the buffer is open, ``read_tail`` hands the records of the newest segments
(those modified since shortly before the checkpoint file was saved) to the collector, and fsyncs
those segments. Each container's start position is then the later of its checkpoint and its last
record in the buffer (``collect/checkpoint.py``): lines stored after the last checkpoint save are
not read from dockerd and stored a second time, and since the segments were fsynced first, the
checkpoint saved from that position never runs ahead of what is on disk. Only CRC-valid records
count (a damaged record could carry a wrong timestamp).
"""

from __future__ import annotations

import logging
import mmap
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from logship.buffer.ledger import LedgerError, LedgerPosition, load_ledger, parse_ledger_name
from logship.buffer.segment import (
    HEADER,
    HEADER_SIZE,
    ScanResult,
    crc32,
    parse_segment_name,
    scan_segment,
    segment_name,
)
from logship.files import TEMP_SUFFIX, fsync_directory
from logship.metrics import Metrics

log = logging.getLogger("logship.buffer")

QUARANTINE = "quarantine"


@dataclass(slots=True)
class RecoveredSegment:
    """A segment kept by recovery: whole frames only."""

    seq: int
    size: int
    count: int


@dataclass(slots=True)
class RecoveredStart:
    """Where one sink resumes: ``frames_before`` frames precede ``offset`` in segment ``seq``.

    ``seq`` equal to ``Recovery.write_seq`` means "at the start of the new write segment".
    ``ledger`` is the position read from the ledger file (None when missing or unreadable).
    """

    seq: int
    offset: int
    frames_before: int
    ledger: LedgerPosition | None


@dataclass(slots=True)
class Recovery:
    """The buffer's state as found on disk."""

    segments: list[RecoveredSegment]
    write_seq: int
    starts: dict[str, RecoveredStart] = field(default_factory=dict)


def recover(directory: Path, sinks: tuple[str, ...], metrics: Metrics) -> Recovery:
    """Repair ``directory`` and describe what it holds (blocking: run in a thread)."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = False
    seqs: list[int] = []
    max_seq = -1
    ledgers: dict[str, LedgerPosition | None] = dict.fromkeys(sinks)
    broken_ledgers: set[str] = set()

    for name in sorted(os.listdir(directory)):
        path = directory / name
        seq = parse_segment_name(name)
        if seq is not None:
            seqs.append(seq)
            max_seq = max(max_seq, seq)
            continue
        if name.endswith(TEMP_SUFFIX):
            _unlink(path)
            log.info("buffer: removed leftover temporary file %s", path)
            changed = True
            continue
        sink = parse_ledger_name(name)
        if sink is None:
            continue
        if sink not in ledgers:
            _unlink(path)
            log.info("buffer: removed the ledger of sink %r, which is no longer configured", sink)
            changed = True
            continue
        try:
            ledgers[sink] = load_ledger(path)
        except (LedgerError, FileNotFoundError) as exc:
            log.warning("buffer: ledger %s is unreadable (%s): sink %r starts again at the oldest "
                        "segment (records may be delivered twice)", path, exc, sink)
            broken_ledgers.add(sink)

    probes: dict[int, list[int]] = {}
    for position in ledgers.values():
        if position is not None:
            probes.setdefault(position.segment, []).append(position.offset)

    segments: list[RecoveredSegment] = []
    scans: dict[int, ScanResult] = {}
    for seq in sorted(seqs):
        path = directory / segment_name(seq)
        try:
            scan = scan_segment(path, probes.get(seq, ()))
            if scan.problem is not None:
                _repair(directory, path, scan, metrics)
            if scan.valid_end == 0:
                path.unlink()
                changed = True
                continue
        except OSError as exc:
            _quarantine(directory, path, exc, metrics)
            changed = True
            continue
        changed = changed or scan.problem is not None
        scans[seq] = scan
        segments.append(RecoveredSegment(seq, scan.valid_end, scan.count))

    write_seq = max_seq + 1
    recovery = Recovery(segments, write_seq)
    for sink, position in ledgers.items():
        recovery.starts[sink] = _resolve(sink, position, sink in broken_ledgers, segments, scans, write_seq)
    if changed:
        fsync_directory(directory)
    return recovery


def _resolve(sink: str, position: LedgerPosition | None, broken: bool, segments: list[RecoveredSegment],
             scans: dict[int, ScanResult], write_seq: int) -> RecoveredStart:
    """Map a ledger position onto a frame boundary of the recovered segments."""
    oldest = segments[0].seq if segments else write_seq
    if position is None:
        if segments and not broken:
            log.warning("buffer: no ledger for sink %r: it starts at the oldest segment (records may be "
                        "delivered twice)", sink)
        return RecoveredStart(oldest, 0, 0, None)
    scan = scans.get(position.segment)
    if scan is None:
        # The segment was deleted (fully acknowledged, dropped or quarantined): the first one after it.
        later = [segment.seq for segment in segments if segment.seq > position.segment]
        return RecoveredStart(later[0] if later else write_seq, 0, 0, position)
    boundary, frames_before = scan.probes[position.offset]
    if boundary >= scan.valid_end:
        later = [segment.seq for segment in segments if segment.seq > position.segment]
        return RecoveredStart(later[0] if later else write_seq, 0, 0, position)
    if boundary != position.offset:
        log.warning("buffer: ledger of sink %r points inside a record (segment %d, offset %d): resuming at "
                    "offset %d (one record may be delivered twice)", sink, position.segment,
                    position.offset, boundary)
    return RecoveredStart(position.segment, boundary, frames_before, position)


def _repair(directory: Path, path: Path, scan: ScanResult, metrics: Metrics) -> None:
    """Truncate a segment to its last whole frame."""
    lost = scan.size - scan.valid_end
    if scan.problem == "corrupt":
        target = directory / QUARANTINE / f"{path.name}.corrupt-at-{scan.valid_end}"
        failed = _set_aside(path, target, shutil.copyfile)
        kept = f"a copy is kept as {target}" if failed is None else f"no copy could be kept ({failed.strerror})"
        metrics.buffer_lines_dropped.labels(reason="corrupt").inc()
        log.warning("buffer: segment %s has lost its framing at offset %d: the last %d bytes are unreadable "
                    "and dropped (an unknown number of records, counted as 1); %s",
                    path, scan.valid_end, lost, kept)
    else:
        log.warning("buffer: segment %s ends inside a record (interrupted write): truncated from %d to %d "
                    "bytes", path, scan.size, scan.valid_end)
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, scan.valid_end)
        os.fsync(fd)
    finally:
        os.close(fd)


def _quarantine(directory: Path, path: Path, exc: OSError, metrics: Metrics) -> None:
    """Move an unreadable segment out of the way; it never stops logship from starting."""
    target = directory / QUARANTINE / path.name
    failed = _set_aside(path, target, os.replace)
    where = f"moved to {target}" if failed is None else \
        f"and could not be moved to {target.parent} ({failed.strerror}): it is ignored"
    metrics.buffer_lines_dropped.labels(reason="quarantine").inc()
    log.error("buffer: segment %s cannot be read (%s): %s; its records are lost (counted as 1)",
              path, exc, where)


def _set_aside(path: Path, target: Path, how: Callable[[Path, Path], object]) -> OSError | None:
    """Copy or move (``how``) ``path`` to ``target`` in the quarantine folder; the error if it failed."""
    try:
        target.parent.mkdir(exist_ok=True)
        how(path, target)
    except OSError as exc:
        return exc
    return None


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("buffer: cannot remove %s: %s", path, exc)



def read_tail(directory: Path, seqs: list[int], newer_than: float | None, visit: Callable[[bytes], None]) -> int:
    """Call ``visit`` with each CRC-valid record of the segments ``seqs`` (oldest first) last modified
    at or after ``newer_than`` (None: every one), and fsync those segments. Returns the record count.

    Blocking: run it in a thread. The segments were repaired by ``recover`` (whole frames only); one
    that vanished or cannot be read is passed over (its records then only cost duplicates)."""
    count = 0
    unpack_from = HEADER.unpack_from
    for seq in seqs:
        path = directory / segment_name(seq)
        try:
            with open(path, "rb") as file:
                stat = os.fstat(file.fileno())
                if not stat.st_size or (newer_than is not None and stat.st_mtime < newer_than):
                    continue
                with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    pos, size = 0, stat.st_size
                    while pos + HEADER_SIZE <= size:
                        length, crc = unpack_from(data, pos)
                        end = pos + HEADER_SIZE + length
                        if not length or end > size:
                            break
                        record = data[pos + HEADER_SIZE:end]
                        if crc32(record) == crc:
                            visit(record)
                            count += 1
                        pos = end
                os.fsync(file.fileno())
        except OSError as exc:
            log.warning("buffer: cannot read segment %s for the start positions: %s", path, exc)
    return count
