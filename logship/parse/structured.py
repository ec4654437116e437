"""Structured lines: a JSON object or a logfmt line → message, level and bounded attributes.

- JSON: only a line that starts with ``{`` is tried (orjson); anything but an object is no JSON line.
- logfmt (``level=info msg="db down" user=42``): every token must be ``key=value`` or ``key="quoted"``;
  values stay strings (logfmt has no types).

The message is the first of the message keys present (a non-string value as its JSON text), the level
the first of the level keys whose value ``levels.normalise`` knows (a dotted key such as ``log.level``
is also looked up nested). Both keys leave the object; the other keys are the attributes.

Bounds (``MAX_KEYS`` keys counted at every depth, ``MAX_DEPTH`` levels of nesting, ``MAX_BYTES`` of
JSON): keys are taken in order while they fit. When one does not, the record's message is the whole
line as written, so what did not fit is still in the record (never dropped); the attributes then hold
the keys that fitted. A line without a message key keeps the whole line as its message as well.

The split invariant of ``logship.record``: a key ``stream`` that is not first in its object (at any
depth) is renamed ``_stream`` (more underscores if that name is taken).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import orjson

from logship.parse.levels import normalise

MAX_KEYS = 64
MAX_DEPTH = 4
MAX_BYTES = 8192
DEFAULT_MESSAGE_KEYS = ("msg", "message", "log", "@message", "text", "event", "Message")
DEFAULT_LEVEL_KEYS = ("level", "lvl", "severity", "log.level", "levelname", "loglevel", "level_name", "@level",
                      "severity_text", "SeverityText", "Level", "Severity")
_SPLIT = b',"stream":"'
_LOGFMT_PAIR = re.compile(r'\s*([^\s="]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s"]*))')


class Parsed(NamedTuple):
    """A structured line: its message, level (one of ``record.LEVELS`` or None) and attributes (JSON, or None)."""

    message: str
    level: str | None
    attributes: bytes | None


def parse_json(text: str, message_keys: tuple[str, ...], level_keys: tuple[str, ...]) -> Parsed | None:
    """``text`` (starting with ``{``) as a structured line, or None when it is not a JSON object."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(value) is not dict:
        return None
    return _split(text, value, message_keys, level_keys)


def parse_logfmt(text: str, message_keys: tuple[str, ...], level_keys: tuple[str, ...]) -> Parsed | None:
    """``text`` as a logfmt line, or None when any part of it is not ``key=value``."""
    fields: dict[str, Any] = {}
    pos = 0
    end = len(text.rstrip())
    for match in _LOGFMT_PAIR.finditer(text):
        if match.start() != pos:
            return None
        pos = match.end()
        quoted = match.group(2)
        fields[match.group(1)] = _unquote(quoted) if quoted is not None else match.group(3)
        if pos >= end:
            break
    if pos < end or not fields:
        return None
    return _split(text, fields, message_keys, level_keys)


def _unquote(quoted: str) -> str:
    if "\\" not in quoted:
        return quoted
    try:
        value = orjson.loads('"' + quoted + '"')
    except orjson.JSONDecodeError:
        return quoted
    return value if type(value) is str else quoted


def _split(text: str, fields: dict[str, Any], message_keys: tuple[str, ...],
           level_keys: tuple[str, ...]) -> Parsed:
    message = None
    for key in message_keys:
        if key in fields:
            value = fields.pop(key)
            message = value if type(value) is str else orjson.dumps(value).decode()
            break
    level = None
    for key in level_keys:
        level = _take_level(fields, key)
        if level is not None:
            break
    attributes, fits = _bounded(fields)
    if message is None or not fits:
        message = text
    return Parsed(message, level, attributes)


def _take_level(fields: dict[str, Any], key: str) -> str | None:
    """The normalised level under ``key`` (removed from ``fields``), or None (then ``fields`` is untouched)."""
    if key in fields:
        level = normalise(fields[key])
        if level is not None:
            del fields[key]
        return level
    head, dot, rest = key.partition(".")
    inner = fields.get(head) if dot else None
    if type(inner) is dict:
        level = _take_level(inner, rest)
        if level is not None and not inner:
            del fields[head]
        return level
    return None


def _bounded(fields: dict[str, Any]) -> tuple[bytes | None, bool]:
    """The attributes' JSON (None when empty) and whether every key fitted the bounds."""
    if not fields:
        return None, True
    encoded = orjson.dumps(fields)
    if len(encoded) <= MAX_BYTES and 0 <= _size(fields, 1) <= MAX_KEYS:
        return _keep_invariant(fields, encoded), True
    kept: dict[str, Any] = {}
    keys = 0
    size = 2
    for key, value in fields.items():
        count = _size({key: value}, 1)
        piece = len(orjson.dumps({key: value})) - 1
        if count < 0 or keys + count > MAX_KEYS or size + piece > MAX_BYTES:
            continue
        kept[key] = value
        keys += count
        size += piece
    return (_keep_invariant(kept, orjson.dumps(kept)) if kept else None), False


def _size(node: Any, depth: int) -> int:
    """Keys in ``node`` (an object or an array) at every depth; negative when it nests deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH:
        return -(1 << 30)
    is_object = type(node) is dict
    total = len(node) if is_object else 0
    for value in (node.values() if is_object else node):
        if type(value) is dict or type(value) is list:
            inner = _size(value, depth + 1)
            if inner < 0:
                return inner
            total += inner
    return total


def _keep_invariant(fields: dict[str, Any], encoded: bytes) -> bytes:
    """``encoded`` without the bytes ``,"stream":"`` (see the module docstring)."""
    if _SPLIT not in encoded:
        return encoded
    return orjson.dumps(_renamed(fields))


def _renamed(node: Any) -> Any:
    if type(node) is list:
        return [_renamed(value) for value in node]
    if type(node) is not dict:
        return node
    out: dict[str, Any] = {}
    for index, (key, value) in enumerate(node.items()):
        if key == "stream" and index:
            key = "_stream"
            while key in node or key in out:
                key = "_" + key
        out[key] = _renamed(value)
    return out
