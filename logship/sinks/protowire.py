"""Protocol Buffers wire format by hand, and Docker's RFC 3339 timestamps as Unix nanoseconds.

The Loki push request has no published Python package (see ``logship.sinks.loki``), and it needs only
two of the wire types, so it is written here directly:

- a *varint* (wire type 0): 7 bits per byte, least significant group first, high bit set on every
  byte but the last; used for ``uint64``/``int64`` (non-negative here) fields;
- a *length-delimited* field (wire type 2): varint length, then the bytes; used for ``string``,
  ``bytes`` and embedded messages.

Each field starts with its key, the varint ``field_number << 3 | wire_type``. proto3 leaves fields at
their default (0, empty) out; a repeated field is its key-and-value repeated. ``fields`` reads a
message back (for error bodies such as ``google.rpc.Status``, and for tests).

``timestamp_ns`` turns the record's ``timestamp`` (Docker's RFC 3339 with up to nine fraction digits,
``Z`` or an offset) into integer nanoseconds since the epoch, without going through a float.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterator

VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2
FIXED32 = 5

_SMALL = [bytes((n,)) for n in range(128)]


def varint(value: int) -> bytes:
    """``value`` (0 ≤ value < 2**64) as a varint."""
    if value < 128:
        if value < 0:
            raise ValueError("negative values are not encoded by this module")
        return _SMALL[value]
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def key(field: int, wire_type: int) -> bytes:
    """The key that starts a field."""
    return varint(field << 3 | wire_type)


def length_delimited(field: int, payload: bytes) -> bytes:
    """A string, bytes or embedded-message field."""
    return varint(field << 3 | LENGTH_DELIMITED) + varint(len(payload)) + payload


def uint_field(field: int, value: int) -> bytes:
    """A varint field, left out (b"") when 0 as proto3 does."""
    return varint(field << 3) + varint(value) if value else b""


def timestamp_message(ns: int) -> bytes:
    """A ``google.protobuf.Timestamp`` {1: seconds, 2: nanos} for ``ns`` nanoseconds since the epoch."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    return uint_field(1, seconds) + uint_field(2, nanos)


def read_varint(data: bytes, position: int) -> tuple[int, int]:
    """The varint at ``position`` and the position after it. Raises ValueError when truncated."""
    result = shift = 0
    while True:
        if position >= len(data):
            raise ValueError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7
        if shift >= 64:
            raise ValueError("varint longer than 10 bytes")


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field of a message: an int for varint and fixed
    fields, the bytes for length-delimited ones. Raises ValueError for malformed input."""
    position = 0
    size = len(data)
    while position < size:
        tag, position = read_varint(data, position)
        field, wire_type = tag >> 3, tag & 7
        if field == 0:
            raise ValueError("field number 0")
        if wire_type == VARINT:
            value, position = read_varint(data, position)
            yield field, wire_type, value
        elif wire_type == LENGTH_DELIMITED:
            length, position = read_varint(data, position)
            if position + length > size:
                raise ValueError("truncated length-delimited field")
            yield field, wire_type, data[position:position + length]
            position += length
        elif wire_type in (FIXED64, FIXED32):
            width = 8 if wire_type == FIXED64 else 4
            if position + width > size:
                raise ValueError("truncated fixed-width field")
            yield field, wire_type, int.from_bytes(data[position:position + width], "little")
            position += width
        else:
            raise ValueError(f"unsupported wire type {wire_type}")


# --- timestamps -------------------------------------------------------------------------------

_RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:\d\d)$")
_SECONDS_CACHE: dict[str, int] = {}
_SECONDS_CACHE_MAX = 4096


def timestamp_ns(text: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 timestamp, or None when it is not one.

    Fraction digits past the ninth are dropped (Docker never writes more than nine).
    """
    # Fast path: Docker's own form, "2026-11-25T16:32:42.123456789Z" (trailing zeros may be trimmed).
    if len(text) >= 20 and text[-1] == "Z" and text[10] == "T" and text[19] in ".Z":
        prefix = text[:19]
        seconds = _SECONDS_CACHE.get(prefix)
        if seconds is None:
            match = _RFC3339.match(text)
            if match is None:
                return None
            seconds = _epoch_seconds(match)
            if len(_SECONDS_CACHE) >= _SECONDS_CACHE_MAX:
                _SECONDS_CACHE.clear()
            _SECONDS_CACHE[prefix] = seconds
        fraction = text[20:-1]
        if not fraction:
            return seconds * 1_000_000_000
        if not fraction.isdigit():
            return None
        return seconds * 1_000_000_000 + int(fraction[:9].ljust(9, "0"))
    match = _RFC3339.match(text)
    if match is None:
        return None
    fraction = match.group(7) or ""
    return _epoch_seconds(match) * 1_000_000_000 + (int(fraction[:9].ljust(9, "0")) if fraction else 0)


def _epoch_seconds(match: re.Match[str]) -> int:
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    zone = match.group(8)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds


def record_time_ns(value: object) -> int:
    """The record's timestamp in nanoseconds; now when it is missing or unreadable (never happens
    with records built by the collector, but a store needs a time)."""
    if isinstance(value, str):
        ns = timestamp_ns(value)
        if ns is not None:
            return ns
    return time.time_ns()
