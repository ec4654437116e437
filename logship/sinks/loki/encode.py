"""The ``loki`` sink, the encode step: pure functions that turn records into the request body.

The wire format and the answers are described in ``logship.sinks.loki``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson

from logship.fields import dotted, flatten, lookup
from logship.record import PER_LINE_KEYS, Line, Reader, split_utf8
from logship.sinks.base import Batch
from logship.sinks.loki.spec import LokiSinkConfig
from logship.sinks.protowire import length_delimited, timestamp_message, varint
from logship.timestamps import record_time_ns

ENCODINGS = ("protobuf", "json")
FALLBACK_LABEL = ("service_name", "unknown_service")
PART_KEY = "line_part"
LEVEL_KEY = "detected_level"
_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f]')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_WIDEST_PART = "99999/99999"
# The record's keys that hold the container's own metadata (LOGSHIP_LOKI_STRUCTURED_METADATA chooses among
# them).
CONTAINER_FIELDS = frozenset({"container", "service", "compose", "swarm", "host"})


# --- labels and metadata ----------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # a batch's attributes repeat their names line after line
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


def _flatten(node: Mapping[str, Any], skip: frozenset[str], out: dict[str, str], plan: Plan) -> None:
    """Structured metadata of ``node``'s leaves: the path joined with ``_``, an inner ``labels`` read as
    ``label``, sanitised; the fields at the ``skip`` paths (the labels), empty values and the names the
    plan does not keep left out."""
    for path, value in flatten(node):
        if skip and ".".join(path) in skip:
            continue
        text = _text(value)
        if text is not None:
            name = sanitize_label_name(dotted(path, "label").replace(".", "_"))
            if _kept(plan, path, name):
                out.setdefault(name, text)


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
class Plan:
    """What the configuration says about every record."""

    labels: tuple[tuple[str, str, tuple[str, ...]], ...]  # (sanitised name, dotted path, path)
    structured_metadata: bool
    max_line_bytes: int
    line_labels: frozenset[str]  # per-line fields a label reads (``level=log.level``): part of the shape
    names: frozenset[str] | None  # the container's metadata names sent (None: all); see ``_kept``
    prefixes: tuple[str, ...]  # the names given with a trailing ``*``, without it


@functools.lru_cache(maxsize=16)
def _plan(labels: tuple[tuple[str, str], ...], structured_metadata: bool, max_line_bytes: int,
          names: frozenset[str] | None = None) -> Plan:
    specs = tuple((sanitize_label_name(name), path, tuple(path.split("."))) for name, path in labels)
    line_labels = frozenset(path[0] for _, _, path in specs if path[0] in PER_LINE_KEYS)
    prefixes = tuple(name[:-1] for name in names if name.endswith("*")) if names else ()
    return Plan(specs, structured_metadata, max_line_bytes, line_labels, names, prefixes)


def plan_of(config: LokiSinkConfig) -> Plan:
    """The ``Plan`` of a configuration (cached)."""
    return _plan(config.labels, config.structured_metadata, config.max_line_bytes, config.metadata_names)


def _kept(plan: Plan, path: tuple[str, ...], name: str) -> bool:
    """Whether the metadata ``name`` (of the field at ``path``) is sent: every one without a list; with one,
    the names listed (or with a listed prefix), and always the fields that are not the container's own
    metadata (LOGSHIP_EXTRA_FIELDS', a line's ``partial``): someone configured those to be sent."""
    return (plan.names is None or name in plan.names or path[0] not in CONTAINER_FIELDS
            or name.startswith(plan.prefixes))


@dataclass(frozen=True, slots=True)
class Shape:
    """What every record with the same fields (all but timestamp and message) shares."""

    labels: str  # the label-set string
    label_map: dict[str, str]
    metadata: dict[str, str]  # structured metadata (empty in the JSON-line form)
    metadata_pb: bytes  # the same, as repeated EntryAdapter.structuredMetadata fields
    rest: dict[str, Any]  # the JSON-line form's other fields
    rest_json: str  # the same as JSON members, ``,"a":1,"b":2`` (empty when there is none)


def metadata_pair(name: str, value: str) -> bytes:
    """One EntryAdapter.structuredMetadata field (LabelPairAdapter {name = 1; value = 2})."""
    text = value.encode()
    pair = _name_field(name) + b"\x12" + varint(len(text)) + text
    return b"\x1a" + varint(len(pair)) + pair


@functools.lru_cache(maxsize=4096)
def _name_field(name: str) -> bytes:
    """LabelPairAdapter.name = 1 (names repeat line after line; values mostly do not)."""
    return length_delimited(1, name.encode())


def pairs_pb(metadata: Mapping[str, str]) -> bytes:
    """``metadata`` as repeated EntryAdapter.structuredMetadata fields."""
    return b"".join(metadata_pair(name, value) for name, value in metadata.items())


def shape_of(fields: dict[str, Any], plan: Plan) -> Shape:
    label_map: dict[str, str] = {}
    used = set()  # the fields that became labels are not repeated as metadata
    for name, where, path in plan.labels:
        value = lookup(fields, path)
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
        _flatten(fields, skip, metadata, plan)
    else:
        rest = _without(fields, "", skip)
    metadata_pb = pairs_pb(metadata)
    rest_json = orjson.dumps(rest).decode()[1:-1]
    return Shape(label_set(label_map), label_map, metadata, metadata_pb, rest, "," + rest_json if rest_json else "")


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


def _lines(ns: int, message: str, shape: Shape, plan: Plan, own: dict[str, str] | None = None) -> list[_Entry]:
    """The entries of one record: one, or one per part of a line too long for Loki. ``own`` is the
    line's own structured metadata (``line_metadata``), written before the container's."""
    limit = plan.max_line_bytes
    if plan.structured_metadata:
        metadata, metadata_pb = shape.metadata, shape.metadata_pb
        if own:
            metadata = {**own, **metadata}
            metadata_pb = pairs_pb(own) + metadata_pb
        if len(message) * 4 <= limit or len(message.encode()) <= limit:
            return [(ns, message, metadata, metadata_pb)]
        parts = split_message(message, limit, 0, lambda part: len(part.encode()))
        count = len(parts)
        entries = []
        for index, part in enumerate(parts):
            marker = f"{index + 1}/{count}"
            entries.append((ns + index, part, {**metadata, PART_KEY: marker},
                            metadata_pb + metadata_pair(PART_KEY, marker)))
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


def source(line: Line, plan: Plan, shapes: dict[tuple[bytes, bytes], Shape]) -> tuple[
        Shape, int, str, dict[str, str] | None]:
    """(shape, time in ns, message, the line's own structured metadata or None) of one record read whole;
    ``shapes`` keeps the shapes of lines whose per-line fields are part of it, for the batch."""
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
            shape = shared.encoded = shape_of(shared.fields, plan)
    else:
        # What a label reads, ``partial`` and (for JSON lines) everything is part of the shape; the
        # parsed fields are the line's own structured metadata.
        keyed = extra if not plan.structured_metadata else {
            key: value for key, value in extra.items() if key == "partial" or key in plan.line_labels}
        key = (shared.key, orjson.dumps(keyed))
        shape = shapes.get(key)
        if shape is None:
            shape = shapes[key] = shape_of({**keyed, **shared.fields}, plan)
        if plan.structured_metadata and len(keyed) < len(extra):
            own = line_metadata(line, {**shape.label_map, **shape.metadata})
    return shape, ns, message, own


def streams(batch: Batch, config: LokiSinkConfig) -> list[tuple[str, dict[str, str], list[_Entry]]]:
    """The batch as Loki streams: (label set, labels, entries sorted by time), sorted by label set.

    A container's labels and metadata (its ``Shape``) are made once per batch; per line only the
    timestamp, the message and the parsed fields' metadata are new.
    """
    plan = plan_of(config)
    read = Reader().read
    shapes: dict[tuple[bytes, bytes], Shape] = {}
    grouped: dict[str, tuple[dict[str, str], list[tuple[int, str, Shape, dict[str, str] | None]]]] = {}
    for raw in batch.records:
        shape, ns, message, own = source(read(raw), plan, shapes)
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
