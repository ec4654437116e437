"""The ``otlp`` sink: OTLP/HTTP logs, POSTed to ``{LOGSHIP_OTLP_ENDPOINT}/v1/logs``.

Wire formats (``LOGSHIP_OTLP_ENCODING``), both an ``ExportLogsServiceRequest``:

- ``protobuf`` (default): built with the ``opentelemetry-proto`` classes, ``Content-Type:
  application/x-protobuf``;
- ``json``: OTLP/JSON, written directly with orjson because protobuf's ``MessageToDict`` gets it wrong
  (base64 ids, enum names): lowerCamelCase keys, 64-bit integers (``timeUnixNano``, ``intValue``) as
  decimal strings, enums as integers, ids in hex; ``Content-Type: application/json``.

The body is gzipped (level 1, ``Content-Encoding: gzip``) unless ``LOGSHIP_OTLP_COMPRESSION=none``;
``LOGSHIP_OTLP_HEADERS`` are sent with every request (``Authorization`` goes there).

One ``ResourceLogs`` per distinct resource (in practice per container), with one ``ScopeLogs`` (scope
``logship``, its version) holding the container's records in batch order. Resource attributes, by the
OpenTelemetry semantic conventions where they exist:

================================  =================================================================
record field                      resource attribute
================================  =================================================================
``service.name``/``.namespace``   ``service.name``, ``service.namespace``
``host.name``, ``host.id``        ``host.name``, ``host.id``
``container.id``, ``.name``       ``container.id`` (64 hex), ``container.name``
``container.image.name``          ``nginx:1.27@sha256:…`` → ``container.image.name`` ``nginx``,
                                  ``container.image.tags`` ``["1.27"]`` (only when tagged),
                                  ``container.image.repo_digests`` ``["nginx@sha256:…"]`` (only with a
                                  digest); an image given by id (``sha256:…``) → ``container.image.id``
(always)                          ``container.runtime`` and ``container.runtime.name`` = ``docker``
                                  (the older and the current semconv name)
``container.labels.<k>``          ``container.label.<k>``
``compose.<k>``                   ``docker.compose.<k>`` (``project``, ``service``)
``swarm.<path>``                  ``docker.swarm.<path>``, ``labels`` read as ``label``:
                                  ``docker.swarm.service.id``/``.name``/``.label.<k>``,
                                  ``docker.swarm.task.id``/``.name``/``.slot`` (int),
                                  ``docker.swarm.node.id`` (no semconv exists for Swarm)
================================  =================================================================

Each log record: ``timeUnixNano`` = the Docker timestamp in nanoseconds, ``observedTimeUnixNano`` = the
time of encoding, ``body`` = ``{stringValue: message}``, attribute ``log.iostream`` = ``stdout`` or
``stderr``; ``severityNumber``/``severityText`` from the parsed ``log.level`` (``record.OTLP_SEVERITY``,
the level in upper case), unset without one. Any other field of the record (``LOGSHIP_EXTRA_FIELDS``,
``partial``) becomes a log-record attribute under its dotted path (``partial`` as
``logship.partial.ordinal``/``.last``), then ``log.lines`` of a joined event and a parsed line's
``attributes`` under their own dotted paths. Values keep their JSON type: string, int (``intValue``),
double, bool, array.

Answers (``classify``), per the OTLP/HTTP specification:

- 2xx → delivered. With ``partialSuccess.rejectedLogRecords`` = N > 0 the collector dropped N records
  for good and the client must not retry them; OTLP does not say *which*. When N covers the whole
  batch, the batch is rejected (dead-lettered: every record was refused). Otherwise the batch counts as
  delivered and the sink logs one WARNING for the batch with N and the collector's ``errorMessage``:
  dead-lettering the whole batch would file records that were stored, and picking N of them would be a
  guess. ``partialSuccess`` with 0 rejected is a warning from the collector: delivered, logged when the
  message changes. A 2xx body that is neither valid protobuf nor JSON: delivered (the collector said
  so), logged once.
- 413 → rejected with ``split`` (the payload is not retried as it is: its halves are new payloads).
- 401/403 → retried (credentials are a configuration fault; the records stay in the buffer), as every
  logship sink does; the OTLP spec would call them final.
- a status in ``LOGSHIP_OTLP_RETRY_STATUS`` (default the spec's ``429,502,503,504``) → retried,
  honouring ``Retry-After``.
- any other status, 400 and 500 included → rejected (the spec says not to retry), with the
  ``google.rpc.Status`` message of the body.

Healthcheck: an empty ``ExportLogsServiceRequest`` (valid per the spec) POSTed like a batch; any 2xx is
healthy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from logship import __version__
from logship.config import OtlpSinkConfig
from logship.record import OTLP_SEVERITY, Line, Reader, dotted, flatten
from logship.ship.outcome import DELIVERED, Outcome, OutcomeKind, rejected
from logship.sinks.base import Batch, SinkError
from logship.sinks.gzip_body import gzip_compress
from logship.sinks.http import body_excerpt
from logship.sinks.protowire import LENGTH_DELIMITED, fields
from logship.sinks.transport import HttpTransport, classify_status, encode_off_loop, header, status_said
from logship.timestamps import record_time_ns

log = logging.getLogger(__name__)

LOGS_PATH = "/v1/logs"
ENCODINGS = ("protobuf", "json")
COMPRESSIONS = ("gzip", "none")
SCOPE_NAME = "logship"
CONTENT_TYPES = {"protobuf": "application/x-protobuf", "json": "application/json"}
# Outcome reasons of a DELIVERED answer that the sink logs (see ``OtlpSink.send``).
PARTIAL_SUCCESS = "partial_success"
WARNING = "warning"
UNREADABLE = "unreadable_answer"
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


# --- classify ---------------------------------------------------------------------------------


def _is_json(headers: Mapping[str, str], body: bytes) -> bool:
    content_type = (header(headers, "Content-Type") or "").lower()
    if "json" in content_type:
        return True
    if "protobuf" in content_type:
        return False
    return body.lstrip()[:1] == b"{"


def partial_success(headers: Mapping[str, str], body: bytes) -> tuple[int, str] | None:
    """(rejectedLogRecords, errorMessage) of a 2xx ExportLogsServiceResponse, (0, "") when it has no
    partialSuccess, None when the body is neither valid protobuf nor JSON."""
    if not body.strip():
        return 0, ""
    if _is_json(headers, body):
        try:
            document = orjson.loads(body)
            partial = document.get("partialSuccess") or document.get("partial_success") or {}
            count = partial.get("rejectedLogRecords", partial.get("rejected_log_records", 0))
            return int(count or 0), str(partial.get("errorMessage", partial.get("error_message", "")) or "")
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            return None
    try:
        response = ExportLogsServiceResponse.FromString(body)
    except DecodeError:
        return None
    return response.partial_success.rejected_log_records, response.partial_success.error_message


def status_message(headers: Mapping[str, str], body: bytes) -> str:
    """The message of an error body (``google.rpc.Status`` in protobuf or JSON), else its excerpt."""
    content_type = (header(headers, "Content-Type") or "").lower()
    try:
        if "protobuf" in content_type:
            for field, wire_type, value in fields(body):  # Status { int32 code = 1; string message = 2; … }
                if field == 2 and wire_type == LENGTH_DELIMITED and isinstance(value, bytes):
                    return body_excerpt(value)
        elif "json" in content_type or body.lstrip()[:1] == b"{":
            message = orjson.loads(body).get("message")
            if isinstance(message, str) and message:
                return body_excerpt(message.encode())
    except (ValueError, AttributeError):  # orjson.JSONDecodeError is a ValueError
        pass
    return body_excerpt(body)


def classify(status: int, headers: Mapping[str, str], body: bytes, retry_status: frozenset[int],
             *, records: int | None = None) -> Outcome:
    """The Outcome of one answer of an OTLP/HTTP receiver (rows in the module docstring); ``records``
    is the number of log records sent, to tell a partial success from a total one."""
    if 200 <= status < 300:
        partial = partial_success(headers, body)
        if partial is None:
            return Outcome(OutcomeKind.DELIVERED, reason=UNREADABLE,
                           detail=f"http {status} with a body that is not an ExportLogsServiceResponse: "
                                  f"{body_excerpt(body)}")
        count, message = partial
        if count > 0:
            if records is not None and count >= records:
                return rejected(f"otlp partial success: the collector rejected all {count} log records"
                                + (f": {message}" if message else ""))
            of = f" of {records}" if records is not None else ""
            return Outcome(OutcomeKind.DELIVERED, reason=PARTIAL_SUCCESS, dropped=count,
                           detail=f"the collector rejected {count}{of} log records (not retried, as OTLP requires; "
                                  f"it does not say which)" + (f": {message}" if message else ""))
        if message:
            return Outcome(OutcomeKind.DELIVERED, reason=WARNING, detail=message)
        return DELIVERED
    return classify_status(status, headers, status_said(status, status_message(headers, body)), retry_status)


# --- the sink ---------------------------------------------------------------------------------


def logs_url(endpoint: str) -> str:
    """``{endpoint}/v1/logs``, unless the endpoint already ends with it."""
    base = endpoint.rstrip("/")
    return base if base.endswith(LOGS_PATH) else base + LOGS_PATH


class OtlpSink:
    """Exports batches over OTLP/HTTP on one aiohttp session (at most ``concurrency`` connections)."""

    name = "otlp"

    def __init__(self, config: OtlpSinkConfig) -> None:
        check(config)
        self.config = config
        self.url = logs_url(config.endpoint)
        self._transport = HttpTransport(self.name, config.tls, config.timeout, config.concurrency,
                                        dict(config.headers))
        self._last_warning = ""
        self._unreadable_logged = False

    async def start(self) -> None:
        """Open the session (TLS files are loaded here)."""
        await self._transport.start()

    async def send(self, batch: Batch) -> Outcome:
        """Export ``batch`` and classify the answer; no answer at all becomes a RETRY."""
        if not batch.records:
            return DELIVERED
        body, headers = await encode_off_loop(encode, batch, self.config)
        answer = await self._transport.post(self.url, body, headers)
        if isinstance(answer, Outcome):
            return answer
        outcome = classify(answer.status, answer.headers, answer.body, self.config.retry_status,
                           records=len(batch.records))
        self._log(outcome)
        return outcome

    def _log(self, outcome: Outcome) -> None:
        """One line per batch with rejected records; collector warnings when they change; an unreadable
        answer once."""
        if outcome.kind is not OutcomeKind.DELIVERED:
            return
        if outcome.reason == PARTIAL_SUCCESS:
            log.warning("sink otlp: %s", outcome.detail)
        elif outcome.reason == WARNING and outcome.detail != self._last_warning:
            self._last_warning = outcome.detail
            log.warning("sink otlp: the collector accepted the batch with a warning: %s", outcome.detail)
        elif outcome.reason == UNREADABLE and not self._unreadable_logged:
            self._unreadable_logged = True
            log.warning("sink otlp: counted as delivered: %s (logged once)", outcome.detail)

    async def healthcheck(self) -> None:
        """POST an empty ExportLogsServiceRequest: a 2xx is healthy, anything else a SinkError."""
        body, headers = _compressed(b"{}" if self.config.encoding == "json" else b"", self.config)
        answer = await self._transport.post(self.url, body, headers)
        if isinstance(answer, Outcome):
            if answer.reason == "connect":
                raise SinkError(f"{self.url}: cannot connect: {answer.detail}")
            raise SinkError(f"{self.url}: {answer.detail}", retriable=answer.reason != "tls")
        if 200 <= answer.status < 300:
            return
        message = status_message(answer.headers, answer.body)
        said = f"HTTP {answer.status}" + (f": {message}" if message else "")
        if answer.status in (401, 403):
            raise SinkError(f"{self.url}: credentials refused ({said})", retriable=False)
        if answer.status >= 500:
            raise SinkError(f"{self.url}: the collector failed ({said})")
        hint = ""
        if answer.status == 404:
            hint = "; LOGSHIP_OTLP_ENDPOINT should be the OTLP/HTTP base URL, such as http://collector:4318"
        elif answer.status == 415:
            hint = "; try the other LOGSHIP_OTLP_ENCODING"
        raise SinkError(f"{self.url}: refused an empty export ({said}){hint}", retriable=False)

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._transport.aclose()
