"""The ``loki`` sink: batches POSTed to Grafana Loki's push API, ``{LOGSHIP_LOKI_URL}/loki/api/v1/push``.

Wire formats (``LOGSHIP_LOKI_ENCODING``):

- ``protobuf`` (default, what Promtail and Alloy send): ``logproto.PushRequest`` from Loki's
  ``pkg/push/push.proto``, written by hand (``logship.sinks.protowire``)::

      PushRequest      { repeated StreamAdapter streams = 1; }
      StreamAdapter    { string labels = 1; repeated EntryAdapter entries = 2; }
      EntryAdapter     { google.protobuf.Timestamp timestamp = 1; string line = 2;
                         repeated LabelPairAdapter structuredMetadata = 3; }
      LabelPairAdapter { string name = 1; string value = 2; }

  compressed with *raw (block)* snappy (``cramjam.snappy.compress_raw``; the framed format, which
  starts ``\\xff\\x06\\x00\\x00sNaPpY``, is unreadable to Loki), ``Content-Type: application/x-protobuf``,
  no ``Content-Encoding`` (snappy is implied).
- ``json``: ``{"streams":[{"stream":{labels},"values":[["<unix ns>","<line>",{structured metadata}]]}]}``
  (the timestamp a *string* of nanoseconds; the third element only when there is metadata), gzip
  (level 1), ``Content-Type: application/json``, ``Content-Encoding: gzip``.

What goes where, for each record:

- **labels** (the stream): the ``LOGSHIP_LOKI_LABELS`` pairs (label name, record field path); a field
  that is missing, empty or not a scalar leaves its label out. Names are sanitised to Loki's rule
  ``[a-zA-Z_][a-zA-Z0-9_]*`` (other characters become ``_``; a leading digit gets a ``_`` prefix; the
  reserved ``__`` prefix is cut to ``_``). A record left with no label at all gets
  ``service_name="unknown_service"`` (Loki refuses a stream without labels; it is Loki's own name for
  an unknown service). The label set is written in Prometheus syntax, sorted by name:
  ``{host="node-3", service_name="web"}``, values escaped as Go string literals (``\\\\``, ``\\"``,
  ``\\n``, ``\\r``, ``\\t``, other control characters as ``\\xNN``).
- **line**: the record's ``message``.
- **timestamp**: the record's ``timestamp`` (Docker's, nanoseconds kept).
- **structured metadata** (``LOGSHIP_LOKI_STRUCTURED_METADATA=true``, Loki 3): every other field,
  flattened: the dotted path joined with ``_`` and sanitised like a label name, a ``labels`` object
  read as ``label`` (``container.labels.team`` → ``container_label_team``,
  ``swarm.service.labels.tier`` → ``swarm_service_label_tier``); values as strings (numbers and
  booleans in their JSON form, empty strings and nulls left out). Fields used as labels are not
  repeated here. A parsed line (RECORD.md) adds its own, before the container's: ``detected_level``
  (``log.level``: the name Loki 3 gives the level it detects and Grafana reads), ``log_lines`` and each
  attribute under its path joined with ``_`` (a name the container's metadata or a label has is left
  to it). A label may read a per-line field (``level=log.level`` in LOGSHIP_LOKI_LABELS); none does by
  default. With ``false`` the line is instead a JSON object ``{"message": …, <the other fields,
  nested as in the record>}``, for Loki 2 or ``allow_structured_metadata: false``.

Entries are grouped by label set (one ``StreamAdapter`` per stream, streams sorted by label set) and
sorted by timestamp within a stream (stable: lines with the same timestamp keep their order).

**Long lines** (Loki refuses a line over ``max_line_size``, 256KB by default, with a 400 for that
entry): a line longer than ``LOGSHIP_LOKI_MAX_LINE_BYTES`` is *split* into parts of at most that many
bytes (cut at UTF-8 character boundaries; in the JSON-line form each part is a complete JSON object
holding a piece of the message), never truncated: nothing is lost. Each part carries ``line_part`` =
``"<n>/<count>"`` (structured metadata, or a key of the JSON line), and part *n* is stamped
``timestamp + (n - 1)`` nanoseconds, so that the parts sort in order and two identical parts are not
taken by Loki for a duplicate (Loki drops an entry whose timestamp and line equal the previous one's).

Headers: ``X-Scope-OrgID`` when ``LOGSHIP_LOKI_TENANT_ID`` is set; ``Authorization`` Basic or Bearer.

Answers (``classify``), from Loki's distributor and Promtail's client:

- 2xx (204 normally) → delivered; but a 2xx whose body says ``ingestion blocked`` (Loki's
  ``block_ingestion_until``, status 260 by default) stored nothing → rejected, dead-lettered.
- 400 → rejected, not retried: Loki validates entry by entry and *stores the valid ones* before
  answering 400 with the joined messages, so a retry would duplicate them (or loop forever on the
  invalid ones). The reason says so and carries Loki's message.
- 413 (a gateway's body limit) → rejected with ``split``.
- 401/403 → retried (credentials or a missing tenant are a configuration fault; the records stay in
  the buffer), with a hint for Loki's ``no org id``.
- 429 and every 5xx → retried (as Promtail and Alloy do), honouring ``Retry-After``; a status listed in
  ``LOGSHIP_LOKI_RETRY_STATUS`` (408 by default) is retried too.
- anything else → rejected.

Healthcheck: ``GET {url}/ready``: 200 is ready; otherwise a ``SinkError`` with Loki's text (``Ingester
not ready: …`` comes with 503 while Loki starts).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import cramjam
import orjson

from logship.config import LokiSinkConfig
from logship.record import PER_LINE_KEYS, Line, Reader, dotted, flatten, split_utf8
from logship.ship.outcome import DELIVERED, Outcome, rejected
from logship.sinks.base import Batch, SinkError
from logship.sinks.gzip_body import gzip_compress
from logship.sinks.http import body_excerpt
from logship.sinks.protowire import length_delimited, timestamp_message, varint
from logship.sinks.transport import HttpTransport, auth_headers, classify_status, encode_off_loop, status_said
from logship.timestamps import record_time_ns

PUSH_PATH = "/loki/api/v1/push"
ENCODINGS = ("protobuf", "json")
FALLBACK_LABEL = ("service_name", "unknown_service")
PART_KEY = "line_part"
LEVEL_KEY = "detected_level"
_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f]')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_WIDEST_PART = "99999/99999"


# --- labels and metadata ----------------------------------------------------------------------


def sanitize_label_name(name: str) -> str:
    """``name`` made valid for Loki: ``[a-zA-Z_][a-zA-Z0-9_]*`` and not starting with ``__``."""
    name = _INVALID_NAME_CHARS.sub("_", name)
    if not name:
        return "_"
    if name[0].isdigit():
        return "_" + name
    if name.startswith("__"):
        return "_" + name.lstrip("_")
    return name


def escape_label_value(value: str) -> str:
    """``value`` escaped for the inside of a double-quoted label value (Go string literal rules)."""
    if _NEEDS_ESCAPE.search(value) is None:
        return value
    return _NEEDS_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"), value)


def label_set(labels: Mapping[str, str]) -> str:
    """The Prometheus-style label set ``{a="b", c="d"}``, sorted by name."""
    return "{" + ", ".join(f'{name}="{escape_label_value(labels[name])}"' for name in sorted(labels)) + "}"


def _text(value: Any) -> str | None:
    """A field value as metadata text: strings as they are, numbers and booleans in JSON form,
    arrays as JSON; None for null, empty strings and objects."""
    if isinstance(value, str):
        return value or None
    if value is None or isinstance(value, dict):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return orjson.dumps(value).decode()
    return orjson.dumps(value, default=str).decode()


def _lookup(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = record
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _flatten(node: Mapping[str, Any], skip: frozenset[str], out: dict[str, str]) -> None:
    """Structured metadata of ``node``'s leaves: the path joined with ``_``, an inner ``labels`` read as
    ``label``, sanitised; the fields at the ``skip`` paths (the labels) and empty values left out."""
    for path, value in flatten(node):
        if skip and ".".join(path) in skip:
            continue
        text = _text(value)
        if text is not None:
            out.setdefault(sanitize_label_name(dotted(path, "label").replace(".", "_")), text)


def _without(node: Mapping[str, Any], dotted: str, skip: frozenset[str]) -> dict[str, Any]:
    """A copy of ``node`` without the fields at the ``skip`` paths (objects emptied by it dropped)."""
    kept: dict[str, Any] = {}
    for key, value in node.items():
        path = dotted + key
        if path in skip:
            continue
        if isinstance(value, dict):
            value = _without(value, path + ".", skip)
            if not value:
                continue
        kept[key] = value
    return kept


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the configuration says about every record."""

    labels: tuple[tuple[str, str, tuple[str, ...]], ...]  # (sanitised name, dotted path, path)
    structured_metadata: bool
    max_line_bytes: int
    line_labels: frozenset[str]  # per-line fields a label reads (``level=log.level``): part of the shape


@functools.lru_cache(maxsize=16)
def _plan(labels: tuple[tuple[str, str], ...], structured_metadata: bool, max_line_bytes: int) -> _Plan:
    specs = tuple((sanitize_label_name(name), path, tuple(path.split("."))) for name, path in labels)
    line_labels = frozenset(path[0] for _, _, path in specs if path[0] in PER_LINE_KEYS)
    return _Plan(specs, structured_metadata, max_line_bytes, line_labels)


@dataclass(frozen=True, slots=True)
class _Shape:
    """What every record with the same fields (all but timestamp and message) shares."""

    labels: str  # the label-set string
    label_map: dict[str, str]
    metadata: dict[str, str]  # structured metadata (empty in the JSON-line form)
    metadata_pb: bytes  # the same, as repeated EntryAdapter.structuredMetadata fields
    rest: dict[str, Any]  # the JSON-line form's other fields
    rest_json: str  # the same as JSON members, ``,"a":1,"b":2`` (empty when there is none)


def _pair(name: str, value: str) -> bytes:
    """One EntryAdapter.structuredMetadata field (LabelPairAdapter {name = 1; value = 2})."""
    return length_delimited(3, length_delimited(1, name.encode()) + length_delimited(2, value.encode()))


def _shape(fields: dict[str, Any], plan: _Plan) -> _Shape:
    label_map: dict[str, str] = {}
    used = set()  # the fields that became labels are not repeated as metadata
    for name, where, path in plan.labels:
        value = _lookup(fields, path)
        text = None if isinstance(value, list) else _text(value)
        if text is not None and name not in label_map:
            label_map[name] = text
            used.add(where)
    skip = frozenset(used)
    if not label_map:
        label_map[FALLBACK_LABEL[0]] = FALLBACK_LABEL[1]
    metadata: dict[str, str] = {}
    rest: dict[str, Any] = {}
    if plan.structured_metadata:
        _flatten(fields, skip, metadata)
    else:
        rest = _without(fields, "", skip)
    metadata_pb = b"".join(_pair(name, value) for name, value in metadata.items())
    rest_json = orjson.dumps(rest).decode()[1:-1]
    return _Shape(label_set(label_map), label_map, metadata, metadata_pb, rest, "," + rest_json if rest_json else "")


# --- long lines -------------------------------------------------------------------------------


def _fit(piece: str, limit: int, size: Callable[[str], int]) -> list[str]:
    if len(piece) <= 1 or size(piece) <= limit:
        return [piece]
    half = len(piece) // 2
    return _fit(piece[:half], limit, size) + _fit(piece[half:], limit, size)


def split_message(message: str, limit: int, overhead: int, size: Callable[[str], int]) -> list[str]:
    """``message`` in parts whose line (``size(part)``) fits ``limit`` bytes; ``overhead`` is what the
    line adds to the part's UTF-8 bytes (0 for a plain line)."""
    budget = max(limit - overhead, 16)
    parts: list[str] = []
    for piece in split_utf8(message.encode(), budget):
        parts.extend(_fit(piece.decode(), limit, size))
    return parts


# An entry ready to encode: (ns, line, structured metadata, the same as protobuf fields).
_Entry = tuple[int, str, dict[str, str], bytes]


def _lines(ns: int, message: str, shape: _Shape, plan: _Plan, own: dict[str, str] | None = None) -> list[_Entry]:
    """The entries of one record: one, or one per part of a line too long for Loki. ``own`` is the
    line's own structured metadata (``line_metadata``), written before the container's."""
    limit = plan.max_line_bytes
    if plan.structured_metadata:
        metadata, metadata_pb = shape.metadata, shape.metadata_pb
        if own:
            metadata = {**own, **metadata}
            metadata_pb = b"".join(_pair(name, value) for name, value in own.items()) + metadata_pb
        if len(message) * 4 <= limit or len(message.encode()) <= limit:
            return [(ns, message, metadata, metadata_pb)]
        parts = split_message(message, limit, 0, lambda part: len(part.encode()))
        count = len(parts)
        entries = []
        for index, part in enumerate(parts):
            marker = f"{index + 1}/{count}"
            entries.append((ns + index, part, {**metadata, PART_KEY: marker}, metadata_pb + _pair(PART_KEY, marker)))
        return entries
    line = '{"message":' + orjson.dumps(message).decode() + shape.rest_json + "}"
    if len(line) * 4 <= limit or len(line.encode()) <= limit:
        return [(ns, line, {}, b"")]

    def size(part: str) -> int:
        return len(orjson.dumps({"message": part, **shape.rest, PART_KEY: _WIDEST_PART}))

    parts = split_message(message, limit, size(""), size)
    count = len(parts)
    return [(ns + index, orjson.dumps({"message": part, **shape.rest, PART_KEY: f"{index + 1}/{count}"}).decode(),
             {}, b"") for index, part in enumerate(parts)]


# --- encode -----------------------------------------------------------------------------------


def line_metadata(line: Line, taken: Mapping[str, str]) -> dict[str, str]:
    """The structured metadata of a line's parsed fields: ``detected_level`` (the name Loki 3 gives the
    level it detects, which Grafana's Logs Drilldown reads), ``log_lines`` for a joined event, and each
    attribute under its own path joined with ``_`` (sanitised); a name ``taken`` by the container's
    metadata or a label is left to it."""
    own: dict[str, str] = {}
    level, lines, attributes = line.level, line.lines, line.attributes
    if level:
        own[LEVEL_KEY] = level
    if lines is not None:
        own["log_lines"] = str(lines)
    if attributes:
        for path, value in flatten(attributes):
            text = _text(value)
            name = sanitize_label_name("_".join(path))
            if text is not None and name not in taken and name not in own:
                own[name] = text
    return own


def streams(batch: Batch, config: LokiSinkConfig) -> list[tuple[str, dict[str, str], list[_Entry]]]:
    """The batch as Loki streams: (label set, labels, entries sorted by time), sorted by label set.

    A container's labels and metadata (its ``_Shape``) are made once per batch; per line only the
    timestamp, the message and the parsed fields' metadata are new.
    """
    plan = _plan(config.labels, config.structured_metadata, config.max_line_bytes)
    read = Reader().read
    shapes: dict[tuple[bytes, bytes], _Shape] = {}
    grouped: dict[str, tuple[dict[str, str], list[tuple[int, str, _Shape, dict[str, str] | None]]]] = {}
    for raw in batch.records:
        line = read(raw)
        ns = record_time_ns(line.timestamp)
        message = line.message
        if not isinstance(message, str):
            message = _text(message) or ""
        shared = line.shared
        own = None
        extra = line.extra
        if not extra:
            shape = shared.encoded
            if shape is None:
                shape = shared.encoded = _shape(shared.fields, plan)
        else:
            # What a label reads, ``partial`` and (for JSON lines) everything is part of the shape; the
            # parsed fields are the line's own structured metadata.
            keyed = extra if not plan.structured_metadata else {
                key: value for key, value in extra.items() if key == "partial" or key in plan.line_labels}
            key = (shared.key, orjson.dumps(keyed))
            shape = shapes.get(key)
            if shape is None:
                shape = shapes[key] = _shape({**keyed, **shared.fields}, plan)
            if plan.structured_metadata and len(keyed) < len(extra):
                own = line_metadata(line, {**shape.label_map, **shape.metadata})
        stream = grouped.get(shape.labels)
        if stream is None:
            stream = grouped[shape.labels] = (shape.label_map, [])
        stream[1].append((ns, message, shape, own))
    result = []
    for labels in sorted(grouped):
        label_map, records = grouped[labels]
        records.sort(key=itemgetter(0))
        entries: list[_Entry] = []
        for ns, message, shape, own in records:
            entries.extend(_lines(ns, message, shape, plan, own))
        if len(entries) > len(records):  # parts of split lines may overtake the next record's time
            entries.sort(key=itemgetter(0))
        result.append((labels, label_map, entries))
    return result


def encode_protobuf(grouped: list[tuple[str, dict[str, str], list[_Entry]]]) -> bytes:
    """The PushRequest for ``grouped`` (see ``streams``), not compressed.

    Written as one flat list of pieces joined once: an entry's structured metadata is most of its
    bytes, and copying it into nested messages level by level would cost more than the rest.
    """
    out: list[bytes] = []
    for labels, _, entries in grouped:
        pieces: list[bytes] = []
        size = 0
        for ns, line, _, metadata_pb in entries:
            stamp = timestamp_message(ns)
            text = line.encode()
            head = b"\x0a" + varint(len(stamp)) + stamp + b"\x12" + varint(len(text))
            length = len(head) + len(text) + len(metadata_pb)
            prefix = b"\x12" + varint(length)  # StreamAdapter.entries = 2
            pieces += (prefix, head, text, metadata_pb)
            size += len(prefix) + length
        label_field = length_delimited(1, labels.encode())
        out += (b"\x0a", varint(len(label_field) + size), label_field)  # PushRequest.streams = 1
        out += pieces
    return b"".join(out)


def encode_json(grouped: list[tuple[str, dict[str, str], list[_Entry]]]) -> bytes:
    """The JSON push body for ``grouped`` (see ``streams``), not compressed."""
    return orjson.dumps({"streams": [
        {"stream": label_map,
         "values": [[str(ns), line, metadata] if metadata else [str(ns), line] for ns, line, metadata, _ in entries]}
        for _, label_map, entries in grouped]})


def encode(batch: Batch, config: LokiSinkConfig) -> tuple[bytes, dict[str, str]]:
    """The request body and its content headers for ``batch`` (see the module docstring)."""
    grouped = streams(batch, config)
    if config.encoding == "json":
        body = gzip_compress(encode_json(grouped))
        return body, {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    if config.encoding != "protobuf":
        raise SinkError(f"LOGSHIP_LOKI_ENCODING={config.encoding!r}: expected one of {', '.join(ENCODINGS)}",
                        retriable=False)
    return bytes(cramjam.snappy.compress_raw(encode_protobuf(grouped))), {"Content-Type": "application/x-protobuf"}


# --- classify ---------------------------------------------------------------------------------


def classify(status: int, headers: Mapping[str, str], body: bytes, retry_status: frozenset[int]) -> Outcome:
    """The Outcome of one answer of Loki (rows in the module docstring)."""
    excerpt = body_excerpt(body)
    said = status_said(status, excerpt)
    if 200 <= status < 300:
        if "ingestion blocked" in excerpt:
            return rejected(f"{said} (Loki stored nothing: ingestion is blocked for this tenant)")
        return DELIVERED
    if status == 400 and status not in retry_status:
        reason = f"http 400 (not retried: Loki may have stored the valid entries of this batch): {excerpt}"
        if "structured metadata" in excerpt and "disallowed" in excerpt:
            reason += " [hint: LOGSHIP_LOKI_STRUCTURED_METADATA=false, or allow_structured_metadata in Loki]"
        return rejected(reason)
    hint = "; set LOGSHIP_LOKI_TENANT_ID (X-Scope-OrgID)" if "org id" in excerpt.lower() else ""
    return classify_status(status, headers, said, retry_status, retriable=status == 429 or 500 <= status < 600,
                           credentials_hint=hint)


# --- the sink ---------------------------------------------------------------------------------


def endpoints(url: str) -> tuple[str, str]:
    """(push URL, ready URL) for ``LOGSHIP_LOKI_URL`` given as Loki's base URL or its push URL."""
    base = url.rstrip("/")
    if base.endswith(PUSH_PATH):
        base = base[: -len(PUSH_PATH)]
    return base + PUSH_PATH, base + "/ready"


def request_headers(config: LokiSinkConfig) -> dict[str, str]:
    """Headers sent with every request: Authorization and X-Scope-OrgID. Raises SinkError (not
    retriable) for contradictory auth settings."""
    headers = auth_headers("LOGSHIP_LOKI_", username=config.username, password=config.password,
                           bearer_token=config.bearer_token)
    if config.tenant_id:
        headers["X-Scope-OrgID"] = config.tenant_id
    return headers


class LokiSink:
    """Pushes batches to Loki on one aiohttp session (at most ``concurrency`` connections)."""

    name = "loki"

    def __init__(self, config: LokiSinkConfig) -> None:
        if config.encoding not in ENCODINGS:
            raise SinkError(f"LOGSHIP_LOKI_ENCODING={config.encoding!r}: expected one of {', '.join(ENCODINGS)}",
                            retriable=False)
        self.config = config
        self.push_url, self.ready_url = endpoints(config.url)
        self._transport = HttpTransport(self.name, config.tls, config.timeout, config.concurrency,
                                        request_headers(config))

    async def start(self) -> None:
        """Open the session (TLS files are loaded here)."""
        await self._transport.start()

    async def send(self, batch: Batch) -> Outcome:
        """Push ``batch`` and classify the answer; no answer at all becomes a RETRY."""
        if not batch.records:
            return DELIVERED
        body, headers = await encode_off_loop(encode, batch, self.config)
        answer = await self._transport.post(self.push_url, body, headers)
        if isinstance(answer, Outcome):
            return answer
        return classify(answer.status, answer.headers, answer.body, self.config.retry_status)

    async def healthcheck(self) -> None:
        """GET /ready: 200 is ready, anything else a SinkError with Loki's words."""
        answer = await self._transport.probe(self.ready_url)
        if answer.status == 200:
            return
        excerpt = body_excerpt(answer.body)
        said = f"HTTP {answer.status}" + (f": {excerpt}" if excerpt else "")
        if answer.status >= 500:
            raise SinkError(f"{self.ready_url}: Loki is not ready ({said})")
        raise SinkError(f"{self.ready_url}: not Loki's readiness endpoint ({said}); LOGSHIP_LOKI_URL should be "
                        f"Loki's base URL, such as http://loki:3100", retriable=False)

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._transport.aclose()
