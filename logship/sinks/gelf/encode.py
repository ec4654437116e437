"""The ``gelf`` sink, the encode step: pure functions that turn records into the request body.

The wire format and the answers are described in ``logship.sinks.gelf``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import orjson
from yarl import URL

from logship.record import SYSLOG_SEVERITY, Columns, Line, Reader
from logship.sinks.base import Batch
from logship.sinks.gelf.spec import GelfSinkConfig
from logship.sinks.gzip_body import gzip_compress
from logship.timestamps import docker_second, unix_millis

VERSION = "1.1"
SHORT_MESSAGE_CHARS = 250
EMPTY_LINE = "(empty line)"
LEVEL_INFO = 6
LEVEL_ERROR = 3
_FIELD_NAME_FORBIDDEN = re.compile(r"[^A-Za-z0-9_.\-]")
# Fields of the record that become GELF's own fields rather than additional ones.
_OWN_FIELDS = ("timestamp", "message")
# Paths renamed (a prefix of the path → the prefix of the field name).
_RENAMED = {("container", "image", "name"): "_image_name", ("container", "labels"): "_label",
            ("swarm", "service", "labels"): "_swarm_service_label", ("host", "name"): None}


# --- encode -------------------------------------------------------------------------------------


def field_name(path: Sequence[str]) -> str | None:
    """The GELF additional field name of a record field (see the module docstring); None: not one."""
    for length in (3, 2):
        prefix = tuple(path[:length])
        if prefix in _RENAMED:
            name = _RENAMED[prefix]
            if name is None:
                return None
            rest = path[length:]
            return _clean(name + "".join("_" + part for part in rest))
    return _clean("_" + "_".join(path))


def _clean(name: str) -> str:
    name = _FIELD_NAME_FORBIDDEN.sub("_", name)
    return "__id" if name == "_id" else name


def _gelf_value(value: Any) -> str | int | float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return value
    return orjson.dumps(value).decode()


def additional_fields(fields: Mapping[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """The record's fields other than timestamp and message, flattened into GELF additional fields."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if not path and key in _OWN_FIELDS:
            continue
        here = (*path, str(key))
        if isinstance(value, dict):
            out.update(additional_fields(value, here))
            continue
        name = field_name(here)
        converted = _gelf_value(value)
        if name is not None and converted is not None:
            out[name] = converted
    return out


def split_message(message: str) -> tuple[str, str | None]:
    """(``short_message``, ``full_message`` or None) of a record's message."""
    stripped = message.lstrip()
    first = stripped.split("\n", 1)[0].rstrip() if stripped else ""
    short = first[:SHORT_MESSAGE_CHARS] if first else EMPTY_LINE
    return short, None if short == message else message


def _host(metadata: Mapping[str, Any]) -> str:
    for parent in ("host", "container"):
        value = metadata.get(parent)
        name = value.get("name") if isinstance(value, dict) else None
        if isinstance(name, str) and name.strip():
            return name
    return "docker"


class _Encoder:
    """Builds GELF messages as bytes; the part from the record's metadata (host, default level, additional
    fields) is serialised once per container and stream (``Shared.encoded``)."""

    def __init__(self) -> None:
        self.reader = Reader()

    def encode(self, record: bytes) -> bytes:
        line = self.reader.read(record)
        message = line.message
        if type(message) is not str:
            message = "" if message is None else str(message)
        timestamp = line.timestamp
        shared = line.shared
        if shared.encoded is None:
            shared.encoded = _shared_part(shared.fields)
        host, default_level, fields, tail, _, _ = shared.encoded
        short, full = split_message(message)
        head: dict[str, Any] = {"version": VERSION, "host": host, "short_message": short}
        if full is not None:
            head["full_message"] = full
        millis = unix_millis(timestamp) if type(timestamp) is str else None
        if millis is not None:
            head["timestamp"] = millis / 1000
        extra = line.extra
        middle = b',"level":%d' % default_level if not extra else _line_part(line, extra, default_level, fields)
        message_bytes: bytes = orjson.dumps(head)[:-1] + middle + tail
        return message_bytes


def _shared_part(metadata: dict[str, Any]) -> tuple[str, int, dict[str, Any], bytes, bytes, bytes]:
    """(host, the stream's level, the additional fields, their JSON members + ``}``, and for a plain
    message the bytes before its short_message's text and those after its timestamp) of a container."""
    level = LEVEL_ERROR if metadata.get("stream") == "stderr" else LEVEL_INFO
    fields = additional_fields(metadata)
    extra = orjson.dumps(fields)
    host = _host(metadata)
    tail = (b"," + extra[1:-1] if len(extra) > 2 else b"") + b"}"
    plain_head = orjson.dumps({"version": VERSION, "host": host, "short_message": ""})[:-2]  # up to its quote
    return host, level, fields, tail, plain_head, b',"level":%d' % level + tail


def _line_part(line: Line, extra: dict[str, Any], default_level: int, shared: dict[str, Any]) -> bytes:
    """``,"level":N`` and the line's own additional fields (``partial``, ``log``, the parsed attributes
    without their ``attributes`` prefix); a name the container's metadata has too is left to it."""
    level = SYSLOG_SEVERITY.get(line.level or "", default_level)
    attributes = extra.pop("attributes", None)
    fields = additional_fields(extra)
    if isinstance(attributes, dict):
        for name, value in additional_fields(attributes).items():
            fields.setdefault(name, value)
    members = orjson.dumps({name: value for name, value in fields.items() if name not in shared})
    return b',"level":%d' % level + (b"," + members[1:-1] if len(members) > 2 else b"")


_NOT_AN_END = frozenset(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f") | frozenset(range(0x80, 0x100))  # str.strip's, or unsure
_NOT_AN_END_BYTES = bytes(sorted(_NOT_AN_END))
# The fraction of a GELF timestamp (seconds, a float) from a Docker timestamp's first three fraction digits:
# orjson writes (s * 1000 + ms) / 1000 as s, ".", the digits without trailing zeros (".0" for none), for every
# s from 0 to year 9999 (tests/sinks/test_gelf_body.py checks it against orjson).
_MILLIS_TEXT = {b"%03d" % ms: (b"%03d" % ms).rstrip(b"0") or b"0" for ms in range(1000)}
_SECOND_OF = itemgetter(slice(0, 20))  # b"2026-11-25T16:32:42."
_MILLIS_OF = itemgetter(slice(20, 23))


def messages(batch: Batch) -> list[bytes]:
    """One GELF JSON message (bytes, no delimiter) per record of ``batch``.

    A plain record (``Reader.split``) whose message is its own ``short_message`` (one line, no space at
    either end, at most SHORT_MESSAGE_CHARS) is written from its bytes: the message as escaped in the
    record (orjson's escaping, as dumps gives) between the container's parts, made once per batch.
    """
    encoder = _Encoder()
    encode_one = encoder.encode
    reader = encoder.reader
    records = batch.records
    plains = reader.parts(records)
    if isinstance(plains, Columns):
        whole = _whole_batch(plains)
        if whole is not None:
            return whole
        plains = plains.plains()
    out: list[bytes] = []
    append = out.append
    seconds: dict[bytes, int] = {}  # b"2026-11-25T16:32:42." → its Unix seconds in ms
    dumps = orjson.dumps
    for record, plain in zip(records, plains, strict=True):
        if plain is not None:
            shared, stamp, raw, text, _ = plain
            fraction = stamp[20:29]
            if (text and len(text) <= SHORT_MESSAGE_CHARS and text[0] not in _NOT_AN_END
                    and text[-1] not in _NOT_AN_END and b"\\n" not in raw and stamp[29] == 0x5A
                    and fraction.isdigit()):
                second = seconds.get(stamp[:20])
                if second is None:
                    second = _millis_of_second(stamp, seconds)
                if second is not None:
                    encoded = shared.encoded
                    if encoded is None:
                        encoded = shared.encoded = _shared_part(shared.fields)
                    append(b"".join((encoded[4], raw, b'","timestamp":',
                                     dumps((second + int(fraction[:3])) / 1000), encoded[5])))
                    continue
        append(encode_one(record))
    return out


def _whole_batch(columns: Columns) -> list[bytes] | None:
    """``messages`` of a batch of plain records whose every message is its own ``short_message`` and whose
    every timestamp is Docker's, in passes over whole lists (``Columns``); None for any other batch."""
    shareds, stamps, raws, texts = columns
    if not all(texts) or max(map(len, texts)) > SHORT_MESSAGE_CHARS or b"\\n" in b"\0".join(raws):
        return None
    for ends in (bytes(map(itemgetter(0), texts)), bytes(map(itemgetter(-1), texts))):
        if len(ends.translate(None, _NOT_AN_END_BYTES)) != len(ends):
            return None
    if not columns.dockers_stamps():
        return None
    middles: dict[bytes, bytes] = {}  # b"2026-11-25T16:32:42." → b'","timestamp":1764088362.'
    for second, stamp in dict(zip(map(_SECOND_OF, stamps), stamps, strict=True)).items():
        whole = docker_second(stamp)
        if whole is None or whole < 0:
            return None
        middles[second] = b'","timestamp":%d.' % whole
    encodings = columns.encodings(_shared_part)
    heads = {shared: encoded[4] for shared, encoded in encodings.items()}
    tails = {shared: encoded[5] for shared, encoded in encodings.items()}
    pieces = zip(map(heads.__getitem__, shareds), raws, map(middles.__getitem__, map(_SECOND_OF, stamps)),
                 map(_MILLIS_TEXT.__getitem__, map(_MILLIS_OF, stamps)), map(tails.__getitem__, shareds), strict=True)
    return list(map(b"".join, pieces))


def _millis_of_second(stamp: bytes, seconds: dict[bytes, int]) -> int | None:
    """The Unix time in ms of a Docker timestamp's second (kept in ``seconds``); None for another form."""
    whole = docker_second(stamp)
    if whole is None:
        return None
    millis = seconds[stamp[:20]] = whole * 1000
    return millis


def encode(batch: Batch, config: GelfSinkConfig) -> tuple[list[bytes], dict[str, str]]:
    """The bodies to send for ``batch`` and their headers.

    HTTP: one body per message (gzip-compressed with ``LOGSHIP_GELF_COMPRESSION=gzip``); TCP/TLS: one
    body, every message followed by ``\\0``, and no headers.
    """
    gelf = messages(batch)
    scheme = URL(config.url).scheme
    if scheme in ("tcp", "tls"):
        gelf.append(b"")
        return [b"\0".join(gelf)], {}
    headers = {"Content-Type": "application/json"}
    if config.compression == "gzip":
        headers["Content-Encoding"] = "gzip"
        gelf = [gzip_compress(message) for message in gelf]
    return gelf, headers
