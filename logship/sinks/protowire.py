"""Protocol Buffers wire format by hand.

The Loki push request has no published Python package (see ``logship.sinks.loki``), and it needs only
two of the wire types, so it is written here directly:

- a *varint* (wire type 0): 7 bits per byte, least significant group first, high bit set on every
  byte but the last; used for ``uint64``/``int64`` (non-negative here) fields;
- a *length-delimited* field (wire type 2): varint length, then the bytes; used for ``string``,
  ``bytes`` and embedded messages.

Each field starts with its key, the varint ``field_number << 3 | wire_type``. proto3 leaves fields at
their default (0, empty) out; a repeated field is its key-and-value repeated. ``fields`` reads a
message back (for error bodies such as ``google.rpc.Status``, and for tests). Record timestamps become
nanoseconds in ``logship.timestamps``.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2
FIXED32 = 5

# Tables for the hot loops (lengths, nanoseconds): the varint of every value below 2**14, and the first two
# bytes of a larger value's varint (its low 14 bits, both bytes with the continuation bit). 0.7 MB.
VARINTS = [bytes((n,)) if n < 128 else bytes((n & 0x7F | 0x80, n >> 7)) for n in range(1 << 14)]
CONTINUED = [bytes((n & 0x7F | 0x80, n >> 7 | 0x80)) for n in range(1 << 14)]
# The key of a length-delimited field 2 (0x12) and a length below 2**14: how most entries and lines start.
FIELD_2 = [b"\x12" + length for length in VARINTS]


def varint(value: int) -> bytes:
    """``value`` (0 ≤ value < 2**64) as a varint."""
    if value < 16384:
        if value < 0:
            raise ValueError("negative values are not encoded by this module")
        return VARINTS[value]
    if value < 268435456:  # 2**28: two table look-ups
        return CONTINUED[value & 16383] + VARINTS[value >> 14]
    if value < 4398046511104:  # 2**42 (nanoseconds of a second, seconds since 1970): three
        return CONTINUED[value & 16383] + CONTINUED[value >> 14 & 16383] + VARINTS[value >> 28]
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


def repeated(keys: list[bytes], values: list[bytes]) -> list[bytes]:
    """The pieces of a repeated length-delimited field, each value after its key (the tag and the value's
    length), for ``b"".join``: a whole batch's entries interleaved in C rather than appended one by one."""
    pieces = [b""] * (2 * len(values))
    pieces[0::2] = keys
    pieces[1::2] = values
    return pieces


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
