"""The ``syslog`` sink, the encode step: pure functions that turn records into the request body.

The wire format and the answers are described in ``logship.sinks.syslog``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from logship.fields import dotted, flatten, lookup
from logship.record import SYSLOG_SEVERITY, Line, Reader, cut_utf8
from logship.sinks.base import Batch
from logship.sinks.syslog.spec import SyslogSinkConfig
from logship.timestamps import docker_second, rfc3339_micros

ENTERPRISE = "32473"
SEVERITY = {"stdout": 6, "stderr": 3}  # informational, error
DEFAULT_SEVERITY = 6
MAX_UDP_BYTES = 65507  # largest UDP payload over IPv4

_PRINTUSASCII = re.compile(r"[\x21-\x7e]+")
_NOT_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")
_NOT_SD_NAME = re.compile(r'[^\x21-\x7e]|[=\]"]')
_SD_ESCAPE = re.compile(r'(["\\\]])')

# (record field path, SD parameter) of the docker@32473 element, in this order.
DOCKER_PARAMS = (
    (("container", "id"), "container_id"), (("container", "name"), "container_name"),
    (("container", "image", "name"), "image"), (("service", "name"), "service"),
    (("service", "namespace"), "service_namespace"),
    (("compose", "project"), "compose_project"), (("compose", "service"), "compose_service"),
    (("swarm", "service", "name"), "swarm_service"), (("swarm", "service", "id"), "swarm_service_id"),
    (("swarm", "task", "name"), "swarm_task"), (("swarm", "task", "id"), "swarm_task_id"),
    (("swarm", "task", "slot"), "swarm_task_slot"), (("swarm", "node", "id"), "node_id"),
)


# --- the message --------------------------------------------------------------------------------


def header_field(value: Any, limit: int, sanitise: bool = False) -> str:
    """A header field: 1..``limit`` printable US-ASCII characters, else the NILVALUE ``-``.

    ``sanitise`` replaces other characters with ``_`` and cuts to ``limit`` instead of giving up.
    """
    if not isinstance(value, str) or not value:
        return "-"
    if sanitise:
        return _NOT_PRINTUSASCII.sub("_", value[:limit])
    return value if len(value) <= limit and _PRINTUSASCII.fullmatch(value) else "-"


def syslog_timestamp(value: Any) -> str:
    """An RFC 3339 time with at most 6 fraction digits (truncated), or ``-``."""
    return (rfc3339_micros(value) if isinstance(value, str) else None) or "-"


def sd_name(name: str) -> str:
    """``name`` as an SD-NAME: printable US-ASCII but ``=``, ``]``, ``"`` (others become ``_``), ≤ 32."""
    return _NOT_SD_NAME.sub("_", name[:32]) or "_"


def sd_value(value: Any) -> str:
    """A PARAM-VALUE with ``"``, ``\\`` and ``]`` escaped."""
    if not isinstance(value, str):
        value = "" if value is None else orjson.dumps(value).decode()
    return _SD_ESCAPE.sub(r"\\\1", value)


def sd_element(sd_id: str, params: list[tuple[str, Any]]) -> str:
    """``[SD-ID name="value" …]`` or "" when there are no parameters."""
    if not params:
        return ""
    return "[" + sd_id + "".join(f' {sd_name(name)}="{sd_value(value)}"' for name, value in params) + "]"


def _pop(record: Any, path: tuple[str, ...]) -> None:
    *parents, leaf = path
    for key in parents:
        record = record.get(key) if isinstance(record, dict) else None
    if isinstance(record, dict):
        record.pop(leaf, None)


def structured_data(record: dict[str, Any]) -> tuple[str, str]:
    """(the docker@ element, the label@ and fields@ elements) of a record's metadata (consumes ``record``)."""
    docker = []
    for path, name in DOCKER_PARAMS:
        value = lookup(record, path)
        if value is not None and value != "":
            docker.append((name, value))
    node = lookup(record, ("swarm", "node", "id"))
    if node is None and lookup(record, ("host", "id")):
        docker.append(("node_id", lookup(record, ("host", "id"))))
    for path, _ in DOCKER_PARAMS:
        _pop(record, path)
    labels: dict[str, Any] = {}
    for path in (("swarm", "service", "labels"), ("container", "labels")):  # the container's own win
        found = lookup(record, path)
        if isinstance(found, dict):
            labels.update(found)
        _pop(record, path)
    for key in ("timestamp", "message", "stream"):
        record.pop(key, None)
    _pop(record, ("host", "name"))
    _pop(record, ("host", "id"))
    fields = [(dotted(path), value) for path, value in flatten(record)]
    extra = sd_element(f"label@{ENTERPRISE}", list(labels.items())) + sd_element(f"fields@{ENTERPRISE}", fields)
    return sd_element(f"docker@{ENTERPRISE}", docker), extra


class _Parts:
    """The parts of a message that depend only on the record's metadata (shared by a container's lines)."""

    __slots__ = ("facility", "head", "plain", "pri", "sd", "severity", "short", "tail", "untagged")

    def __init__(self, record: dict[str, Any], facility: int) -> None:
        stream = record.get("stream")
        self.facility = facility
        self.severity = SEVERITY.get(stream if isinstance(stream, str) else "", DEFAULT_SEVERITY)
        self.pri = b"<%d>1 " % (facility * 8 + self.severity)
        container_id = lookup(record, ("container", "id"))
        head = " ".join((
            header_field(lookup(record, ("host", "name")), 255),
            header_field(lookup(record, ("service", "name")), 48, sanitise=True),
            header_field(container_id[:12] if isinstance(container_id, str) else None, 128, sanitise=True),
            header_field(stream, 32, sanitise=True),
        ))
        docker, extra = structured_data(record)
        self.head = f" {head} ".encode()
        self.sd = (docker + extra).encode()
        self.tail = f" {head} {docker + extra or '-'}".encode()
        self.untagged = f" {head} {docker or '-'}".encode()  # when the whole SD does not fit
        self.short = f" {head} -".encode()
        self.plain: tuple[int, bytes, bytes, int] | None = None  # see plain_parts

    def plain_parts(self, limit: int) -> tuple[int, bytes, bytes, int]:
        """What a plain line's message is made of under ``limit``, made once: (limit, what follows the 26
        characters of the time up to the text, the same for an empty text, that message's length). The
        time is Docker's cut to microseconds and ``Z`` (27 bytes), as ``_message`` writes it."""
        if self.plain is None or self.plain[0] != limit:
            start = len(self.pri) + 27
            tail = self.tail
            if start + len(tail) >= limit:
                tail = self.untagged if start + len(self.untagged) < limit else self.short
            self.plain = (limit, b"Z" + tail + b" ", b"Z" + tail, start + len(tail))
        return self.plain


def _message(parts: _Parts, timestamp: str, text: bytes, limit: int, line_sd: bytes = b"",
             severity: int | None = None) -> bytes:
    """One message; ``line_sd`` (the line's own elements) goes with the label and field elements, and
    ``severity`` (the line's level) replaces the stream's."""
    pri = parts.pri if severity is None else b"<%d>1 " % (parts.facility * 8 + severity)
    start = pri + timestamp.encode()
    full = parts.head + parts.sd + line_sd if line_sd else parts.tail
    for tail in (full, parts.untagged, parts.short):
        head = start + tail
        if len(head) < limit or tail is parts.short:
            break
    return cut_utf8(head + b" " + text if text else head, limit)


def line_elements(line: Line, log_elements: dict[tuple[str | None, int | None], bytes]) -> bytes:
    """The per-line SD elements: ``[log@32473 level="…" lines="N"]`` and ``[attributes@32473 …]`` (the
    parsed attributes, dotted paths), each only when the record has it. ``log_elements`` caches the
    first per level and line count (a batch has a few)."""
    level, lines, attributes = line.level, line.lines, line.attributes
    sd = log_elements.get((level, lines))
    if sd is None:
        log_params: list[tuple[str, Any]] = [("level", level)] if level else []
        if lines is not None:
            log_params.append(("lines", lines))
        sd = log_elements[(level, lines)] = sd_element(f"log@{ENTERPRISE}", log_params).encode()
    if attributes:
        sd += sd_element(f"attributes@{ENTERPRISE}",
                         [(dotted(path), value) for path, value in flatten(attributes)]).encode()
    return sd


def _text(message: Any) -> bytes:
    return (message if isinstance(message, str) else "" if message is None else orjson.dumps(message).decode()
            ).encode()


class _Writer:
    """Writes the RFC 5424 message of each record of one batch, reading it whole."""

    def __init__(self, facility: int, max_message_bytes: int, reader: Reader) -> None:
        self.facility = facility
        self.limit = max_message_bytes
        self.read = reader.read
        self.with_partial: dict[tuple[bytes, bytes], _Parts] = {}
        self.log_elements: dict[tuple[str | None, int | None], bytes] = {}

    def message(self, record: bytes) -> bytes:
        """The record's message (no framing), at most ``max_message_bytes`` long."""
        line = self.read(record)
        shared = line.shared
        if shared.encoded is None:
            shared.encoded = _Parts(shared.copy_fields(), self.facility)
        parts = shared.encoded
        head = line.head
        if len(head) > 2:  # partial, log or attributes
            partial = head.get("partial")
            if partial is not None:  # a cut line: its parts say so in fields@ (with the metadata)
                key = (shared.key, orjson.dumps(partial))
                parts = self.with_partial.get(key) or self.with_partial.setdefault(
                    key, _Parts({"partial": partial, **shared.copy_fields()}, self.facility))
            level = line.level
            return _message(parts, syslog_timestamp(line.timestamp), _text(line.message), self.limit,
                            line_elements(line, self.log_elements), SYSLOG_SEVERITY[level] if level else None)
        return _message(parts, syslog_timestamp(line.timestamp), _text(line.message), self.limit)


def encode_messages(batch: Batch, facility: int, max_message_bytes: int) -> list[bytes]:
    """One RFC 5424 message per record (no framing), each at most ``max_message_bytes`` long."""
    message = _Writer(facility, max_message_bytes, Reader()).message
    return [message(record) for record in batch.records]


def frame(message: bytes) -> bytes:
    """RFC 6587 octet counting: ``MSG-LEN SP SYSLOG-MSG``."""
    return b"%d %b" % (len(message), message)


def encode(batch: Batch, config: SyslogSinkConfig) -> bytes:
    """The bytes written to a TCP or TLS connection for ``batch``: octet-counted messages.

    A plain record (``Reader.split``) whose timestamp is Docker's is written from its bytes: its
    container's header and structured data (made once per batch), its time cut to microseconds and its
    message, as ``encode_messages`` would; any other record takes ``encode_messages``' way.
    """
    limit = config.max_message_bytes
    reader = Reader()
    whole = _Writer(config.facility, limit, reader).message
    out: list[bytes] = []
    valid: set[bytes] = set()  # the seconds (b"2026-11-25T16:32:42.") seen to be a real time
    records = batch.records
    counts = _COUNTS
    # The latest record's container (its Shared) and the pieces of its messages: locals while its records
    # follow each other, as they do in nearly every batch; and the latest second seen to be a real time.
    last: Any = None
    pri = before_text = alone = b""
    fixed = 0
    second = b""
    for record, plain in zip(records, reader.split(records), strict=True):
        if plain is not None:
            shared, stamp, _, text, _ = plain
            if stamp[29] == 0x5A and stamp[20:29].isdigit() and (
                    stamp[:20] == second or stamp[:20] in valid or _valid_second(stamp, valid)):
                second = stamp[:20]
                if shared is not last:
                    parts = shared.encoded
                    if parts is None:
                        parts = shared.encoded = _Parts(shared.copy_fields(), config.facility)
                    _, before_text, alone, fixed = parts.plain_parts(limit)
                    pri = parts.pri
                    last = shared
                # The message in pieces (PRI, time, header and SD, text), no copy of them joined.
                if text:
                    size = fixed + 1 + len(text)
                    if size <= limit:
                        out += (counts[size] if size < 16384 else b"%d " % size, pri, stamp[:26], before_text, text)
                        continue
                elif fixed <= limit:
                    out += (counts[fixed] if fixed < 16384 else b"%d " % fixed, pri, stamp[:26], alone)
                    continue
                message = cut_utf8(pri + stamp[:26] + (before_text + text if text else alone), limit)
                out += (counts[len(message)] if len(message) < 16384 else b"%d " % len(message), message)
                continue
        out.append(frame(whole(record)))
    return b"".join(out)


def _valid_second(stamp: bytes, valid: set[bytes]) -> bool:
    """Whether the second of a Docker timestamp (``stamp[:20]``) is a real time; kept in ``valid`` if so."""
    if docker_second(stamp) is None:
        return False
    valid.add(stamp[:20])
    return True


# "N " for every message length below 16384: the octet count of a frame, without formatting it per line.
_COUNTS = [b"%d " % n for n in range(16384)]


def encode_datagrams(batch: Batch, config: SyslogSinkConfig) -> list[bytes]:
    """The UDP datagrams for ``batch``: one message each, no framing."""
    return encode_messages(batch, config.facility, min(config.max_message_bytes, MAX_UDP_BYTES))
