"""The ``otlp`` sink, the encode step: pure functions that turn records into the request body.

The wire format and the answers are described in ``logship.sinks.otlp``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)

from logship import __version__
from logship.config import OtlpSinkConfig
from logship.record import OTLP_SEVERITY, Line, Reader, dotted, flatten
from logship.sinks.base import Batch, SinkError
from logship.sinks.gzip_body import gzip_compress
from logship.timestamps import record_time_ns

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


def _set_value(any_value: Any, value: Value) -> None:
    """Fill an ``AnyValue`` message."""
    if isinstance(value, str):
        any_value.string_value = value
    elif isinstance(value, bool):
        any_value.bool_value = value
    elif isinstance(value, int):
        any_value.int_value = value
    elif isinstance(value, float):
        any_value.double_value = value
    elif isinstance(value, list):
        array = any_value.array_value
        for item in value:
            if item is not None:
                _set_value(array.values.add(), item if isinstance(item, str | bool | int | float | list)
                           else orjson.dumps(item).decode())
    else:
        any_value.string_value = orjson.dumps(value, default=str).decode()


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


def encode_protobuf(groups: list[_Resource], observed_ns: int) -> bytes:
    """The ExportLogsServiceRequest for ``groups`` in protobuf, not compressed."""
    request = ExportLogsServiceRequest()
    for resource in groups:
        resource_logs = request.resource_logs.add()
        for key, value in resource.attributes:
            _set_value(resource_logs.resource.attributes.add(key=key).value, value)
        scope_logs = resource_logs.scope_logs.add()
        scope_logs.scope.name = SCOPE_NAME
        scope_logs.scope.version = __version__
        log_records = scope_logs.log_records
        for ns, message, stream, extra, own, severity in resource.records:
            record = log_records.add(time_unix_nano=ns, observed_time_unix_nano=observed_ns)
            if severity is not None:
                record.severity_number, record.severity_text = severity
            record.body.string_value = message
            if stream is not None:
                record.attributes.add(key="log.iostream").value.string_value = stream
            for key, value in (*extra, *own) if own else extra:
                _set_value(record.attributes.add(key=key).value, value)
    return request.SerializeToString()


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


def encode(batch: Batch, config: OtlpSinkConfig, observed_ns: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The request body and its content headers for ``batch`` (see the module docstring)."""
    check(config)
    groups = group(batch)
    observed = time.time_ns() if observed_ns is None else observed_ns
    body = encode_json(groups, observed) if config.encoding == "json" else encode_protobuf(groups, observed)
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
