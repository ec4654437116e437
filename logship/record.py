"""The record: one NDJSON object (bytes, no trailing newline), the unit the collector writes, the buffer
keeps and every sink reads. This module owns its layout; sinks read records only through it.

Layout (built by ``logship.collect.lines``; parsing adds the bracketed per-line fields)::

    {"timestamp":"<30-byte RFC3339Nano>","message":<JSON string>[,"partial":{"ordinal":n,"last":bool}]
     [,"log":{["level":"<level>",]"lines":N,"end":"<timestamp>"}|,"log":{"level":"<level>"}][,"attributes":{…}]
     ,"stream":"stdout|stderr",<metadata…>}

- ``timestamp``: Docker's, always 9 fraction digits and ``Z`` (``2026-11-25T16:32:42.123456789Z``).
- ``message``: the line without its newline, invalid UTF-8 replaced.
- ``partial``: only on the parts of a line longer than ``LOGSHIP_MAX_LINE_BYTES``.
- ``log.level`` (ECS): one of ``LEVELS``, absent when no level was found; ``log.lines``: only on a
  joined multiline event, how many Docker lines it holds (≥ 2; ``message`` is them joined with ``\\n``,
  ``timestamp`` the first one's), with ``log.end``: the last line's timestamp (where the event leaves
  its stream: ``collect.positions.record_position`` reads it back so that a restart does not read its lines again).
- ``attributes``: only when a JSON or logfmt line was parsed: the line's other keys, an object bounded
  by the parser, never empty. A record may have ``log`` without ``attributes`` and the reverse.
- ``stream`` and the container's metadata (``container``, ``service``, ``compose``, ``swarm``, ``host``,
  ``LOGSHIP_EXTRA_FIELDS``): the same for every line of one container and stream.

**The split invariant.** The first occurrence of the bytes ``,"stream":"`` in a record starts its
*shared suffix* (``,"stream":"stdout",<metadata>}``): byte for byte the same for every record of a
container and stream until its metadata changes. It holds because the message is a JSON string (no
unescaped ``"`` in it), ``partial`` and ``log`` are logship's own, and the parser renames a key
``stream`` inside ``attributes`` that is not first in its object (``stream`` → ``_stream``). So a
record splits in C speed into its per-line head (``record[:cut] + b"}"``) and its suffix, and the
suffix's fields are parsed once per batch (``Reader`` caches them keyed by the suffix bytes).

**The plain fast path.** Most records have no per-line field but ``timestamp`` and ``message``:
``{"timestamp":"<30 bytes>","message":"<JSON string>"`` then the shared suffix. ``Reader.split`` gives
such a record's parts as bytes, without parsing it: the timestamp (``record[14:44]``), the message as it
stands in the record (JSON-escaped, ready to be copied into JSON output) and its UTF-8 text (the same
bytes when nothing is escaped; decoded by orjson otherwise, which also proves the head is one JSON
string). Any other record gives None and is read with ``Reader.read``.

A record that is not in this layout (another key order, hand-made in a test) is read whole, and one
that is not a JSON object at all (never made by the collector) becomes ``{"message": <its text>}``
(``Line.undecodable``): it is shipped, not lost; each sink says in its docstring what the store does
with it.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain, compress, islice, repeat
from operator import contains, is_not, itemgetter, not_
from typing import Any, NamedTuple, TypeVar

import orjson

# The UTF-8 cutting every sink uses lives in logship.utf8; re-exported here, where sinks read records.
from logship.utf8 import complete_utf8_prefix as complete_utf8_prefix
from logship.utf8 import cut_utf8 as cut_utf8
from logship.utf8 import is_utf8
from logship.utf8 import split_utf8 as split_utf8
from logship.utf8 import utf8_boundary as utf8_boundary

SPLIT = b',"stream":"'
RECORD_OPEN = b'{"timestamp":"'
MESSAGE_OPEN = b'","message":"'  # after the 30-byte timestamp, at byte 44
_MESSAGE_AT = len(RECORD_OPEN) + 30 + len(MESSAGE_OPEN)  # 57: the message's first byte
_QUOTE = 0x22
_BACKSLASH = 0x5C
_BRACE = 0x7D  # }
LEVEL_OPEN = b'","log":{"level":"'  # a lone level after the message: ...","log":{"level":"info"}
# The keys of the per-line head, in their order; every other key is shared (stream, metadata).
PER_LINE_KEYS = ("timestamp", "message", "partial", "log", "attributes")
_PER_LINE = frozenset(PER_LINE_KEYS)
LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")
# OpenTelemetry SeverityNumber of each level (SeverityText is the level in upper case).
OTLP_SEVERITY = {"trace": 1, "debug": 5, "info": 9, "warn": 13, "error": 17, "fatal": 21}
# Syslog severity (RFC 5424 §6.2.1) of each level; GELF's ``level`` is the same number.
SYSLOG_SEVERITY = {"trace": 7, "debug": 7, "info": 6, "warn": 4, "error": 3, "fatal": 2}
_LEVEL_TEXT = {level.encode(): level for level in LEVELS}
_RECENT = 4  # shared parts compared in place before a dictionary look-up (see Reader)
MAX_SHARED = 4096  # distinct suffixes cached per batch (a batch of one container holds one or two)
_SHORTEST_RUN = 32  # records per run, on average, below which a host's batch is not split into runs
_SAMPLE_EVERY = 64  # records between those whose suffixes tell a host's batch from one container's
_RUNS_TO_JUDGE = 4  # runs found before their average length decides (a batch may start with a short one)

_Encoded = TypeVar("_Encoded")


class Shared:
    """What every record of one container and stream shares: ``stream`` and the metadata.

    ``fields`` is the suffix as a dict (``{"stream": …, "container": {…}, …}``); do not change it.
    ``key`` is the suffix's bytes (or a canonical JSON of the fields for a record read whole): equal
    keys, equal fields. ``encoded`` is a slot for a sink's own encoding of the shared part, made once
    per batch (each sink uses its own ``Reader``).
    """

    __slots__ = ("encoded", "fields", "key", "stream")

    def __init__(self, key: bytes, fields: dict[str, Any]) -> None:
        self.key = key
        self.fields = fields
        stream = fields.get("stream")
        self.stream: str | None = stream if isinstance(stream, str) else None
        self.encoded: Any = None

    def copy_fields(self) -> dict[str, Any]:
        """A deep copy of ``fields``, for code that consumes what it reads."""
        copy: dict[str, Any] = orjson.loads(b"{" + self.key[1:] if self.key[:1] == b"," else orjson.dumps(self.fields))
        return copy


class Line:
    """One record as a sink reads it: the per-line fields and the ``Shared`` part.

    ``head`` is the per-line dict (``timestamp``, ``message``, and ``partial``, ``log``, ``attributes``
    when present); values are as the record has them (a hand-made record may hold a non-string
    ``message``: each sink converts it as its docstring says). ``undecodable``: the record was not a
    JSON object (see ``decode``).
    """

    __slots__ = ("head", "shared")
    undecodable = False
    _whole: dict[str, Any] | None = None  # a record read whole: its fields in their own order

    def __init__(self, head: dict[str, Any], shared: Shared) -> None:
        self.head = head
        self.shared = shared

    @property
    def timestamp(self) -> Any:
        """Docker's timestamp text (None when the record has none)."""
        return self.head.get("timestamp")

    @property
    def message(self) -> Any:
        """The message (a str in every record the collector makes)."""
        return self.head.get("message")

    @property
    def stream(self) -> str | None:
        """``stdout`` or ``stderr`` (None when the record has none)."""
        return self.shared.stream

    @property
    def partial(self) -> dict[str, Any] | None:
        """``{"ordinal": n, "last": bool}`` on a part of a cut line, else None."""
        value = self.head.get("partial")
        return value if type(value) is dict else None

    @property
    def level(self) -> str | None:
        """``log.level``: one of ``LEVELS``, or None."""
        log = self.head.get("log")
        level = log.get("level") if type(log) is dict else None
        return level if level in OTLP_SEVERITY else None

    @property
    def lines(self) -> int | None:
        """``log.lines``: how many Docker lines a joined multiline event holds, else None."""
        log = self.head.get("log")
        lines = log.get("lines") if type(log) is dict else None
        return lines if type(lines) is int else None

    @property
    def attributes(self) -> dict[str, Any] | None:
        """The parsed line's other keys (an object), or None."""
        value = self.head.get("attributes")
        return value if type(value) is dict and value else None

    @property
    def extra(self) -> dict[str, Any]:
        """The per-line fields but timestamp and message (``partial``, ``log``, ``attributes``), in order."""
        head = self.head
        if len(head) <= 2 and "timestamp" in head and "message" in head:
            return {}
        return {key: value for key, value in head.items() if key != "timestamp" and key != "message"}

    def fields(self) -> dict[str, Any]:
        """The whole record as one new dict, its keys in the record's order."""
        if self._whole is not None:
            return dict(self._whole)
        return {**self.head, **self.shared.fields}


class _WholeLine(Line):
    """A record not in the collector's layout, read whole."""

    __slots__ = ("_whole", "undecodable")

    def __init__(self, head: dict[str, Any], shared: Shared, undecodable: bool, whole: dict[str, Any]) -> None:
        super().__init__(head, shared)
        self.undecodable = undecodable
        self._whole = whole


def decode(record: bytes) -> tuple[dict[str, Any], bool]:
    """The record's fields and whether it failed to decode: a record that is not a JSON object becomes
    ``{"message": <its text, invalid UTF-8 replaced>}``, shipped rather than lost."""
    try:
        value = orjson.loads(record)
    except orjson.JSONDecodeError:
        value = None
    if type(value) is not dict:
        return {"message": record.decode("utf-8", "replace")}, True
    return value, False


class Reader:
    """Reads the records of one batch; the shared part of each container and stream is parsed once.

    Use one per batch and per sink (``Shared.encoded`` holds that sink's encoding).
    """

    __slots__ = ("_last", "_recent", "_shared")

    def __init__(self) -> None:
        self._shared: dict[bytes, Shared | None] = {}
        self._last: Shared | None = None  # the previous record's: a batch is mostly runs of one container
        # The latest few others (a container's stdout and stderr interleave): compared in place, which
        # costs less than slicing the suffix out and hashing it for the dictionary.
        self._recent: list[Shared] = []

    def read(self, record: bytes) -> Line:
        """``record`` as a ``Line`` (see the module docstring for records not in the layout)."""
        found = self.shared_of(record)
        if found is None:
            return self._whole(record)
        shared, cut = found
        try:
            head = orjson.loads(record[:cut] + b"}")
        except orjson.JSONDecodeError:
            return self._whole(record)
        if type(head) is dict and _PER_LINE.issuperset(head):
            return Line(head, shared)
        return self._whole(record)

    def shared_of(self, record: bytes) -> tuple[Shared, int] | None:
        """The record's ``Shared`` and where its suffix starts; None when it is not in the layout."""
        shared = self._last
        if shared is not None and record.endswith(shared.key):
            return shared, len(record) - len(shared.key)
        cut = record.find(SPLIT)
        if cut <= 0:
            return None
        length = len(record) - cut
        for shared in self._recent:
            if len(shared.key) == length and record.endswith(shared.key):
                self._last = shared
                return shared, cut
        suffix = record[cut:]
        shared = self._shared[suffix] if suffix in self._shared else self._suffix(suffix)
        if shared is None:
            return None
        self._last = shared
        self._recent.insert(0, shared)
        del self._recent[_RECENT:]
        return shared, cut

    def split(self, records: list[bytes], levels: bool = False, whole: bool = True) -> list[Plain | None]:
        """Each record as ``Plain`` parts (the module docstring's fast path), or None for a record whose
        head holds more than timestamp and message, or that is not in the layout (read it with ``read``).
        With ``levels``, a record whose only parsed field is its level (``"log":{"level":"…"}``, the
        commonest parsed line) is split too, its level the last part (else always None).

        A batch ``columns`` takes is split by it (``whole``: False when the caller has asked it already and
        it declined); any other batch in one pass in Python, then every escaped message of the batch decoded
        by one ``orjson.loads`` of them all as a JSON array: a call per line would cost more than the rest
        of the line's work.
        """
        if whole and records:  # a batch with a lone level ends some records otherwise: ``columns`` declines it
            columns = self.columns(records)
            if columns is not None:
                return columns.plains()
        out: list[Plain | None] = []
        append = out.append
        escaped: list[int] = []
        last = self._last
        key = last.key if last is not None else b""
        length = len(key)
        for record in records:
            # The previous record's suffix first (a batch is mostly runs of one container); the key and its
            # length are locals, refreshed when the suffix changes: this loop runs for every line of every sink.
            if length and record.endswith(key):
                cut = len(record) - length
            else:
                found = self.shared_of(record)
                if found is None:
                    append(None)
                    continue
                last, cut = found
                key = last.key
                length = len(key)
            end = cut - 1  # the message's closing quote, when nothing follows it
            if record[end] == _QUOTE:
                level = None
            else:
                # A per-line object ends the head (partial, log, attributes): only a lone level is split.
                at = record.rfind(LEVEL_OPEN, _MESSAGE_AT, cut) if levels and record[end] == _BRACE else -1
                level = _LEVEL_TEXT.get(record[at + len(LEVEL_OPEN):cut - 2]) if at > 0 else None
                if level is None or record[cut - 2] != _QUOTE:
                    append(None)
                    continue
                end = at
            stamp = record[14:44]
            # Another layout, or an escape in the timestamp (not Docker's): read it whole.
            if not record.startswith(MESSAGE_OPEN, 44) or not record.startswith(RECORD_OPEN) or _BACKSLASH in stamp:
                append(None)
                continue
            raw = record[_MESSAGE_AT:end]
            if _BACKSLASH in raw:  # an int: a memchr, several times faster than looking for b"\\"
                escaped.append(len(out))
            elif _QUOTE in raw or not (raw.isascii() or is_utf8(raw)):
                append(None)  # an unescaped quote ends the string: other keys follow the message
                continue
            append((last, stamp, raw, raw, level))  # type: ignore[arg-type]  # set: length > 0
        self._last = last
        if escaped:
            _unescape(out, escaped)
        return out

    def columns(self, records: list[bytes], runs: bool = False) -> Columns | None:
        """``split`` of a batch whose every record is plain and ends with one of at most two suffixes (one
        container's stdout and stderr: the common batch), or with one suffix per run of records (a host's
        batch: its containers' reads one after the other, ``_runs``; with ``runs`` only: for a sink that
        writes such a batch at once, where a loop over the columns would cost more than the split's), as
        ``Columns``, in a few passes in C over the whole batch instead of a Python loop per record; None
        when a record is not like that, or there is none (``split`` then looks at each).

        The messages are checked as ``split`` checks them (``_texts``: without a backslash, no quote and
        UTF-8; with one, all of them decoded as one JSON array, which written again must give the same
        bytes: no quote ends a message early, the escapes are the collector's), so every part is exactly
        what the loop would give.
        """
        if not records:
            return None
        # One container's batch by its two suffixes at once, unless a sample shows a host's; a host's (or
        # one the sample missed) by its runs, when asked for.
        parts = None if runs and self._sample_shows_a_host(records) else self._of_two_suffixes(records)
        if parts is None and runs:
            found_runs = self._runs(records)
            parts = _of_runs(records, found_runs) if found_runs is not None else None
        if parts is None:
            return None
        shareds, raws = parts
        stamps = _stamps(records)
        if stamps is None or _BACKSLASH in b"".join(stamps):
            return None
        texts = _texts(raws)
        if texts is None:
            return None
        self._last = shareds[-1]
        return Columns(shareds, stamps, raws, texts)

    def _of_two_suffixes(self, records: list[bytes]) -> tuple[list[Shared], list[bytes]] | None:
        """Each record's shared part and raw message, for a batch whose every record ends with its message's
        closing quote and one of two suffixes (one container's stdout and stderr), in a few passes in C;
        None for any other batch."""
        found = self.shared_of(records[0])
        if found is None:
            return None
        shared = found[0]
        quoted = b'"' + shared.key
        ends = list(map(bytes.endswith, records, repeat(quoted)))
        if all(ends):
            cut = -len(quoted)
            return [shared] * len(records), [record[_MESSAGE_AT:cut] for record in records]
        found = self.shared_of(records[ends.index(False)])
        if found is None or found[0] is shared:
            return None
        other = found[0]
        other_quoted = b'"' + other.key
        if not all(map(bytes.endswith, compress(records, map(not_, ends)), repeat(other_quoted))):
            return None  # more containers
        cut, other_cut = -len(quoted), -len(other_quoted)
        raws = [record[_MESSAGE_AT:cut if end else other_cut] for record, end in zip(records, ends, strict=True)]
        return list(map({True: shared, False: other}.__getitem__, ends)), raws

    def _sample_shows_a_host(self, records: list[bytes]) -> bool:
        """Whether every ``_SAMPLE_EVERY``-th record of the batch, and its last, end with more than two
        suffixes: a host's batch (its containers' reads one after the other), which ``_runs`` takes; one
        container's (stdout and stderr) is taken at once by its two suffixes. A record not in the layout
        says no: ``columns`` then finds it."""
        seen: set[int] = set()
        for record in (*islice(records, 0, None, _SAMPLE_EVERY), records[-1]):
            found = self.shared_of(record)
            if found is None:
                return False
            seen.add(id(found[0]))
        return len(seen) > 2

    def _runs(self, records: list[bytes]) -> list[tuple[int, int, Shared]] | None:
        """The batch as runs of one suffix each (start, end, shared part), every record of a run checked to
        end with its message's closing quote and the suffix; None when a record has none, or when runs are
        short (a loop per record costs less than a few calls per run then). A run's end is guessed by
        doubling steps, then halving (a few ``endswith`` per run), then one pass in C checks the run up to
        the guess and ends it at its first record of another suffix: the guess overshoots when the run's
        container comes back later in the batch."""
        runs: list[tuple[int, int, Shared]] = []
        count = len(records)
        most = count // _SHORTEST_RUN + 1
        checked = 0  # records looked at by the passes: past a few times the batch, the loop does better
        start = 0
        while start < count:
            found = self.shared_of(records[start])
            if found is None or len(runs) == most or checked > 4 * count:
                return None
            shared = found[0]
            quoted = b'"' + shared.key
            step, low, high = 1, start + 1, start + 1  # the run reaches low; high is the next record to try
            while high < count and records[high].endswith(quoted):
                low = high + 1
                step *= 2
                high = start + step
            high = min(high, count)
            while low < high:  # the first record of another suffix, between low and high
                middle = (low + high) // 2
                if records[middle].endswith(quoted):
                    low = middle + 1
                else:
                    high = middle
            ends = list(map(bytes.endswith, islice(records, start, low), repeat(quoted)))
            checked += low - start
            if not ends[0]:  # its first record is not plain (a level, another key): the loop's
                return None
            end = start + ends.index(False) if False in ends else low
            runs.append((start, end, shared))
            start = end
            # Runs much shorter than that so far (a host whose containers mix stdout and stderr): stop early.
            if len(runs) == _RUNS_TO_JUDGE and start < _SHORTEST_RUN // 2 * _RUNS_TO_JUDGE:
                return None
        return runs

    def parts(self, records: list[bytes], levels: bool = False) -> Columns | list[Plain | None]:
        """The batch as ``Columns`` when every record is plain (one container's batch or a host's in long
        runs at once in C, a host's in short runs through the split loop and ``Columns.of``), else as
        ``split`` gives it (``levels`` as there)."""
        columns = self.columns(records, runs=True)
        if columns is not None:
            return columns
        plains = self.split(records, levels=levels, whole=False)
        return Columns.of(plains) or plains

    def body_or_split(self, records: list[bytes], whole: Callable[[Columns], bytes | None],
                      runs: bool = False) -> bytes | list[Plain | None]:
        """The body ``whole`` writes from the batch's ``columns`` (one container's plain records, or with
        ``runs`` a host's in long runs: a sink's way for the whole batch at once), or, when there are no
        columns or ``whole`` declines them (None), the batch as ``split`` gives it with levels, for the
        sink's loop per record."""
        columns = self.columns(records, runs=runs)
        if columns is None:
            return self.split(records, levels=True, whole=False)
        body = whole(columns)
        return columns.plains() if body is None else body

    def _suffix(self, suffix: bytes) -> Shared | None:
        try:
            fields = orjson.loads(b"{" + suffix[1:])
        except orjson.JSONDecodeError:
            fields = None
        # A suffix holding a per-line key again is not the layout: such records are read whole.
        shared = Shared(suffix, fields) if type(fields) is dict and _PER_LINE.isdisjoint(fields) else None
        if len(self._shared) < MAX_SHARED:
            self._shared[suffix] = shared
        return shared

    def _whole(self, record: bytes) -> Line:
        whole, undecodable = decode(record)
        fields = dict(whole)
        head = {key: fields.pop(key) for key in PER_LINE_KEYS if key in fields}
        key = b"\0" + orjson.dumps(fields)  # never equal to a suffix, which starts with ","
        shared = self._shared.get(key)
        if shared is None:
            shared = Shared(key, fields)
            if len(self._shared) < MAX_SHARED:
                self._shared[key] = shared
        return _WholeLine(head, shared, undecodable, whole)


# A plain record's parts: (shared part, timestamp bytes, message as escaped in the record, message as UTF-8,
# its level or None: see Reader.split).
Plain = tuple[Shared, bytes, bytes, bytes, str | None]


class Columns(NamedTuple):
    """A batch whose every record is plain (``Reader.columns``): its records' parts as ``Plain`` gives them,
    one list per part, so that a sink builds its body in passes over whole lists (``map`` and ``join`` in
    C) rather than a Python loop per line. ``stamps`` are the 30 bytes between the record's opening and its
    message, unchecked beyond holding no escape: Docker's form in every record the collector makes."""

    shareds: list[Shared]
    stamps: list[bytes]
    raws: list[bytes]
    texts: list[bytes]

    def plains(self) -> list[Plain | None]:
        """The batch as ``Reader.split`` gives it: one ``Plain`` per record."""
        return list(zip(*self, repeat(None)))

    def encodings(self, make: Callable[[dict[str, Any]], _Encoded]) -> dict[Shared, _Encoded]:
        """Each shared part's encoding for the sink writing the batch, in the order of their first records:
        ``Shared.encoded``, made by ``make`` from its fields the first time (once per batch, as the sinks'
        loops make it)."""
        encodings: dict[Shared, _Encoded] = {}
        for shared in dict.fromkeys(self.shareds):
            encoded = shared.encoded
            if encoded is None:
                encoded = shared.encoded = make(shared.fields)
            encodings[shared] = encoded
        return encodings

    def dockers_stamps(self) -> bool:
        """Whether every timestamp is Docker's own form to its end (30 bytes, nine digits of fraction, "Z"):
        what the sinks' whole-batch ways read fixed slices of (the second at ``[:20]``, the fraction at
        ``[20:29]``), and where bytes compare as times do."""
        stamps = self.stamps
        joined = b"".join(stamps)
        return (len(joined) == 30 * len(stamps) and not joined[29::30].strip(b"Z")
                and all(joined[at::30].isdigit() for at in range(20, 29)))

    @classmethod
    def of(cls, plains: list[Plain | None]) -> Columns | None:
        """The columns of a batch ``Reader.split`` gave as ``plains``; None unless every record is plain
        with no level. ``Reader.columns`` takes one container's batch in C; a host's batch holds several
        containers' reads one after the other, which the split loop follows at about that cost (it
        compares each record with the previous one's suffix first), so this turns its answer into columns
        for the sinks that write whole lists at once."""
        if not plains or None in plains:
            return None
        shareds, stamps, raws, texts, levels = zip(*plains, strict=True)  # no None: checked above
        if levels.count(None) != len(levels):
            return None
        return cls(list(shareds), list(stamps), list(raws), list(texts))


class Runs:
    """The runs of a batch's ``Columns.shareds`` (records of one shared part one after the other), to pick
    a group's items (its ``members``' records, in batch order: a Loki stream's, an OTLP resource's) out
    of a column: slices of its runs where the batch is in long runs of several containers (a host's: a
    mask per group would be a few passes over the batch per container), a mask otherwise (one
    container's stdout and stderr, interleaved line by line). ``distinct``: how many shared parts."""

    __slots__ = ("_shareds", "_spans")

    def __init__(self, shareds: list[Shared], distinct: int) -> None:
        self._shareds = shareds
        self._spans: list[tuple[int, int]] | None = None
        if distinct > 2:
            count = len(shareds)
            starts = [0, *compress(range(1, count), map(is_not, shareds, islice(shareds, 1, None)))]
            if len(starts) * 16 <= count:
                self._spans = list(zip(starts, [*starts[1:], count], strict=True))

    def picker(self, members: list[Shared]) -> Callable[[list[Any]], list[Any]]:
        """What picks the records of ``members`` out of a column."""
        shareds = self._shareds
        if self._spans is None:
            mask = list(map(contains, repeat(members), shareds))
            return lambda column: list(compress(column, mask))
        spans = [(start, end) for start, end in self._spans if shareds[start] in members]
        return lambda column: list(chain.from_iterable(column[start:end] for start, end in spans))


def _of_runs(records: list[bytes], runs: list[tuple[int, int, Shared]]) -> tuple[list[Shared], list[bytes]]:
    """Each record's shared part and raw message, for a batch in ``runs`` (``Reader._runs``)."""
    shareds: list[Shared] = []
    raws: list[bytes] = []
    for start, end, shared in runs:
        shareds += repeat(shared, end - start)
        raws += map(itemgetter(slice(_MESSAGE_AT, -1 - len(shared.key))), records[start:end])
    return shareds, raws


def _stamps(records: list[bytes]) -> list[bytes] | None:
    """The 30 bytes between each record's ``RECORD_OPEN`` and its ``MESSAGE_OPEN`` (at byte 44); None unless
    every record opens so. The records' heads are joined and each byte of the two openings compared at a
    stride, all records at once (27 passes in C): half what a ``startswith`` per record and opening costs."""
    heads = list(map(_HEAD, records))
    joined = b"".join(heads)
    count = len(heads)
    if len(joined) != _MESSAGE_AT * count:  # a record too short to hold them
        return None
    for at in _OPENING_AT:
        if joined[at::_MESSAGE_AT] != _OPENING[at:at + 1] * count:
            return None
    return list(map(_STAMP, heads))


_HEAD = itemgetter(slice(0, _MESSAGE_AT))
_STAMP = itemgetter(slice(len(RECORD_OPEN), len(RECORD_OPEN) + 30))
_OPENING = RECORD_OPEN + b"\0" * 30 + MESSAGE_OPEN  # the bytes every record's head holds, but its timestamp
_OPENING_AT = (*range(len(RECORD_OPEN)), *range(len(RECORD_OPEN) + 30, _MESSAGE_AT))


def _decoded(raws: list[bytes]) -> list[str] | None:
    """The texts of messages as escaped in records, decoded by one ``orjson.loads`` of them all as a JSON
    array; None unless each is exactly one JSON string as the collector escapes it. The collector escapes
    with orjson: written again, the texts give the same array byte for byte, unless an odd record's quote
    moved the boundaries between them (or it escapes otherwise, as \\u0041)."""
    array = b'["' + b'","'.join(raws) + b'"]'
    try:
        texts = orjson.loads(array)
    except orjson.JSONDecodeError:
        return None
    if type(texts) is list and len(texts) == len(raws) and orjson.dumps(texts) == array:
        return texts
    return None


def _texts(raws: list[bytes]) -> list[bytes] | None:
    """The UTF-8 texts of messages as escaped in records, as ``split`` gives them; None unless each is one
    JSON string as the collector escapes it. Without a backslash in any, each text is its raw bytes (the
    same objects: no copy, as ``split`` does) once no quote ends one early and all are UTF-8; else all
    are decoded at once (``_decoded``). Joined with newlines (neither a quote nor a backslash, and no
    part of a UTF-8 sequence) so one check in C covers them all."""
    joined = b"\n".join(raws)
    if _BACKSLASH not in joined:  # an int: a memchr
        if _QUOTE in joined or not (joined.isascii() or is_utf8(joined)):
            return None
        return raws
    texts = _decoded(raws)
    return None if texts is None else list(map(str.encode, texts))


def _unescape(out: list[Plain | None], escaped: list[int]) -> None:
    """Give the ``escaped`` entries of ``out`` their decoded text; one that is not exactly one JSON string
    (other keys between message and stream in a hand-made record) becomes None."""
    items: list[Plain] = [out[index] for index in escaped]  # type: ignore[misc]
    texts = _decoded([item[2] for item in items])
    if texts is not None:
        # Every text is a str (an array of strings written again): one tuple per line, no test.
        for index, (shared, stamp, raw, _, level), text in zip(escaped, items, texts, strict=True):
            out[index] = (shared, stamp, raw, text.encode(), level)
        return
    for index, item in zip(escaped, items, strict=True):  # one of them spoils the array: each on its own
        try:
            value = orjson.loads(b'"' + item[2] + b'"')
        except orjson.JSONDecodeError:
            value = None
        out[index] = (item[0], item[1], item[2], value.encode(), item[4]) if type(value) is str else None


def timestamp_text(record: bytes) -> str | None:
    """The timestamp of a record in the collector's layout, read from its first bytes; None otherwise."""
    if not record.startswith(RECORD_OPEN):
        return None
    end = record.find(b'"', len(RECORD_OPEN), len(RECORD_OPEN) + 64)
    return record[len(RECORD_OPEN):end].decode("utf-8", "replace") if end > 0 else None
