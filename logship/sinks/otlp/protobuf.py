"""The ``otlp`` sink, protobuf written by hand: ``AnyValue`` and ``KeyValue`` fields of the OTLP logs model.

What ``opentelemetry-proto``'s message classes serialise, byte for byte (fields in number order, proto3
defaults left out, a oneof's value written even when it is the default), without building a message
object per record: ``logship.sinks.otlp.encode.export_request`` writes the records around these pieces.
The tests compare both ways on every kind of value.

    AnyValue   { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
                 ArrayValue array_value = 5; … }
    ArrayValue { repeated AnyValue values = 1; }
    KeyValue   { string key = 1; AnyValue value = 2; }
"""

from __future__ import annotations

import struct
from typing import Any

import orjson

from logship.sinks.protowire import VARINTS, varint

_DOUBLE = struct.Struct("<d")
_INT64 = 1 << 63
_UINT64 = 1 << 64


def delimited(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its key (``tag``, one byte), the payload's length, the payload."""
    size = len(payload)
    return tag + (VARINTS[size] if size < 16384 else varint(size)) + payload


def any_value(value: Any) -> bytes:
    """The ``AnyValue`` message of an attribute's value (as the JSON type it has); b"" for an empty array,
    whose value the message classes leave unset."""
    if isinstance(value, str):
        return delimited(b"\x0a", value.encode())
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError(f"Value out of range: {value}")  # as protobuf says of an int64
        return b"\x18" + varint(value if value >= 0 else value + _UINT64)  # two's complement, ten bytes
    if isinstance(value, float):
        return b"\x21" + _DOUBLE.pack(value)
    if isinstance(value, list):
        items = b"".join(delimited(b"\x0a", any_value(item if isinstance(item, str | bool | int | float | list)
                                                  else orjson.dumps(item).decode()))
                         for item in value if item is not None)
        return delimited(b"\x2a", items) if items else b""
    return delimited(b"\x0a", orjson.dumps(value, default=str))


def key_values(tag: bytes, attributes: tuple[tuple[str, Any], ...]) -> bytes:
    """``attributes`` as repeated ``KeyValue`` fields with key ``tag`` (Resource.attributes = 1,
    LogRecord.attributes = 6)."""
    out = []
    for key, value in attributes:
        encoded = any_value(value)
        value_field = delimited(b"\x12", encoded) if encoded or not isinstance(value, list) else b""
        out.append(delimited(tag, (delimited(b"\x0a", key.encode()) if key else b"") + value_field))
    return b"".join(out)
