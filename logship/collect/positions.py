"""Positions in a container's log: a stream's watermark (``Mark``), Docker's timestamps as comparable
bytes, the ``since`` that resumes from marks, and where a record stands, read back from its bytes
(``record_position``).

At start the agent reads the buffer's newest records to find, per container and stream, the last line
already stored (``checkpoint.BufferedPositions``): the checkpoint file may lag the buffer. This module
reads that position from a record in the collector's layout (``logship.record``), cheaply: a prefix
check and a few ``find``/``rfind``, no JSON parsing.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable
from dataclasses import dataclass

TIMESTAMP_CHARS = b"0123456789-:.TZ"
FIXED_TIMESTAMP_LENGTH = 30  # 2026-11-25T16:37:09.305268574Z: the API always sends 9 digits
# How far before the oldest watermark a resume starts: stdout and stderr interleave out of
# timestamp order by up to ~18 ms in dockerd 20.10; the skip rule drops the overlap.
RESUME_MARGIN_SECONDS = 1
RECORD_OPEN = b'{"timestamp":"'
RECORD_MESSAGE = b'","message":'


@dataclass(frozen=True, slots=True)
class Mark:
    """A stream's watermark: the newest timestamp delivered and how many frames carried exactly it."""

    timestamp: bytes
    count: int


def is_fixed_timestamp(raw: bytes) -> bool:
    """``raw`` is already in the fixed 30-byte form (digits and separators, ``T`` at 10)."""
    return len(raw) == FIXED_TIMESTAMP_LENGTH and raw[10] == 84 and not raw.translate(None, TIMESTAMP_CHARS)


def normalise_timestamp(raw: bytes) -> bytes | None:
    """Docker's timestamp as the fixed 30-byte RFC3339Nano form (comparable as bytes), or None."""
    if is_fixed_timestamp(raw):
        return raw
    if raw.translate(None, TIMESTAMP_CHARS) or not raw.endswith(b"Z") or len(raw) < 20 or raw[10] != 84:
        return None
    whole, _, fraction = raw[:-1].partition(b".")
    if len(whole) != 19 or len(fraction) > 9 or (not fraction.isdigit() and fraction):
        return None
    return whole + b"." + fraction.ljust(9, b"0") + b"Z"


SINCE_START = "0"  # ``since`` when nothing was seen yet: the log's start


def since_parameter(marks: Iterable[Mark]) -> str:
    """The ``since`` value (``seconds.nanoseconds``) that resumes every stream: a little before the oldest."""
    oldest = min((mark.timestamp for mark in marks), default=None)
    if oldest is None:
        return SINCE_START
    seconds = calendar.timegm(time.strptime(oldest[:19].decode(), "%Y-%m-%dT%H:%M:%S"))
    return f"{max(seconds - RESUME_MARGIN_SECONDS, 0)}.{oldest[20:29].decode()}"


# The start of every record's suffix (set_metadata): the stream, then the container's id (the enricher's
# metadata begins with it). Searched from the end: only the real suffix has this exact shape there.
_SUFFIX_STARTS = tuple((name, b',"stream":"%b","container":{"id":"' % name.encode()) for name in ("stdout", "stderr"))
_PART_NOT_LAST = b'"last":false}'
_PART_MARKER = b',"partial":{"ordinal":'
_LOG_OPEN = b',"log":{'
_ATTRIBUTES_OPEN = b',"attributes":{'
_LOG_END = b'"end":"'
_MESSAGE_AT = len(RECORD_OPEN) + FIXED_TIMESTAMP_LENGTH


def record_position(record: bytes) -> tuple[str, str, bytes, bool] | None:
    """Where a record made here stands in its container's log: (container id, stream, timestamp, whether
    it ends a line: False for a part of a cut line that is not its last). None for any other shape. The
    timestamp of a joined multiline event is its last line's (``log.end``): the event covers up to there.

    Cheap enough to run over the buffer's newest segments at start (a prefix check and a few ``rfind``).
    Relies on the record's layout: the timestamp first, the suffix ``,"stream":"…","container":{"id":"…``
    after the message (and its part marker); a stage that adds keys must keep them out of that place.
    """
    if not record.startswith(RECORD_OPEN) or not record.startswith(RECORD_MESSAGE, _MESSAGE_AT):
        return None
    stream, at, key = "", -1, b""
    for name, start in _SUFFIX_STARTS:
        found = record.rfind(start, _MESSAGE_AT)
        if found > at:
            stream, at, key = name, found, start
    if at < 0:
        return None
    id_at = at + len(key)
    id_end = record.find(b'"', id_at)
    if id_end <= id_at:
        return None
    # The record's own part marker, log and attributes follow the message in that order (the message, a
    # JSON string, holds none of them): a look-alike found after the first ",attributes" is inside them.
    attributes_at = record.find(_ATTRIBUTES_OPEN, _MESSAGE_AT, at)
    own_until = attributes_at if attributes_at >= 0 else at
    part = record.find(_PART_MARKER, _MESSAGE_AT, own_until)
    ends_line = part < 0 or record.find(_PART_NOT_LAST, part, part + 48) < 0
    return record[id_at:id_end].decode(), stream, _end_of_event(record, own_until) or record[
        len(RECORD_OPEN):_MESSAGE_AT], ends_line


def _end_of_event(record: bytes, own_until: int) -> bytes | None:
    """``log.end`` of a joined multiline event (its last line's timestamp), else None."""
    log_at = record.find(_LOG_OPEN, _MESSAGE_AT, own_until)
    if log_at < 0:
        return None
    end_at = record.find(_LOG_END, log_at, log_at + 64)
    if end_at < 0:
        return None
    end_at += len(_LOG_END)
    stamp = record[end_at:end_at + FIXED_TIMESTAMP_LENGTH]
    return stamp if is_fixed_timestamp(stamp) else None


def now_timestamp() -> bytes:
    """The current time as a Docker timestamp (the fixed 30-byte form), for a line that has none."""
    now = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 1_000_000_000)).encode() + (
        b".%09dZ" % (now % 1_000_000_000))
