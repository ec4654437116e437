"""The ``otlp`` sink, the encode step: pure functions that turn records into the request body.

The wire format and the answers are described in ``logship.sinks.otlp``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import repeat
from operator import add, itemgetter
from typing import Any

import orjson

from logship import __version__
from logship.fields import dotted, flatten
from logship.record import OTLP_SEVERITY, Columns, Line, Reader, Runs, Shared
from logship.sinks.base import Batch, SinkError
from logship.sinks.gzip_body import gzip_compress
from logship.sinks.otlp.protobuf import delimited, key_values
from logship.sinks.otlp.spec import OtlpSinkConfig
from logship.sinks.protowire import FIELD_2, VARINTS, repeated, varint
from logship.timestamps import docker_ns, docker_second, record_time_ns

ENCODINGS = ("protobuf", "json")
COMPRESSIONS = ("gzip", "none")
SCOPE_NAME = "logship"
CONTENT_TYPES = {"protobuf": "application/x-protobuf", "json": "application/json"}
_RESOURCE_PREFIXES = {"container": "container", "service": "service", "host": "host",
                      "compose": "docker.compose", "swarm": "docker.swarm"}
_RECORD_PREFIXES = {"partial": "logship.partial"}
_LINE_FIELDS = ("timestamp", "message", "stream")  # the log record's own fields

Value = str | bool | int | float | list[Any]
Attributes = tuple[tuple[str, Value], ...]


# --- the mapping ------------------------------------------------------------------------------


def parse_image(image: str) -> list[tuple[str, Value]]:
    """Resource attributes of a Docker image reference (see the module docstring)."""
    if not image:
        return []
    if image.startswith("sha256:"):
        return [("container.image.id", image)]
    reference, _, digest = image.partition("@")
    name, tag = reference, ""
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:  # a colon after the last slash is a tag, not a registry's port
        name, tag = reference[:colon], reference[colon + 1:]
    attributes: list[tuple[str, Value]] = [("container.image.name", name)]
    if tag:
        attributes.append(("container.image.tags", [tag]))
    if digest:
        attributes.append(("container.image.repo_digests", [f"{name}@{digest}"]))
    return attributes


def _flatten(node: Mapping[str, Any], prefix: str, out: list[tuple[str, Value]]) -> None:
    """Attributes of ``node``'s leaves under ``prefix``: dotted paths, an inner ``labels`` read as
    ``label`` (OpenTelemetry's ``container.label.<k>``); nulls and empty strings left out."""
    for path, value in flatten(node):
        if value != "":
            out.append((dotted((prefix, *path), "label"), value))


def resource_attributes(fields: Mapping[str, Any]) -> Attributes:
    """The resource attributes of a record's metadata fields."""
    attributes: list[tuple[str, Value]] = []
    for field, prefix in _RESOURCE_PREFIXES.items():
        node = fields.get(field)
        if not isinstance(node, dict):
            continue
        if field != "container":
            _flatten(node, prefix, attributes)
            continue
        image = node.get("image")
        _flatten({k: v for k, v in node.items() if k != "image"}, prefix, attributes)
        if isinstance(image, dict):
            attributes += parse_image(str(image.get("name") or ""))
            _flatten({k: v for k, v in image.items() if k != "name"}, "container.image", attributes)
    attributes += [("container.runtime", "docker"), ("container.runtime.name", "docker")]
    return tuple(attributes)


def record_attributes(fields: Mapping[str, Any]) -> Attributes:
    """Log-record attributes of the fields that are neither resource nor line (extra fields, partial)."""
    attributes: list[tuple[str, Value]] = []
    for field, value in fields.items():
        if field in _RESOURCE_PREFIXES or field in _LINE_FIELDS:
            continue
        if isinstance(value, dict):
            _flatten(value, _RECORD_PREFIXES.get(field, field), attributes)
        elif value is not None:
            attributes.append((field, value))
    return tuple(attributes)


# A log record: (ns, message, stream, attributes shared with its container, its own attributes,
# (SeverityNumber, SeverityText) or None).
_Record = tuple[int, str, str | None, Attributes, Attributes, tuple[int, str] | None]


@dataclass(slots=True)
class _Resource:
    attributes: Attributes
    records: list[_Record]


def line_attributes(line: Line) -> Attributes:
    """A line's own log-record attributes: ``log.lines`` of a joined event, then the parsed attributes
    under their dotted paths, values of their JSON type."""
    attributes: list[tuple[str, Value]] = []
    lines = line.lines
    if lines is not None:
        attributes.append(("log.lines", lines))
    parsed = line.attributes
    if parsed:
        attributes += [(dotted(path), value) for path, value in flatten(parsed)]
    return tuple(attributes)


def group(batch: Batch) -> list[_Resource]:
    """The batch's records grouped by resource, each group in batch order, groups in order of first
    appearance. A container's resource is made once per batch (``Shared.encoded``)."""
    read = Reader().read
    with_partial: dict[tuple[bytes, bytes], tuple[bytes, Attributes, Attributes]] = {}
    groups: dict[bytes, _Resource] = {}
    for raw in batch.records:
        line = read(raw)
        ns = record_time_ns(line.timestamp)
        message = line.message
        if not isinstance(message, str):
            message = orjson.dumps(message).decode()
        shared = line.shared
        shape = shared.encoded
        if shape is None:
            shape = shared.encoded = _shape(shared.fields)
        own: Attributes = ()
        severity = None
        if len(line.head) > 2:
            partial = line.head.get("partial")
            if partial is not None:  # logship.partial.* come first, as in the record
                key = (shared.key, orjson.dumps(partial))
                shape = with_partial.get(key) or with_partial.setdefault(
                    key, _shape({"partial": partial, **shared.fields}))
            level = line.level
            if level:
                severity = (OTLP_SEVERITY[level], level.upper())
            own = line_attributes(line)
        resource_key, resource, extra = shape
        target = groups.get(resource_key)
        if target is None:
            target = groups[resource_key] = _Resource(resource, [])
        stream = shared.fields.get("stream")
        target.records.append((ns, message, stream if isinstance(stream, str) else None, extra, own, severity))
    return list(groups.values())


def _shape(fields: dict[str, Any]) -> tuple[bytes, Attributes, Attributes]:
    resource = resource_attributes(fields)
    return orjson.dumps(resource), resource, record_attributes(fields)


# --- encode -----------------------------------------------------------------------------------


def _json_value(value: Value) -> dict[str, Any]:
    """An OTLP/JSON ``AnyValue``."""
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # int64: a decimal string in OTLP/JSON
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_json_value(item) for item in value if item is not None]}}
    return {"stringValue": orjson.dumps(value, default=str).decode()}


def _json_attributes(attributes: Attributes) -> list[dict[str, Any]]:
    return [{"key": key, "value": _json_value(value)} for key, value in attributes]


def encode_json(groups: list[_Resource], observed_ns: int) -> bytes:
    """The ExportLogsServiceRequest for ``groups`` in OTLP/JSON, not compressed."""
    observed = str(observed_ns)
    scope = {"name": SCOPE_NAME, "version": __version__}
    resource_logs = []
    extras: dict[Attributes, list[dict[str, Any]]] = {}
    for resource in groups:
        records = []
        for ns, message, stream, extra, own, severity in resource.records:
            attributes = extras.get(extra)
            if attributes is None:
                attributes = extras[extra] = _json_attributes(extra)
            if stream is not None:
                attributes = [{"key": "log.iostream", "value": {"stringValue": stream}}, *attributes]
            if own:
                attributes = [*attributes, *_json_attributes(own)]
            record: dict[str, Any] = {"timeUnixNano": str(ns), "observedTimeUnixNano": observed}
            if severity is not None:
                record["severityNumber"], record["severityText"] = severity
            record["body"] = {"stringValue": message}
            if attributes:
                record["attributes"] = attributes
            records.append(record)
        resource_logs.append({"resource": {"attributes": _json_attributes(resource.attributes)},
                              "scopeLogs": [{"scope": scope, "logRecords": records}]})
    return orjson.dumps({"resourceLogs": resource_logs})


class _Group:
    """One resource's ResourceLogs: its Resource field and its log records, encoded."""

    __slots__ = ("pieces", "resource", "size")

    def __init__(self, resource: bytes) -> None:
        self.resource = resource
        self.pieces: list[bytes] = []
        self.size = 0


def _shared_pb(shape: tuple[bytes, Attributes, Attributes], stream: Any) -> tuple[bytes, bytes, bytes]:
    """(resource key, ResourceLogs.resource field, the attributes every record of the shape carries)."""
    resource_key, resource, extra = shape
    iostream = key_values(b"\x32", (("log.iostream", stream),)) if isinstance(stream, str) else b""
    return resource_key, delimited(b"\x0a", key_values(b"\x0a", resource)), iostream + key_values(b"\x32", extra)


# LogRecord.severity_number = 2 and severity_text = 3 of each level.
_SEVERITY_FIELDS = {level: b"\x10" + VARINTS[number] + delimited(b"\x1a", level.upper().encode())
                    for level, number in OTLP_SEVERITY.items()}


_TIME = struct.Struct("<BQ")  # LogRecord.time_unix_nano = 1 (fixed64): its key 0x09, then the ns


def _body_head(length: int) -> bytes:
    """LogRecord.body = 5, an AnyValue holding only string_value = 1 of ``length`` bytes: the fields' keys and
    lengths, up to the text."""
    text_length = varint(length)
    return b"\x2a" + varint(1 + len(text_length) + length) + b"\x0a" + text_length


def _ns(stamp: bytes, seconds: dict[bytes, int]) -> int:
    """A record's time in ns from its timestamp's bytes; Docker's form adds its second to ``seconds`` (the
    batch's cache, read inline by ``export_request``)."""
    second = seconds.get(stamp[:20])
    fraction = stamp[20:29]
    if second is not None and len(stamp) == 30 and stamp[29] == 0x5A and fraction.isdigit():
        return second + int(fraction)
    whole = docker_second(stamp)
    if whole is None:
        return docker_ns(stamp)  # another form, or no such time ("now")
    seconds[stamp[:20]] = whole * 1_000_000_000
    return whole * 1_000_000_000 + int(fraction)


def export_request(batch: Batch, observed_ns: int) -> bytes:
    """The protobuf ExportLogsServiceRequest for ``batch``, not compressed, in one pass: a container's
    resource and shared attributes are encoded once per batch (``Shared.encoded``), and a plain record
    (``Reader.split``: nothing parsed) costs its time, its body and a few lengths. The same bytes as the
    message classes would give for ``group(batch)`` (the tests compare them)::

        ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; }
        ScopeLogs    { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; }
        LogRecord    { fixed64 time_unix_nano = 1; SeverityNumber severity_number = 2; string severity_text = 3;
                       AnyValue body = 5; repeated KeyValue attributes = 6; fixed64 observed_time_unix_nano = 11; }
    """
    reader = Reader()
    observed_pb = b"\x59" + observed_ns.to_bytes(8, "little") if observed_ns else b""
    records = batch.records
    plains = reader.body_or_split(records, lambda columns: _whole_batch(columns, observed_pb), runs=True)
    if isinstance(plains, bytes):
        return plains
    groups: dict[bytes, _Group] = {}
    with_partial: dict[tuple[bytes, bytes], tuple[bytes, bytes, bytes]] = {}
    seconds: dict[bytes, int] = {}  # b"2026-11-25T16:32:42." → its Unix seconds in ns
    body_heads: dict[int, bytes] = {}  # a body's length → its fields up to the text (_body_head)
    field_2 = FIELD_2
    last_shared: Shared | None = None
    group_of_last = _Group(b"")
    pieces = group_of_last.pieces
    shared_attributes = shared_tail = b""
    for record, plain in zip(records, plains, strict=True):
        head_pb = own_pb = b""
        pb: tuple[bytes, bytes, bytes] | None = None
        if plain is not None:
            shared, stamp, _, text, level = plain
            if level is not None:
                head_pb = _SEVERITY_FIELDS[level]
            second = seconds.get(stamp[:20])
            fraction = stamp[20:29]
            if second is not None and stamp[29] == 0x5A and fraction.isdigit():  # "Z"
                ns = second + int(fraction)
            else:
                ns = _ns(stamp, seconds)
        else:
            line = reader.read(record)
            shared = line.shared
            stamp = line.timestamp
            ns = _ns(stamp.encode(), seconds) if type(stamp) is str else record_time_ns(stamp)
            message = line.message
            text = (message if isinstance(message, str) else orjson.dumps(message).decode()).encode()
            if len(line.head) > 2:
                level = line.level
                if level:
                    head_pb = _SEVERITY_FIELDS[level]
                own = line_attributes(line)
                own_pb = key_values(b"\x32", own) if own else b""
                partial = line.head.get("partial")
                if partial is not None:  # logship.partial.* come first, as in the record
                    key = (shared.key, orjson.dumps(partial))
                    pb = with_partial.get(key)
                    if pb is None:
                        pb = with_partial[key] = _shared_pb(_shape({"partial": partial, **shared.fields}),
                                                            shared.fields.get("stream"))
        if pb is not None or shared is not last_shared:
            if pb is None:
                pb = shared.encoded
                if pb is None:
                    pb = shared.encoded = _shared_pb(_shape(shared.fields), shared.fields.get("stream"))
                last_shared = shared
            else:
                last_shared = None  # a partial line's attributes are its own: the next line looks again
            resource_key, resource_pb, shared_attributes = pb
            group = groups.get(resource_key)
            if group is None:
                group = groups[resource_key] = _Group(resource_pb)
            group_of_last, pieces = group, group.pieces
            shared_tail = shared_attributes + observed_pb  # a plain record's fields after its body
        tail = shared_attributes + own_pb + observed_pb if own_pb else shared_tail
        length = len(text)
        body_head = body_heads.get(length) or body_heads.setdefault(length, _body_head(length))
        size = (9 if ns else 0) + len(head_pb) + len(body_head) + length + len(tail)
        size_pb = field_2[size] if size < 16384 else b"\x12" + varint(size)  # ScopeLogs.log_records = 2
        pieces += (size_pb, _TIME.pack(9, ns) if ns else b"", head_pb, body_head, text, tail)
        group_of_last.size += len(size_pb) + size
    return _request(groups.values())


def _request(groups: Iterable[_Group]) -> bytes:
    """The ExportLogsServiceRequest of ``groups``' encoded log records, each group a ResourceLogs."""
    scope = delimited(b"\x0a", delimited(b"\x0a", SCOPE_NAME.encode()) + delimited(b"\x12", __version__.encode()))
    out: list[bytes] = []
    for group in groups:
        scope_logs_size = len(scope) + group.size
        scope_logs = b"\x12" + varint(scope_logs_size)
        out += (b"\x0a", varint(len(group.resource) + len(scope_logs) + scope_logs_size), group.resource,
                scope_logs, scope)
        out += group.pieces
    return b"".join(out)


def _whole_batch(columns: Columns, observed_pb: bytes) -> bytes | None:
    """``export_request`` of a batch of plain records (``Reader.columns``: one container's, or a host's in
    long runs), in passes over whole lists (``map`` and ``join`` in C) instead of a loop per record; None
    for a batch that needs the loop (a timestamp not Docker's, a line at the epoch or of 16 KiB). The same
    bytes as the loop: a ResourceLogs per resource in the order of their first records, each one's log
    records in batch order."""
    shareds, stamps, _, texts = columns
    if not columns.dockers_stamps():
        return None
    encoded = columns.encodings(lambda fields: _shared_pb(_shape(fields), fields.get("stream")))
    members_of: dict[bytes, list[Shared]] = {}  # resource key → its shared parts, in batch order
    for shared, pb in encoded.items():
        members_of.setdefault(pb[0], []).append(shared)
    second_keys = list(map(_SECOND, stamps))
    seconds: dict[bytes, int] = {}
    for second_key in dict.fromkeys(second_keys):  # each second of the batch once (few)
        _ns(second_key + b"000000000Z", seconds)
        if second_key not in seconds:  # no such second (not a date)
            return None
    times = list(map(add, map(seconds.__getitem__, second_keys), map(int, map(_FRACTION, stamps))))
    lengths = list(map(len, texts))
    if min(times) <= 0 or max(lengths) >= 16384:
        return None
    body_heads = {length: _body_head(length) for length in set(lengths)}
    tails = {shared: pb[2] + observed_pb for shared, pb in encoded.items()}
    records = list(map(b"".join, zip(map(_TIME.pack, repeat(9), times), map(body_heads.__getitem__, lengths),
                                     texts, map(tails.__getitem__, shareds), strict=True)))
    sizes = list(map(len, records))
    if max(sizes) >= 16384:
        return None
    keys = list(map(FIELD_2.__getitem__, sizes))  # ScopeLogs.log_records = 2
    runs = Runs(shareds, len(encoded)) if len(members_of) > 1 else None
    groups: list[_Group] = []
    for members in members_of.values():
        if runs is None:
            group_keys, group_records, group_sizes = keys, records, sizes
        else:
            pick = runs.picker(members)
            group_keys, group_records, group_sizes = pick(keys), pick(records), pick(sizes)
        group = _Group(encoded[members[0]][1])
        group.size = sum(group_sizes) + sum(map(len, group_keys))
        group.pieces = repeated(group_keys, group_records)  # ScopeLogs.log_records = 2
        groups.append(group)
    return _request(groups)


_SECOND = itemgetter(slice(0, 20))  # what export_request keys its seconds by
_FRACTION = itemgetter(slice(20, 29))


def encode(batch: Batch, config: OtlpSinkConfig, observed_ns: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The request body and its content headers for ``batch`` (see the module docstring)."""
    check(config)
    observed = time.time_ns() if observed_ns is None else observed_ns
    body = encode_json(group(batch), observed) if config.encoding == "json" else export_request(batch, observed)
    return _compressed(body, config)


def _compressed(body: bytes, config: OtlpSinkConfig) -> tuple[bytes, dict[str, str]]:
    headers = {"Content-Type": CONTENT_TYPES[config.encoding]}
    if config.compression == "gzip":
        body = gzip_compress(body)
        headers["Content-Encoding"] = "gzip"
    return body, headers


def check(config: OtlpSinkConfig) -> None:
    """Raise SinkError (not retriable) for an encoding or compression logship does not know."""
    if config.encoding not in ENCODINGS:
        raise SinkError(f"LOGSHIP_OTLP_ENCODING={config.encoding!r}: expected one of {', '.join(ENCODINGS)}",
                        retriable=False)
    if config.compression not in COMPRESSIONS:
        raise SinkError(f"LOGSHIP_OTLP_COMPRESSION={config.compression!r}: expected one of "
                        f"{', '.join(COMPRESSIONS)}", retriable=False)
