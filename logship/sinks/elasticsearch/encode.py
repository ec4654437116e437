"""The ``elasticsearch`` sink, the encode step: pure functions that turn records into the request body.

The wire format and the answers are described in ``logship.sinks.elasticsearch``.
"""

from __future__ import annotations

import re
from binascii import b2a_base64 as _b64
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from hashlib import blake2b as _blake2b
from itertools import repeat
from operator import itemgetter
from typing import Any

import orjson

from logship.record import RECORD_OPEN, Columns, Reader
from logship.sinks.base import Batch, SinkError
from logship.sinks.elasticsearch.spec import ElasticsearchSinkConfig
from logship.sinks.gzip_body import gzip_compress
from logship.timestamps import utc_second

CONTENT_TYPE = "application/x-ndjson"
_DOCUMENT_OPEN = b'{"@timestamp":"'  # the record's RECORD_OPEN with the first key renamed
_URL_SAFE = bytes.maketrans(b"+/", b"-_")  # base64 → base64url (binascii's C, then one translate)
# What ES refuses in an index name (besides upper case and a leading -, _ or +).
_INDEX_FORBIDDEN = re.compile(r'[\\/*?"<>| ,#:]')


# --- encode -------------------------------------------------------------------------------------


def _container_key(container_id: Any, stream: Any) -> bytes:
    """The ``_id`` key's first part, which a container's lines (of one stream) share."""
    return f"{container_id}\x1f{stream}\x1f".encode("utf-8", "surrogatepass")


def _line_key(timestamp: Any, ordinal: Any, message: Any) -> bytes:
    """The rest of the ``_id`` key, the line's own."""
    return f"{timestamp}\x1f{'' if ordinal is None else ordinal}\x1f{message}".encode("utf-8", "surrogatepass")


def document_id(container_id: str, stream: str, timestamp: str, ordinal: int | None, message: str) -> str:
    """The ``_id`` of one line (see the module docstring): 22 URL-safe base64 characters."""
    key = _container_key(container_id, stream) + _line_key(timestamp, ordinal, message)
    return _id_of(_blake2b(key, digest_size=16).digest()).decode("ascii")


def _id_of(digest: bytes) -> bytes:
    """The ``_id`` of a 16-byte digest: its first 22 base64url characters (no padding)."""
    return _b64(digest, newline=False)[:22].translate(_URL_SAFE)


def is_dated(index: str) -> bool:
    """Whether the index setting has strftime patterns (``%%`` is a literal ``%``)."""
    return "%" in index.replace("%%", "")


class IndexNames:
    """The ``_index`` of each record: a constant, or the pattern formatted with the record's UTC time.

    Formatting is cached per second of timestamp (a batch spans few of them); the result is lower-cased,
    because ES index names must be (``%b`` would give ``Nov``).
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.dated = is_dated(pattern)
        self._cache: dict[str, bytes] = {}

    def json(self, timestamp: Any) -> bytes:
        """The index name as a JSON string (bytes) for the record with ``timestamp``."""
        if not self.dated:
            cached = self._cache.get("")
            if cached is None:
                cached = self._cache[""] = orjson.dumps(self.pattern)
            return cached
        key = timestamp[:19] if isinstance(timestamp, str) and timestamp.endswith("Z") else timestamp
        cached = self._cache.get(key) if isinstance(key, str) else None
        if cached is None:
            when = utc_second(timestamp) if isinstance(timestamp, str) else None
            # A record always carries Docker's timestamp; without one (a bug elsewhere) "now" is the best guess.
            cached = orjson.dumps(format_index(self.pattern, when or datetime.now(UTC)))
            if isinstance(key, str):
                self._cache[key] = cached
        return cached


def format_index(pattern: str, when: datetime) -> str:
    """``pattern`` with its strftime patterns formatted for ``when`` (UTC), lower-cased."""
    return when.astimezone(UTC).strftime(pattern).lower() if is_dated(pattern) else pattern


def check_index(pattern: str) -> None:
    """Raise SinkError (not retriable) when ES would refuse the index names ``pattern`` gives."""
    sample = format_index(pattern, datetime(2026, 11, 25, 16, 32, 42, tzinfo=UTC))
    problem = None
    if sample != sample.lower():
        problem = "must be lower case"
    elif sample[:1] in ("-", "_", "+") or sample in (".", ".."):
        problem = "must not start with -, _ or +, nor be . or .."
    elif _INDEX_FORBIDDEN.search(sample):
        problem = 'must not contain \\ / * ? " < > | , # : or spaces'
    elif len(sample.encode()) > 255:
        problem = "must be at most 255 bytes"
    if problem:
        raise SinkError(f"LOGSHIP_ELASTICSEARCH_INDEX={pattern!r}: an Elasticsearch index or data stream name "
                        f"{problem} (gives {sample!r})", retriable=False)


def _renamed(record: bytes, fields: dict[str, Any]) -> bytes:
    """The document of a record whose ``timestamp`` does not come first: rebuilt with ``@timestamp`` first."""
    if "timestamp" not in fields:
        return record  # nothing to rename: ES says what is missing, for this item alone
    document = {"@timestamp": fields["timestamp"]}
    document.update((key, value) for key, value in fields.items() if key != "timestamp")
    return orjson.dumps(document)


def _id_parts(shared: dict[str, Any]) -> tuple[Any, Any]:
    """(container id, stream) of the ``_id``, from the fields a container's lines share."""
    container = shared.get("container")
    return container.get("id", "") if type(container) is dict else "", shared.get("stream", "")


def bulk_lines(batch: Batch, index: str) -> bytes:
    """The uncompressed NDJSON ``_bulk`` body for ``batch`` (see the module docstring).

    The hot loop of the sink: the document is the record's own bytes with the first key renamed, and a
    plain record (``Reader.split``: nothing parsed) costs the hash of its ``_id``, whose container part
    is hashed once per batch (``Shared.encoded``, ``_container_hash``). Other records are read for the
    ``_id``'s fields.
    Each record gives four pieces: its action up to the ``_id``, the ``_id``'s digest, the rest of the
    action, its document; the digests become ``_id`` text together after the loop (``_ids``).
    """
    names = IndexNames(index)
    constant_index = None if names.dated else names.json(None)
    action = b'\n{"create":{"_index":' + constant_index + b',"_id":"' if constant_index else b""
    reader = Reader()
    records = batch.records
    plains = reader.parts(records, levels=True)
    if isinstance(plains, Columns):
        # A dated index is named by the second of the timestamp: the whole batch's way needs Docker's "Z".
        if action or all(map(bytes.endswith, plains.stamps, repeat(b"Z"))):
            return _whole_batch(plains, records, names, action)
        plains = plains.plains()
    pieces: list[bytes] = []
    prefix, prefix_length = RECORD_OPEN, len(RECORD_OPEN)
    for record, plain in zip(records, plains, strict=True):
        if plain is not None:
            shared, stamp, _, text, _ = plain  # a lone level changes neither _id nor document
            container_hash = shared.encoded
            if container_hash is None:
                container_hash = shared.encoded = _container_hash(shared.fields)
            hasher = container_hash.copy()
            hasher.update(stamp + b"\x1f\x1f" + text)
            pieces += (action or _action_open(names.json(stamp.decode())), hasher.digest(),
                       _PLAIN_DOCUMENT_OPEN, record[prefix_length:])
            continue
        line = reader.read(record)
        if line.undecodable:
            # Not a record (a bug elsewhere): sent as a bare message, which ES refuses for that item alone
            # (no @timestamp), so it is dead-lettered instead of blocking the sink.
            record = orjson.dumps(line.head)
        shared = line.shared
        container_hash = shared.encoded
        if container_hash is None:
            container_hash = shared.encoded = _container_hash(shared.fields)
        head = line.head
        part = head.get("partial")
        ordinal = part.get("ordinal") if type(part) is dict else None
        hasher = container_hash.copy()
        hasher.update(_line_key(head.get("timestamp", ""), ordinal, head.get("message", "")))
        pieces += (action or _action_open(names.json(head.get("timestamp"))), hasher.digest(), _ACTION_CLOSE,
                   _DOCUMENT_OPEN + record[prefix_length:] if record.startswith(prefix)
                   else _renamed(record, line.fields()))
    return _body(pieces)


def _body(pieces: list[bytes]) -> bytes:
    """The body of a batch's pieces, four per record (see ``bulk_lines``), the digests made ``_id`` text."""
    if not pieces:
        return b""
    pieces[1::4] = _ids(pieces[1::4])
    pieces[0] = pieces[0][1:]  # the first action starts the body: no newline before it
    pieces.append(b"\n")
    return b"".join(pieces)


def _whole_batch(columns: Columns, records: list[bytes], names: IndexNames, action: bytes) -> bytes:
    """``bulk_lines`` of a batch of plain records (``Columns``), in passes over whole lists: the same four
    pieces per record as the loop, each kind made for all records at once."""
    shareds, stamps, _, texts = columns
    container_hashes = columns.encodings(_container_hash)
    # Each record's hash: its container's, copied, then its own part of the key (see _container_hash).
    hashers = list(map(_COPY, map(container_hashes.__getitem__, shareds)))
    separators = repeat(b"\x1f\x1f", len(records))  # the empty ordinal between timestamp and message
    deque(map(_UPDATE, hashers, map(b"".join, zip(stamps, separators, texts, strict=True))), 0)
    actions: Iterable[bytes]
    if action:
        actions = repeat(action, len(records))
    else:  # a dated index: the action of each second of the batch, made once
        seconds = list(map(_SECOND_OF, stamps))
        firsts = dict(zip(seconds, stamps, strict=True))
        opens = {second: _action_open(names.json(stamp.decode())) for second, stamp in firsts.items()}
        actions = map(opens.__getitem__, seconds)
    pieces = [b""] * (4 * len(records))
    pieces[0::4] = actions
    pieces[1::4] = map(_DIGEST, hashers)
    pieces[2::4] = repeat(_PLAIN_DOCUMENT_OPEN, len(records))
    pieces[3::4] = map(_AFTER_OPEN, records)
    return _body(pieces)


_COPY, _UPDATE, _DIGEST = _blake2b.copy, _blake2b.update, _blake2b.digest
_SECOND_OF = itemgetter(slice(0, 19))  # what IndexNames keys its names by
_AFTER_OPEN = itemgetter(slice(len(RECORD_OPEN), None))


_ACTION_CLOSE = b'"}}\n'
_PLAIN_DOCUMENT_OPEN = _ACTION_CLOSE + _DOCUMENT_OPEN


def _action_open(index_json: bytes) -> bytes:
    """A ``create`` action up to its ``_id``'s text, after the newline that ends the previous document."""
    return b'\n{"create":{"_index":%b,"_id":"' % index_json


def _ids(digests: list[bytes]) -> list[bytes]:
    """The ``_id`` of each 16-byte digest (``_id_of``), in one base64 pass: each digest padded with two zero
    bytes is 18 bytes, six whole base64 groups, whose first 22 characters are the digest's own."""
    text = _b64(b"\0\0".join(digests) + b"\0\0", newline=False).translate(_URL_SAFE)
    return [text[start:start + 22] for start in range(0, len(text), 24)]


def _container_hash(fields: dict[str, Any]) -> _blake2b:
    """The hash of the container's part of the ``_id`` key (``container.id ␟ stream ␟``), kept in
    ``Shared.encoded``. Each line's hash is a copy of it, updated with the rest of the key: the same digest
    as the whole key's (``document_id``), without setting up a blake2b state per line (which costs more
    than hashing the line: 0.42 against 0.32 µs per line)."""
    return _blake2b(_container_key(*_id_parts(fields)), digest_size=16)


def encode(batch: Batch, config: ElasticsearchSinkConfig) -> tuple[bytes, dict[str, str]]:
    """The gzip-compressed ``_bulk`` body for ``batch`` and its content headers."""
    body = gzip_compress(bulk_lines(batch, config.index))
    return body, {"Content-Type": CONTENT_TYPE, "Content-Encoding": "gzip"}
