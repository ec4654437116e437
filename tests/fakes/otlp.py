"""A fake OTLP/HTTP logs receiver (an OpenTelemetry Collector's ``otlphttp`` receiver), for the ``otlp``
sink's tests.

No collector binary is available here, so this speaks the OTLP/HTTP specification
(``open-telemetry/opentelemetry-proto`` ``docs/specification.md``; ``../shared/reference/stores.md`` §4):

- ``POST /v1/logs`` only (404 elsewhere), ``Content-Type`` ``application/x-protobuf`` or
  ``application/json`` (415 otherwise), ``Content-Encoding`` ``gzip`` or none (400 otherwise);
- protobuf bodies are decoded with ``opentelemetry-proto``'s ``ExportLogsServiceRequest``;
- JSON bodies are checked against OTLP/JSON's own rules before being decoded: every key lowerCamelCase
  (``resourceLogs``, ``timeUnixNano``; the snake_case proto names are invalid), enums
  (``severityNumber``) integers, 64-bit integers (``timeUnixNano``, ``observedTimeUnixNano``,
  ``intValue``) decimal strings or numbers, ``traceId``/``spanId`` hex; a violation is a 400 whose
  ``google.rpc.Status`` message names it;
- the answer has the request's content type: an ``ExportLogsServiceResponse`` (with ``partialSuccess``
  when scripted), or a ``google.rpc.Status`` for errors;
- an empty request (no resource logs) is valid and answered 200 (the sink's healthcheck).

Scripting: ``fail(status, times, headers, message)`` (429/503 with ``Retry-After``, 400, 500…),
``partial(rejected, message, times)`` (200 with ``partialSuccess``: the first ``rejected`` log records of
the request are *not* stored), ``require_headers`` (401 without them).

Kept: ``requests`` (every decoded ``ExportLogsServiceRequest`` that was answered 2xx), ``json_documents``
(the raw OTLP/JSON documents received), ``exports`` (``Export``: headers, content type, status), and
``records()`` flattens what was stored into ``Received`` (resource attributes, scope, record).
"""

from __future__ import annotations

import base64
import gzip
import re
import ssl
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from tests.fakes.base import FakeServer

LOGS_PATH = "/v1/logs"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
_INT64_KEYS = {"timeUnixNano", "observedTimeUnixNano", "intValue", "startTimeUnixNano"}
_ENUM_KEYS = {"severityNumber"}
_HEX_ID_KEYS = {"traceId": 32, "spanId": 16}
# google.rpc.Code of an HTTP status (for the Status body of an error)
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 413: 8, 429: 8, 500: 13, 502: 14, 503: 14, 504: 4}


def any_value(value: Any) -> Any:
    """An ``AnyValue`` message as a Python value."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {pair.key: any_value(pair.value) for pair in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: any_value(pair.value) for pair in pairs}


def status_body(code: int, message: str, content_type: str) -> bytes:
    """A ``google.rpc.Status`` {code = 1; message = 2} in the given content type."""
    if content_type == JSON:
        return orjson.dumps({"code": code, "message": message})
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def json_violations(node: Any, path: str = "$") -> list[str]:
    """Where an OTLP/JSON document breaks OTLP/JSON's rules (see the module docstring)."""
    problems = []
    if isinstance(node, list):
        for index, item in enumerate(node):
            problems += json_violations(item, f"{path}[{index}]")
    elif isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}"
            if not _CAMEL.match(key):
                problems.append(f"{where}: keys must be lowerCamelCase")
            is_int64 = (isinstance(value, str) and value.lstrip("-").isdigit()) or (
                isinstance(value, int) and not isinstance(value, bool))
            if key in _INT64_KEYS and not is_int64:
                problems.append(f"{where}: a 64-bit integer must be a decimal string or a number")
            if key in _ENUM_KEYS and (not isinstance(value, int) or isinstance(value, bool)):
                problems.append(f"{where}: enums must be integers")
            if key in _HEX_ID_KEYS and value != "" and not (
                    isinstance(value, str) and re.fullmatch(f"[0-9a-f]{{{_HEX_ID_KEYS[key]}}}", value)):
                problems.append(f"{where}: ids must be hex")
            problems += json_violations(value, where)
    return problems


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON ids are hex; protobuf's JSON parser wants base64."""
    if isinstance(node, list):
        return [_hex_ids_to_base64(item) for item in node]
    if isinstance(node, dict):
        return {key: base64.b64encode(bytes.fromhex(value)).decode() if key in _HEX_ID_KEYS and value
                else _hex_ids_to_base64(value) for key, value in node.items()}
    return node


@dataclass(frozen=True)
class Export:
    """One POST as the fake saw it."""

    headers: dict[str, str]
    content_type: str
    status: int
    log_records: int  # in the request (0 when it could not be decoded)


@dataclass(frozen=True)
class Received:
    """One stored log record with its resource and scope."""

    resource: dict[str, Any]
    scope_name: str
    scope_version: str
    time_unix_nano: int
    observed_time_unix_nano: int
    body: Any
    attributes: dict[str, Any]
    severity_number: int
    severity_text: str


@dataclass(frozen=True)
class _Scripted:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""
    rejected: int = 0  # for a 200: partialSuccess.rejectedLogRecords


class FakeCollector(FakeServer[_Scripted]):
    """See the module docstring. Use as ``async with FakeCollector() as collector``; ``collector.url`` is
    the base URL (what LOGSHIP_OTLP_ENDPOINT should be)."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 require_headers: dict[str, str] | None = None) -> None:
        super().__init__(host, port, ssl_context)
        self.require_headers = require_headers or {}
        self.requests: list[Any] = []
        self.json_documents: list[Any] = []
        self.exports: list[Export] = []

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None, message: str = "") -> None:
        """Answer the next ``times`` exports with ``status`` (and a Status body with ``message``)."""
        self.script(_Scripted(status, headers or {}, message or f"scripted {status}"), times)

    def partial(self, rejected: int, message: str = "", times: int = 1) -> None:
        """Answer the next ``times`` exports 200 with ``partialSuccess``; the first ``rejected`` records
        of each are dropped."""
        self.script(_Scripted(200, {}, message, rejected), times)

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._handle)

    def records(self) -> list[Received]:
        """Every stored log record, in arrival order."""
        out = []
        for request in self.requests:
            for resource_logs in request.resource_logs:
                resource = attributes(resource_logs.resource.attributes)
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        out.append(Received(resource, scope_logs.scope.name, scope_logs.scope.version,
                                            record.time_unix_nano, record.observed_time_unix_nano,
                                            any_value(record.body), attributes(record.attributes),
                                            record.severity_number, record.severity_text))
        return out

    # --- HTTP ---------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        answer_type = content_type if content_type in (PROTOBUF, JSON) else JSON
        if request.path != LOGS_PATH or request.method != "POST":
            return self._error(404, "404 page not found", answer_type)
        body = await request.read()
        status, headers, payload, count = self._export(request, content_type, answer_type, body)
        self.exports.append(Export(dict(request.headers), content_type, status, count))
        return web.Response(status=status, headers={**headers, "Content-Type": answer_type}, body=payload)

    def _error(self, status: int, message: str, content_type: str,
               headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(status=status, headers={**(headers or {}), "Content-Type": content_type},
                            body=status_body(_GRPC_CODES.get(status, 2), message, content_type))

    def _export(self, request: web.Request, content_type: str, answer_type: str,
                body: bytes) -> tuple[int, dict[str, str], bytes, int]:
        def error(status: int, message: str, headers: dict[str, str] | None = None,
                  count: int = 0) -> tuple[int, dict[str, str], bytes, int]:
            return status, headers or {}, status_body(_GRPC_CODES.get(status, 2), message, answer_type), count

        missing = [name for name, value in self.require_headers.items() if request.headers.get(name) != value]
        if missing:
            return error(401, f"missing or wrong header {missing[0]}")
        if content_type not in (PROTOBUF, JSON):
            return error(415, f"415 unsupported media type, supported: [{JSON}, {PROTOBUF}]")
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as exc:
                return error(400, f"gzip: invalid body: {exc}")
        elif encoding not in ("", "identity"):
            return error(400, f"unsupported Content-Encoding {encoding!r}")
        try:
            export = self._decode(content_type, body)
        except ValueError as exc:
            return error(400, str(exc))
        count = sum(len(scope.log_records) for resource in export.resource_logs for scope in resource.scope_logs)
        scripted = self.next_scripted()
        if scripted is not None:
            if scripted.status != 200:
                return error(scripted.status, scripted.message, scripted.headers, count)
            return self._accept(export, count, answer_type, scripted.rejected, scripted.message)
        return self._accept(export, count, answer_type, 0, "")

    def _decode(self, content_type: str, body: bytes) -> Any:
        if content_type == PROTOBUF:
            try:
                return ExportLogsServiceRequest.FromString(body)
            except DecodeError as exc:
                raise ValueError(f"proto: cannot decode ExportLogsServiceRequest: {exc}") from exc
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise ValueError("an ExportLogsServiceRequest must be a JSON object")
        problems = json_violations(document)
        if problems:
            raise ValueError("; ".join(problems[:5]))
        self.json_documents.append(document)
        try:
            return json_format.ParseDict(_hex_ids_to_base64(document), ExportLogsServiceRequest(),
                                         ignore_unknown_fields=True)
        except json_format.ParseError as exc:
            raise ValueError(f"cannot decode ExportLogsServiceRequest: {exc}") from exc

    def _accept(self, export: Any, count: int, answer_type: str, rejected: int,
                message: str) -> tuple[int, dict[str, str], bytes, int]:
        stored = ExportLogsServiceRequest()
        stored.CopyFrom(export)
        to_drop = rejected
        for resource in stored.resource_logs:
            for scope in resource.scope_logs:
                while to_drop and len(scope.log_records):
                    del scope.log_records[0]
                    to_drop -= 1
        self.requests.append(stored)
        response = ExportLogsServiceResponse()
        if rejected or message:
            response.partial_success.rejected_log_records = rejected
            response.partial_success.error_message = message
        if answer_type == JSON:
            document: dict[str, Any] = {}
            if rejected or message:
                document["partialSuccess"] = {"rejectedLogRecords": str(rejected), "errorMessage": message}
            return 200, {}, orjson.dumps(document), count
        return 200, {}, response.SerializeToString(), count
