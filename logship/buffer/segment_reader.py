"""Reading segment files back: frames parsed incrementally, every CRC checked (format: ``segment``).

Each ``BufferReader`` has one ``SegmentReader``: its own read-only handle on one segment file at a time
(never fsynced, never shared; the write descriptors and every fsync belong to ``segment_log``), and the
bytes read from it but not parsed yet.

Invariants:
- Only the written part of a segment is parsed: up to ``Segment.size``, which grows after each whole
  group is written, so a frame is never read half-written.
- A frame whose CRC fails is passed over (its framing is intact) and counted once however many readers
  meet it (``Damage.crc``). A frame whose length is impossible, or that runs past the written end, or a
  file shorter than written, means the framing is lost: the rest of the segment is skipped and counted
  as one ``corrupt`` drop (``Damage.lost``), once per segment.
- The cursor's read position only ever stops on a frame boundary.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import BinaryIO

from logship.buffer.cursor import Cursor
from logship.buffer.segment import HEADER, HEADER_SIZE, MAX_RECORD_BYTES, crc32
from logship.buffer.segment_log import Segment
from logship.metrics import Metrics

log = logging.getLogger("logship.buffer")

# How much a reader pulls from a segment file at once; a larger record is read whole.
READ_BLOCK_BYTES = 1024 * 1024


class Damage:
    """Counts damaged records of the buffer once, whichever reader meets them first."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._seen: set[tuple[int, int]] = set()  # (segment, offset) counted; offset -1: lost framing

    def crc(self, seq: int, offset: int) -> None:
        """The record at ``offset`` of segment ``seq`` fails its CRC check."""
        if (seq, offset) in self._seen:
            return
        self._seen.add((seq, offset))
        self._metrics.buffer_lines_dropped.labels(reason="crc").inc()
        log.warning("buffer: record at segment %d offset %d fails its CRC check: skipped", seq, offset)

    def lost(self, segment: Segment, offset: int, why: str) -> None:
        """The framing of ``segment`` is lost from ``offset`` on."""
        if (segment.seq, -1) in self._seen:
            return
        self._seen.add((segment.seq, -1))
        self._metrics.buffer_lines_dropped.labels(reason="corrupt").inc()
        log.error("buffer: segment %s unreadable from offset %d (%s): the rest of it is skipped (an unknown "
                  "number of records, counted as 1)", segment.path, offset, why)

    def forget(self, seq: int) -> None:
        """Segment ``seq`` was deleted."""
        if self._seen:
            self._seen = {key for key in self._seen if key[0] != seq}


class SegmentReader:
    """One reader's handle on the segment files and its parse state."""

    def __init__(self, damage: Damage) -> None:
        self._damage = damage
        self.file: BinaryIO | None = None
        self._file_seq = -1
        self.seek_needed = False  # the cursor moved without this file (memory tail): seek first
        self._data = b""
        self._data_pos = 0  # position of the next frame within _data
        self._data_base = 0  # file offset of _data[0]

    def take(self, segment: Segment, cursor: Cursor, records: list[bytes], max_records: int, max_bytes: int,
             nbytes: int) -> tuple[int, bool]:
        """Parse frames of ``segment`` from the cursor's read position into ``records`` up to the limits
        or the segment's written end, and move the read position past them.

        Returns (nbytes, whether a limit was reached)."""
        if self._file_seq != segment.seq and not self._open(segment, cursor):
            return nbytes, False
        if self.seek_needed:
            self.seek_needed = False
            self.file.seek(cursor.offset)  # type: ignore[union-attr]
            self._data, self._data_pos, self._data_base = b"", 0, cursor.offset
        file = self.file
        assert file is not None
        data, pos, base = self._data, self._data_pos, self._data_base
        size = len(data)
        seg_size = segment.size
        unpack_from, checksum, append = HEADER.unpack_from, crc32, records.append
        taken = len(records)
        bad = 0
        full = False
        while True:
            if pos + HEADER_SIZE <= size:
                length, crc = unpack_from(data, pos)
                end = pos + HEADER_SIZE + length
                if end <= size and 0 < length <= MAX_RECORD_BYTES:
                    if nbytes + length > max_bytes and records:
                        full = True
                        break
                    payload = data[pos + HEADER_SIZE:end]
                    if checksum(payload) == crc:
                        append(payload)
                        nbytes += length
                        pos = end
                        if len(records) >= max_records:
                            full = True
                            break
                    else:
                        self._damage.crc(segment.seq, base + pos)
                        bad += 1
                        pos = end
                    continue
            # Slow path: the next frame is not wholly in memory (or its header is nonsense).
            if base + pos >= seg_size:
                break
            if pos + HEADER_SIZE <= size:
                length = unpack_from(data, pos)[0]
                if not 0 < length <= MAX_RECORD_BYTES:
                    self._lose_rest(segment, cursor, base + pos, f"impossible record length {length}")
                    return nbytes, False
                missing = pos + HEADER_SIZE + length - size
            else:
                missing = pos + HEADER_SIZE - size
            available = seg_size - (base + size)
            if missing > available:
                self._lose_rest(segment, cursor, base + pos, "a record runs past the end of the segment")
                return nbytes, False
            more = file.read(min(available, max(missing, READ_BLOCK_BYTES)))
            if len(more) < missing:
                self._lose_rest(segment, cursor, base + pos, "the file is shorter than written")
                return nbytes, False
            data = data[pos:] + more if pos < size else more
            base += pos
            pos = 0
            size = len(data)
        self._data, self._data_pos, self._data_base = data, pos, base
        cursor.offset = base + pos
        cursor.index += len(records) - taken + bad
        return nbytes, full

    def _open(self, segment: Segment, cursor: Cursor) -> bool:
        self.close()
        try:
            file = open(segment.path, "rb")  # noqa: SIM115 - kept open across reads
            file.seek(cursor.offset)
        except OSError as exc:
            self._lose_rest(segment, cursor, cursor.offset, f"cannot open: {exc.strerror}")
            return False
        self.file, self._file_seq = file, segment.seq
        self._data, self._data_pos, self._data_base = b"", 0, cursor.offset
        self.seek_needed = False
        return True

    def _lose_rest(self, segment: Segment, cursor: Cursor, offset: int, why: str) -> None:
        self._damage.lost(segment, offset, why)
        self.close()
        cursor.offset = segment.size
        cursor.index = segment.end_index

    def close(self) -> None:
        """Close the file (the next ``take`` opens the segment it is given)."""
        if self.file is not None:
            self.file.close()
        self.file, self._file_seq = None, -1
        self._data, self._data_pos, self._data_base = b"", 0, 0


def read_frame_at(path: Path, offset: int) -> bytes | None:
    """The record of the frame at ``offset`` of the segment ``path`` (None when it cannot be read or its
    CRC fails). Opens its own handle: for the occasional look, not for reading on."""
    try:
        with open(path, "rb") as file:
            file.seek(offset)
            header = file.read(HEADER_SIZE)
            length, crc = HEADER.unpack(header)
            payload = file.read(length) if 0 < length <= MAX_RECORD_BYTES else b""
    except (OSError, struct.error):  # struct.error: shorter than a header
        return None
    return payload if len(payload) == length and crc32(payload) == crc else None
