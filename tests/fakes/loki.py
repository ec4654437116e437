"""A fake Grafana Loki that checks pushes the way Loki's distributor does, for the ``loki`` sink's tests.

Loki cannot run here (no package in apt, PyPI or npm), so this speaks its documented contract
(``../shared/reference/stores.md`` §1; ``pkg/loghttp/push``, ``pkg/distributor``, ``pkg/validation``):

- ``POST /loki/api/v1/push``:
  - ``Content-Type: application/json`` → a JSON body (``Content-Encoding`` gzip, deflate or none):
    ``{"streams":[{"stream":{…},"values":[["<ns string>","<line>",{metadata}?]]}]}``, every label and
    metadata value a string, the timestamp a string of digits;
  - any other type (``application/x-protobuf``) → raw (block) snappy of a ``logproto.PushRequest``,
    decoded with the real protobuf runtime from a descriptor built here after ``pkg/push/push.proto``
    (an independent check of the sink's hand encoder); snappy's *framed* format is refused like Loki
    does (``snappy: corrupt input``);
  - the ``labels`` string is parsed as a Prometheus label set ``{a="b", c="d"}`` with Go string-literal
    escapes; names must match ``[a-zA-Z_][a-zA-Z0-9_]*``, be unique, and there must be one at least;
  - entries must be sorted by time within a stream (Loki with ``unordered_writes: false`` refuses the
    others as out of order; logship promises sorted streams);
  - validation is per entry, as in Loki: the valid entries are stored and the invalid ones reported
    together in a **400**, Loki's own messages joined by newlines (line too long, structured metadata
    not allowed, labels invalid or missing). A body that cannot be read at all is a 400 too;
  - success is **204 No Content**.
- ``GET /ready``: ``200 ready``, or ``503 Ingester not ready: …`` while ``ready`` is False.
- anything else: ``404 page not found``.

Scripting: ``fail(status, times, headers, body)`` answers the next pushes so (429 with Retry-After,
500, 503…); ``require_tenant`` answers a push without ``X-Scope-OrgID`` with 401 ``no org id``, as a
multi-tenant Loki does; ``require_authorization`` answers every request without that exact
``Authorization`` header with 401, as a gateway does; ``max_line_size`` (Loki's default 256KB),
``allow_structured_metadata``, ``max_body`` (413, as a gateway does).

What was stored is in ``entries`` (``StoredEntry``: labels, tenant, ns, line, metadata) and every push
in ``pushes`` (``Push``: headers, encoding, status, answer body).
"""

from __future__ import annotations

import gzip
import re
import ssl
import zlib
from dataclasses import dataclass, field
from typing import Any

import cramjam
import orjson
from aiohttp import web
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.message import DecodeError

from tests.fakes.base import FakeServer

PUSH_PATH = "/loki/api/v1/push"
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
DEFAULT_MAX_LINE_SIZE = 256_000  # max_line_size 256KB

# Loki's messages (pkg/validation/validate.go), used verbatim.
MISSING_LABELS = "error at least one label pair is required per stream"
INVALID_LABELS = "Error parsing labels '{labels}' with error: {error}"
LINE_TOO_LONG = "Max entry size '{limit}' bytes exceeded for stream '{stream}' while adding an entry with length " \
                "'{length}' bytes"
DUPLICATE_LABEL = "stream '{stream}' has duplicate label name: '{name}'"
DISALLOWED_METADATA = "stream '{stream}' includes structured metadata, but this feature is disallowed. Please see " \
                      "`limits_config.allow_structured_metadata` or contact your Loki administrator to enable it."
OUT_OF_ORDER = "entry with timestamp {ts} ignored, reason: 'entry out of order' for stream: {stream}"
RATE_LIMITED = "Ingestion rate limit exceeded for user {tenant} (limit: 4194304 bytes/sec) while attempting to " \
               "ingest '{lines}' lines totaling '{bytes}' bytes, reduce log volume or contact your Loki " \
               "administrator to see if the limit can be increased"
NOT_READY = "Ingester not ready: waiting for 15s after being ready"


def push_request_class() -> Any:
    """``logproto.PushRequest`` built at run time after ``pkg/push/push.proto`` (no protoc needed)."""
    pool = descriptor_pool.DescriptorPool()
    timestamp_file = descriptor_pb2.FileDescriptorProto()
    timestamp_pb2.DESCRIPTOR.CopyToProto(timestamp_file)
    pool.Add(timestamp_file)
    fdp = descriptor_pb2.FieldDescriptorProto
    push = descriptor_pb2.FileDescriptorProto(name="pkg/push/push.proto", package="logproto", syntax="proto3",
                                              dependency=["google/protobuf/timestamp.proto"])

    def message(name: str, *fields: tuple[str, int, int, bool, str]) -> None:
        descriptor = push.message_type.add(name=name)
        for field_name, number, kind, repeated, type_name in fields:
            added = descriptor.field.add(name=field_name, number=number, type=kind,
                                         label=fdp.LABEL_REPEATED if repeated else fdp.LABEL_OPTIONAL)
            if type_name:
                added.type_name = type_name

    message("PushRequest", ("streams", 1, fdp.TYPE_MESSAGE, True, ".logproto.StreamAdapter"),
            ("format", 2, fdp.TYPE_STRING, False, ""))
    message("StreamAdapter", ("labels", 1, fdp.TYPE_STRING, False, ""),
            ("entries", 2, fdp.TYPE_MESSAGE, True, ".logproto.EntryAdapter"),
            ("hash", 3, fdp.TYPE_UINT64, False, ""))
    message("LabelPairAdapter", ("name", 1, fdp.TYPE_STRING, False, ""), ("value", 2, fdp.TYPE_STRING, False, ""))
    message("EntryAdapter", ("timestamp", 1, fdp.TYPE_MESSAGE, False, ".google.protobuf.Timestamp"),
            ("line", 2, fdp.TYPE_STRING, False, ""),
            ("structuredMetadata", 3, fdp.TYPE_MESSAGE, True, ".logproto.LabelPairAdapter"),
            ("parsed", 4, fdp.TYPE_MESSAGE, True, ".logproto.LabelPairAdapter"))
    pool.Add(push)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))


PushRequest = push_request_class()


# --- the label-set syntax ------------------------------------------------------------------------

_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
                   '"': '"'}


def _unquote(text: str, start: int) -> tuple[str, int]:
    """The Go double-quoted string literal starting at ``text[start] == '"'``: (value, end position)."""
    out = []
    position = start + 1
    while True:
        if position >= len(text):
            raise ValueError("literal not terminated")
        char = text[position]
        if char == '"':
            return "".join(out), position + 1
        if char == "\n":
            raise ValueError("newline in string")
        if char != "\\":
            out.append(char)
            position += 1
            continue
        escape = text[position + 1: position + 2]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            position += 2
        elif escape in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[escape]
            digits = text[position + 2: position + 2 + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"invalid escape \\{escape}{digits}")
            out.append(chr(int(digits, 16)))
            position += 2 + width
        elif escape.isdigit():
            digits = text[position + 1: position + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits):
                raise ValueError("invalid octal escape")
            out.append(chr(int(digits, 8)))
            position += 4
        else:
            raise ValueError(f"unknown escape sequence \\{escape}")


def parse_label_set(text: str) -> list[tuple[str, str]]:
    """The (name, value) pairs of ``{a="b", c="d"}``, in order. Raises ValueError for bad syntax."""
    position = 0

    def skip_spaces() -> None:
        nonlocal position
        while position < len(text) and text[position] in " \t":
            position += 1

    skip_spaces()
    if text[position: position + 1] != "{":
        raise ValueError("1:1: parse error: unexpected input, expected {")
    position += 1
    pairs: list[tuple[str, str]] = []
    skip_spaces()
    if text[position: position + 1] == "}":
        position += 1
    else:
        while True:
            skip_spaces()
            match = LABEL_NAME.match(text, position)
            if match is None:
                raise ValueError(f"parse error at {position}: expected a label name")
            name = match.group()
            position = match.end()
            skip_spaces()
            if text[position: position + 1] != "=":
                raise ValueError(f"parse error at {position}: expected =")
            position += 1
            skip_spaces()
            if text[position: position + 1] != '"':
                raise ValueError(f"parse error at {position}: expected a quoted value")
            value, position = _unquote(text, position)
            pairs.append((name, value))
            skip_spaces()
            separator = text[position: position + 1]
            position += 1
            if separator == "}":
                break
            if separator != ",":
                raise ValueError(f"parse error at {position - 1}: expected , or }}")
    skip_spaces()
    if position != len(text):
        raise ValueError(f"parse error at {position}: unexpected input after }}")
    return pairs


# --- what the fake keeps -------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEntry:
    """One entry Loki stored."""

    labels: dict[str, str]
    labels_text: str  # the stream's label set as sent (protobuf) or rendered from the JSON object
    tenant: str | None
    ns: int
    line: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class Push:
    """One push as the fake saw it."""

    headers: dict[str, str]
    encoding: str  # "protobuf", "json" or "" (not decoded)
    status: int
    body: str  # the answer's body


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass
class _Stream:
    labels_text: str
    entries: list[tuple[int, str, dict[str, str]]]


class BadRequest(Exception):
    """The body cannot be read at all: Loki answers 400 with this text."""


class FakeLoki(FakeServer[_Answer]):
    """See the module docstring. Use as ``async with FakeLoki() as loki``; ``loki.url`` is its base URL (what
    LOGSHIP_LOKI_URL should be)."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 require_tenant: bool = False, require_authorization: str | None = None,
                 max_line_size: int = DEFAULT_MAX_LINE_SIZE, allow_structured_metadata: bool = True,
                 max_body: int | None = None) -> None:
        super().__init__(host, port, ssl_context)
        self.require_tenant = require_tenant
        self.require_authorization = require_authorization
        self.max_line_size = max_line_size
        self.allow_structured_metadata = allow_structured_metadata
        self.max_body = max_body
        self.ready = True
        self.entries: list[StoredEntry] = []
        self.pushes: list[Push] = []
        self.probes = 0

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None, body: str = "") -> None:
        """Answer the next ``times`` pushes (after those already scripted) with ``status``."""
        self.script(_Answer(status, headers or {}, body), times)

    def rate_limit(self, retry_after: str | None = "2", times: int = 1) -> None:
        """The next pushes get 429 with Loki's rate-limit message (and Retry-After when given)."""
        self.fail(429, times, {"Retry-After": retry_after} if retry_after else None,
                  RATE_LIMITED.format(tenant="fake", lines=1, bytes=100))

    def streams(self) -> dict[str, list[StoredEntry]]:
        """The stored entries by label set (canonical: sorted names), each list in arrival order."""
        grouped: dict[str, list[StoredEntry]] = {}
        for entry in self.entries:
            key = "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(entry.labels.items())) + "}"
            grouped.setdefault(key, []).append(entry)
        return grouped

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._handle)

    # --- HTTP --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if self.unauthorized(request):
            return web.Response(status=401, text="401 Unauthorized\n")
        if request.path == "/ready" and request.method in ("GET", "HEAD"):
            self.probes += 1
            return web.Response(status=200, text="ready\n") if self.ready else \
                web.Response(status=503, text=NOT_READY + "\n")
        if request.path == PUSH_PATH and request.method == "POST":
            body = await request.read()
            answer, encoding = self._push(request, body)
            self.pushes.append(Push(dict(request.headers), encoding, answer.status, answer.body))
            if answer.status == 204:
                return web.Response(status=204, headers=answer.headers)
            return web.Response(status=answer.status, headers=answer.headers, text=answer.body)
        return web.Response(status=404, text="404 page not found\n")

    def _push(self, request: web.Request, body: bytes) -> tuple[_Answer, str]:
        if self.max_body is not None and len(body) > self.max_body:
            return _Answer(413, body="<html><head><title>413 Request Entity Too Large</title></head></html>"), ""
        tenant = request.headers.get("X-Scope-OrgID")
        if self.require_tenant and not tenant:
            return _Answer(401, body="no org id\n"), ""
        scripted = self.next_scripted()
        if scripted is not None:
            return scripted, ""
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        encoding = "json" if content_type == "application/json" else "protobuf"
        try:
            streams = self._decode_json(request, body) if encoding == "json" else self._decode_protobuf(body)
        except BadRequest as exc:
            return _Answer(400, body=f"{exc}\n"), encoding
        errors = [error for stream in streams for error in self._store(stream, tenant)]
        if errors:
            return _Answer(400, body="\n".join(errors) + "\n"), encoding
        return _Answer(204), encoding

    # --- decoding -------------------------------------------------------------------------------

    @staticmethod
    def _decompress(request: web.Request, body: bytes) -> bytes:
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        try:
            if encoding in ("", "snappy"):
                return body
            if encoding == "gzip":
                return gzip.decompress(body)
            if encoding == "deflate":
                return zlib.decompress(body)
        except (OSError, zlib.error, EOFError) as exc:
            raise BadRequest(f"{encoding}: invalid header ({exc})") from exc
        raise BadRequest(f"Content-Encoding {encoding!r} not supported".replace("'", '"'))

    def _decode_json(self, request: web.Request, body: bytes) -> list[_Stream]:
        text = self._decompress(request, body)
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"loghttp.PushRequest: ReadObjectCB: {exc}") from exc
        streams_field = document.get("streams") if isinstance(document, dict) else None
        if not isinstance(streams_field, list):
            raise BadRequest("loghttp.PushRequest.Streams: expected an array")
        streams = []
        for stream in streams_field:
            labels = stream.get("stream") if isinstance(stream, dict) else None
            values = stream.get("values") if isinstance(stream, dict) else None
            if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
                raise BadRequest("loghttp.Stream.Stream: label values must be strings")
            if not isinstance(values, list):
                raise BadRequest("loghttp.Stream.Values: expected an array")
            entries = []
            for value in values:
                if not isinstance(value, list) or len(value) not in (2, 3):
                    raise BadRequest("loghttp.Entry: expected [timestamp, line] or [timestamp, line, metadata]")
                ts, line = value[0], value[1]
                if not isinstance(ts, str) or not ts.isdigit():
                    raise BadRequest(f"loghttp.Entry: timestamp must be a string of Unix nanoseconds, got {ts!r}")
                if not isinstance(line, str):
                    raise BadRequest("loghttp.Entry: line must be a string")
                metadata = value[2] if len(value) == 3 else {}
                if not isinstance(metadata, dict) or not all(
                        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
                    raise BadRequest("loghttp.Entry: structured metadata must be an object of strings")
                entries.append((int(ts), line, metadata))
            rendered = "{" + ", ".join(f"{k}={orjson.dumps(v).decode()}" for k, v in labels.items()) + "}"
            streams.append(_Stream(rendered, entries))
        return streams

    def _decode_protobuf(self, body: bytes) -> list[_Stream]:
        if body.startswith(b"\xff\x06\x00\x00sNaPpY"):
            raise BadRequest("snappy: corrupt input")  # the framed format: Loki reads raw blocks only
        try:
            raw = bytes(cramjam.snappy.decompress_raw(body))
        except Exception as exc:  # cramjam raises its own DecompressionError
            raise BadRequest("snappy: corrupt input") from exc
        try:
            request = PushRequest.FromString(raw)
        except DecodeError as exc:
            raise BadRequest(f"proto: {exc}") from exc
        streams = []
        for stream in request.streams:
            entries = []
            for entry in stream.entries:
                ns = entry.timestamp.seconds * 1_000_000_000 + entry.timestamp.nanos
                entries.append((ns, entry.line, {pair.name: pair.value for pair in entry.structuredMetadata}))
            streams.append(_Stream(stream.labels, entries))
        return streams

    # --- validation -----------------------------------------------------------------------------

    def _store(self, stream: _Stream, tenant: str | None) -> list[str]:
        """Store the valid entries of ``stream``; Loki's message for each invalid one (or the stream)."""
        try:
            pairs = parse_label_set(stream.labels_text)
        except ValueError as exc:
            return [INVALID_LABELS.format(labels=stream.labels_text, error=exc)]
        if not pairs:
            return [MISSING_LABELS]
        labels: dict[str, str] = {}
        for name, value in pairs:
            if name in labels:
                return [DUPLICATE_LABEL.format(stream=stream.labels_text, name=name)]
            labels[name] = value
        errors = []
        newest = None
        for ns, line, metadata in stream.entries:
            if newest is not None and ns < newest:
                errors.append(OUT_OF_ORDER.format(ts=ns, stream=stream.labels_text))
                continue
            if len(line.encode()) > self.max_line_size:
                errors.append(LINE_TOO_LONG.format(limit=self.max_line_size, stream=stream.labels_text,
                                                   length=len(line.encode())))
                continue
            if metadata and not self.allow_structured_metadata:
                errors.append(DISALLOWED_METADATA.format(stream=stream.labels_text))
                continue
            bad = [name for name in metadata if not LABEL_NAME.fullmatch(name)]
            if bad:
                errors.append(INVALID_LABELS.format(labels=bad[0], error="invalid structured metadata name"))
                continue
            newest = ns
            self.entries.append(StoredEntry(labels, stream.labels_text, tenant, ns, line, metadata))
        return errors
