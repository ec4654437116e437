"""Segment files: record framing, names, and the recovery scan.

A segment ``segment-<20-digit sequence>.log`` is a sequence of frames::

    [u32 length, big-endian][u32 CRC-32 of the payload, big-endian][payload: length bytes]

Invariants:
- ``1 <= length <= MAX_RECORD_BYTES`` (64 MiB). An empty record is never written, so a length of 0
  (typically a zero-filled tail left by a crash) or an absurd length means the framing is lost there.
- Frames are appended whole, a group of them with one ``write``; a segment therefore only ever ends
  inside a frame after a crash (a *torn* tail), which recovery truncates back to the last whole frame.
- The CRC covers the payload only; a failed CRC with a sane length leaves the framing intact, so a
  reader skips just that record.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

HEADER = struct.Struct(">II")
HEADER_SIZE = HEADER.size
MAX_RECORD_BYTES = 64 * 1024 * 1024

SEGMENT_RE = re.compile(r"^segment-(\d{20})\.log$")

_pack = HEADER.pack
_unpack_from = HEADER.unpack_from
try:
    # isal computes zlib's CRC-32 (same values, same on-disk format) about 4x faster: 44 ns instead of
    # 170 ns for a 600-byte record here, and every record is checksummed when written and when read.
    from isal.isal_zlib import crc32 as crc32
except ImportError:  # no isal wheel for this machine
    from zlib import crc32 as crc32


def segment_name(seq: int) -> str:
    """The file name of segment ``seq``."""
    return f"segment-{seq:020d}.log"


def parse_segment_name(name: str) -> int | None:
    """The sequence number of a segment file name, or None when ``name`` is not a segment."""
    match = SEGMENT_RE.match(name)
    return int(match.group(1)) if match else None


def encode_records(records: list[bytes]) -> bytes:
    """Frame ``records`` (each non-empty, at most MAX_RECORD_BYTES) into one contiguous block."""
    # map() keeps the per-record work in C; interleaving by slice assignment avoids a Python loop.
    headers = list(map(_pack, map(len, records), map(crc32, records)))
    parts: list[bytes] = [b""] * (2 * len(records))
    parts[::2] = headers
    parts[1::2] = records
    return b"".join(parts)


def decode_records(data: bytes) -> tuple[list[bytes], int]:
    """Decode whole, CRC-valid frames of ``data``; returns (records, bytes consumed).

    Stops at the first incomplete or invalid frame. Records with a bad CRC are skipped. Meant for
    tests and tools; the reader has its own incremental loop.
    """
    records: list[bytes] = []
    pos, size = 0, len(data)
    while pos + HEADER_SIZE <= size:
        length, crc = _unpack_from(data, pos)
        end = pos + HEADER_SIZE + length
        if length == 0 or length > MAX_RECORD_BYTES or end > size:
            break
        payload = data[pos + HEADER_SIZE:end]
        if crc32(payload) == crc:
            records.append(payload)
        pos = end
    return records, pos


@dataclass(slots=True)
class ScanResult:
    """What the recovery scan found in one segment file.

    ``valid_end``: offset just after the last whole frame (the file should be truncated to it).
    ``problem``: None, ``"torn"`` (the file ends inside a frame, or in zeros: a crash mid-write) or
    ``"corrupt"`` (a nonsensical length followed by non-zero bytes: the framing is lost there).
    ``probes``: for each probed offset, (the last frame boundary at or before it, frames before that
    boundary); a probe at or past ``valid_end`` maps to (valid_end, count).
    """

    size: int
    valid_end: int
    count: int
    problem: str | None = None
    probes: dict[int, tuple[int, int]] = field(default_factory=dict)


def scan_segment(path: Path, probes: list[int] | tuple[int, ...] = ()) -> ScanResult:
    """Walk the frame headers of ``path`` (no CRC check: readers verify CRCs as they read).

    Raises OSError when the file cannot be opened or read.
    """
    pending = sorted(set(probes))
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size == 0:
            return ScanResult(0, 0, 0, None, {p: (0, 0) for p in pending})
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
            result = _walk(data, size, pending)
    return result


def _walk(data: mmap.mmap, size: int, pending: list[int]) -> ScanResult:
    found: dict[int, tuple[int, int]] = {}
    probe_index = 0
    next_probe = pending[0] if pending else size + 1
    pos = count = 0
    problem: str | None = None
    while True:
        if pos + HEADER_SIZE > size:
            if pos != size:
                problem = "torn"
            break
        length = _unpack_from(data, pos)[0]
        end = pos + HEADER_SIZE + length
        if length == 0 or length > MAX_RECORD_BYTES:
            # A crash can leave a zero-filled tail (size extended, data never written): that is torn.
            problem = "torn" if not data[pos:size].strip(b"\0") else "corrupt"
            break
        if end > size:
            problem = "torn"
            break
        while end > next_probe:  # the probe lies inside (or at the start of) this frame
            found[next_probe] = (pos, count)
            probe_index += 1
            next_probe = pending[probe_index] if probe_index < len(pending) else size + 1
        pos = end
        count += 1
    for probe in pending[probe_index:]:
        found[probe] = (pos, count)
    return ScanResult(size, pos, count, problem, found)
