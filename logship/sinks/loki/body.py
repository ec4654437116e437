"""The ``loki`` sink, the request body: the protobuf ``PushRequest`` written record by record in one pass.

The wire format is described in ``logship.sinks.loki``; ``logship.sinks.loki.encode`` maps records to
streams, labels and structured metadata. This module is the hot loop: a container's labels and
structured metadata are encoded once per batch (``Shared.encoded``), and a plain record (``Reader.split``:
no per-line field but timestamp and message) costs its timestamp, its message bytes and a few lengths,
without parsing its JSON. A line with only a level reuses that level's metadata, made once per batch.
A batch of plain records (one container's, or a host's in long runs: ``Reader.columns(runs=True)``, the
commonest) is written in passes over whole lists instead (``_whole_batch``: 0.93 against the loop's
1.10 µs per line in ``python -m bench encode``; a real host's batch 0.85 of the loop's time).

``push_request`` gives the same bytes as ``encode_protobuf(streams(batch, config))`` (the tests compare
them); a stream whose records are out of time order (replicas of one service share a stream) is sorted
entry by entry at the end, and it takes that way itself for the rare batch that needs splitting (a line
longer than ``LOGSHIP_LOKI_MAX_LINE_BYTES``) and for the JSON-line form.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import compress, islice
from operator import gt, itemgetter, le, lt
from typing import Any

from logship.record import OTLP_SEVERITY, Columns, Reader, Runs, Shared
from logship.sinks.base import Batch, SinkError
from logship.sinks.gzip_body import gzip_compress
from logship.sinks.loki.encode import (
    ENCODINGS,
    LEVEL_KEY,
    Plan,
    Shape,
    encode_json,
    encode_protobuf,
    metadata_pair,
    pairs_pb,
    plan_of,
    shape_of,
    source,
    streams,
)
from logship.sinks.loki.spec import LokiSinkConfig
from logship.sinks.protowire import (
    CONTINUED,
    FIELD_2,
    VARINTS,
    length_delimited,
    repeated,
    timestamp_message,
    varint,
)
from logship.timestamps import docker_ns, docker_second, record_time_ns

_NANOS = 1_000_000_000


class _Stream:
    """One stream's encoded entries (five pieces each), in batch order, and their times; ``in_order``:
    whether batch order is time order (else ``sort`` puts them in it before they are written)."""

    __slots__ = ("in_order", "last", "pieces", "size", "times")

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.times: list[int] = []  # each entry's time (ns)
        self.size = 0  # bytes of the entries
        self.last = 0  # the latest entry's time (ns)
        self.in_order = True

    def sort(self) -> None:
        """The entries in time order, equal times in batch order (as ``streams`` sorts them)."""
        pieces = self.pieces
        self.pieces = [pieces[at] for entry in sorted(range(len(self.times)), key=self.times.__getitem__)
                       for at in range(5 * entry, 5 * entry + 5)]


def _stamp_field(message: bytes) -> bytes:
    """EntryAdapter.timestamp = 1: the key, the length and the ``google.protobuf.Timestamp`` message."""
    return b"\x0a" + VARINTS[len(message)] + message


def _timestamp(stamp: bytes, seconds: dict[bytes, tuple[Any, ...]]) -> tuple[int, bytes]:
    """(ns, the entry's timestamp field) of a record's timestamp. Docker's form adds its second to
    ``seconds`` (the batch's cache, read inline by ``push_request``): its Unix time in ns, then the field
    without nanoseconds, then for each length n (1..5) of the nanoseconds' varint, at 1 + n, the field up to it."""
    second = seconds.get(stamp[:20])
    if second is None or len(stamp) != 30 or stamp[29] != 0x5A or not stamp[20:29].isdigit():
        whole = docker_second(stamp)
        if whole is None:  # another form, or no such time ("now")
            ns = docker_ns(stamp)
            return ns, _stamp_field(timestamp_message(ns))
        field = b"\x08" + varint(whole) if whole else b""
        second = seconds[stamp[:20]] = (whole * _NANOS, _stamp_field(field), *(
            b"\x0a" + VARINTS[len(field) + 1 + size] + field + b"\x10" for size in range(1, 6)))
    nanos = int(stamp[20:29])
    if not nanos:
        return second[0], second[1]
    nanos_pb = varint(nanos)
    return second[0] + nanos, second[1 + len(nanos_pb)] + nanos_pb


def _level_metadata(shape: Shape, level: str, levels: dict[tuple[int, str], bytes]) -> bytes:
    """The structured metadata of a line whose only parsed field is ``level`` (``line_metadata``'s
    ``detected_level``, then the container's), kept in ``levels`` for the batch."""
    metadata_pb = levels[(id(shape), level)] = metadata_pair(LEVEL_KEY, level) + shape.metadata_pb
    return metadata_pb


def push_request(batch: Batch, config: LokiSinkConfig) -> bytes:
    """The uncompressed protobuf ``PushRequest`` for ``batch`` (see the module docstring)."""
    plan = plan_of(config)
    if not plan.structured_metadata or plan.line_labels:
        return encode_protobuf(streams(batch, config))
    reader = Reader()
    records = batch.records
    plains = reader.body_or_split(records, lambda columns: _whole_batch(columns, plan), runs=True)
    if isinstance(plains, bytes):
        return plains
    limit = plan.max_line_bytes
    groups: dict[str, _Stream] = {}
    shapes: dict[tuple[bytes, bytes], Shape] = {}
    levels: dict[tuple[int, str], bytes] = {}  # (id of a shape, level) → the entry's structured metadata
    seconds: dict[bytes, tuple[Any, ...]] = {}  # b"2026-11-25T16:32:42." → see _timestamp
    field_2, continued, varints = FIELD_2, CONTINUED, VARINTS
    last_shape: Shape | None = None
    stream = _Stream()
    # The stream's pieces and times, and its latest time below: locals while its records follow each other.
    pieces, times = stream.pieces, stream.times
    last_ns = 0
    for record, plain in zip(records, plains, strict=True):
        if plain is not None:
            shared, stamp, _, text, level = plain
            shape = shared.encoded
            if shape is None:
                shape = shared.encoded = shape_of(shared.fields, plan)
            if level is None:
                metadata_pb = shape.metadata_pb
            else:  # a lone level: its detected_level before the container's metadata, made once
                metadata_pb = levels.get((id(shape), level)) or _level_metadata(shape, level, levels)
            second = seconds.get(stamp[:20])
            fraction = stamp[20:29]
            if second is not None and stamp[29] == 0x5A and fraction.isdigit():  # "Z"
                nanos = int(fraction)
                ns = second[0] + nanos
                if nanos >= 268435456:  # 2**28 (three lines in four): a five-byte varint, written inline
                    stamp_field = (second[6] + continued[nanos & 16383] + continued[nanos >> 14 & 16383]
                                   + varints[nanos >> 28])
                elif nanos:
                    nanos_pb = varint(nanos)
                    stamp_field = second[1 + len(nanos_pb)] + nanos_pb
                else:
                    stamp_field = second[1]
            else:
                ns, stamp_field = _timestamp(stamp, seconds)
        else:
            line = reader.read(record)
            head = line.head
            log = head.get("log")
            message = head.get("message")
            if len(head) == 3 and type(log) is dict and len(log) == 1 and type(message) is str and (
                    log.get("level") in OTLP_SEVERITY):
                # A line whose only parsed field is its level (the commonest): that metadata made once.
                shared = line.shared
                shape = shared.encoded
                if shape is None:
                    shape = shared.encoded = shape_of(shared.fields, plan)
                metadata_pb = levels.get((id(shape), log["level"])) or _level_metadata(shape, log["level"], levels)
                time_text = head.get("timestamp")
                if type(time_text) is str:
                    ns, stamp_field = _timestamp(time_text.encode(), seconds)
                else:
                    ns = record_time_ns(time_text)
                    stamp_field = _stamp_field(timestamp_message(ns))
                text = message.encode()
            else:
                shape, ns, message, own_metadata = source(line, plan, shapes)
                metadata_pb = pairs_pb(own_metadata) + shape.metadata_pb if own_metadata else shape.metadata_pb
                text = message.encode()
                time_text = line.timestamp
                if type(time_text) is str:
                    ns, stamp_field = _timestamp(time_text.encode(), seconds)  # source()'s ns, from the cache
                else:
                    stamp_field = _stamp_field(timestamp_message(ns))
        length = len(text)
        if length > limit:
            return encode_protobuf(streams(batch, config))  # a line to split into parts
        if shape is not last_shape:
            stream.last = last_ns
            found = groups.get(shape.labels)
            if found is None:
                found = groups[shape.labels] = _Stream()
            stream, last_shape, pieces, times, last_ns = found, shape, found.pieces, found.times, found.last
        if ns < last_ns:
            # Out of time order (replicas of one service share a stream, and the buffer holds their reads
            # one after the other): the stream is sorted before it is written.
            stream.in_order = False
        last_ns = ns
        times.append(ns)
        line_key = field_2[length] if length < 16384 else b"\x12" + varint(length)
        # EntryAdapter {timestamp = 1; line = 2; structuredMetadata = 3}, as StreamAdapter.entries = 2
        size = len(stamp_field) + len(line_key) + length + len(metadata_pb)
        entry_key = field_2[size] if size < 16384 else b"\x12" + varint(size)
        pieces += (entry_key, stamp_field, line_key, text, metadata_pb)
        stream.size += len(entry_key) + size
    out: list[bytes] = []
    for labels in sorted(groups):
        found = groups[labels]
        if not found.in_order:
            found.sort()
        label_field = length_delimited(1, labels.encode())
        out += (b"\x0a", varint(len(label_field) + found.size), label_field)  # PushRequest.streams = 1
        out += found.pieces
    return b"".join(out)


def _whole_batch(columns: Columns, plan: Plan) -> bytes | None:
    """``push_request`` of a batch of plain records (``Reader.columns``: one container's, or a host's in
    long runs) in passes over whole lists (``map`` and ``join`` in C) but for one expression per line that
    writes its timestamp; None for a batch that needs the loop (a timestamp not Docker's, a line to
    split). The entries are those of the loop byte for byte: the streams by their labels, each stream's
    entries in batch order, or in time order (stable) where its runs are not (replicas of one service
    share a stream, and the buffer holds their reads one after the other)."""
    shareds, stamps, _, texts = columns
    if not columns.dockers_stamps():
        return None
    lengths = list(map(len, texts))
    # A line of 16 KiB or more takes a longer length field, and a longer one is split: the loop's.
    if max(lengths) > min(plan.max_line_bytes, 16383):
        return None
    count = len(stamps)
    # Where the batch goes back in time (none in one container's batch; one per run in a host's).
    descents = list(compress(range(1, count), map(gt, stamps, islice(stamps, 1, None))))
    stamp_fields = _stamp_fields(stamps, [*descents, count])
    if stamp_fields is None:
        return None
    shapes = columns.encodings(lambda fields: shape_of(fields, plan))
    metadata = {shared: shape.metadata_pb for shared, shape in shapes.items()}
    # EntryAdapter {timestamp = 1; line = 2; structuredMetadata = 3}, after its key and length
    entries = list(map(b"".join, zip(stamp_fields, map(FIELD_2.__getitem__, lengths), texts,
                                     map(metadata.__getitem__, shareds), strict=True)))
    sizes = list(map(len, entries))
    if max(sizes) >= 16384:
        return None
    keys = list(map(FIELD_2.__getitem__, sizes))
    streams_of: dict[str, list[Shared]] = {}
    for shared, shape in shapes.items():
        streams_of.setdefault(shape.labels, []).append(shared)
    runs = Runs(shareds, len(shapes)) if len(streams_of) > 1 else None
    out: list[bytes] = []
    for labels, members in sorted(streams_of.items()):
        if runs is None:
            stream_keys, stream_entries, stream_sizes, stream_stamps = keys, entries, sizes, stamps
        else:
            pick = runs.picker(members)
            stream_keys, stream_entries, stream_sizes = pick(keys), pick(entries), pick(sizes)
            stream_stamps = pick(stamps) if descents else stamps
        # Docker's timestamps compare as bytes as they do in time (_stamp_fields checked the seconds').
        if descents and not all(map(le, stream_stamps, islice(stream_stamps, 1, None))):
            order = sorted(range(len(stream_stamps)), key=stream_stamps.__getitem__)  # stable, as the loop's
            stream_keys, stream_entries = [stream_keys[at] for at in order], [stream_entries[at] for at in order]
        label_field = length_delimited(1, labels.encode())
        size = sum(stream_sizes) + sum(map(len, stream_keys))
        out += (b"\x0a", varint(len(label_field) + size), label_field)  # PushRequest.streams = 1
        out += repeated(stream_keys, stream_entries)  # StreamAdapter.entries = 2
    return b"".join(out)


def _stamp_fields(stamps: list[bytes], stretch_ends: list[int]) -> list[bytes] | None:
    """Each entry's ``EntryAdapter.timestamp`` field, for Docker's timestamps (``Columns.dockers_stamps``):
    the batch walked a second at a time (``bisect``) within each stretch in time order (ending at
    ``stretch_ends``: a host's batch holds one per run of a container), each second's field made once,
    the nanoseconds' varint (``protowire.varint``) written inline after it. None for a second that is no
    date, or when the seconds' bytes do not sort as their times (a hand-made "…:60." or hour 24, which
    Docker never writes): the loop, which sorts by time."""
    nanos = list(map(int, map(_FRACTION, stamps)))
    fields: list[bytes] = []
    seconds: dict[bytes, tuple[Any, ...]] = {}
    continued, varints = CONTINUED, VARINTS
    start = 0
    for stretch_end in stretch_ends:
        while start < stretch_end:
            second_key = stamps[start][:20]
            end = bisect_right(stamps, second_key + b"\xff", start, stretch_end)
            second = seconds.get(second_key)
            if second is None:
                _timestamp(stamps[start], seconds)
                second = seconds.get(second_key)
                if second is None:  # no such second
                    return None
            _, none, one, two, three, four, five = second
            fields += [five + continued[nano & 16383] + continued[nano >> 14 & 16383] + varints[nano >> 28]
                       if nano >= 268435456 else
                       (four if nano >= 2097152 else three) + continued[nano & 16383] + varints[nano >> 14]
                       if nano >= 16384 else (two if nano >= 128 else one) + varints[nano] if nano else none
                       for nano in nanos[start:end]]
            start = end
    times = [seconds[key][0] for key in sorted(seconds)]
    if not all(map(lt, times, islice(times, 1, None))):
        return None
    return fields


_FRACTION = itemgetter(slice(20, 29))


def encode(batch: Batch, config: LokiSinkConfig) -> tuple[bytes, dict[str, str]]:
    """The request body and its content headers for ``batch`` (see ``logship.sinks.loki``)."""
    if config.encoding == "json":
        body = gzip_compress(encode_json(streams(batch, config)))
        return body, {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    if config.encoding != "protobuf":
        raise SinkError(f"LOGSHIP_LOKI_ENCODING={config.encoding!r}: expected one of {', '.join(ENCODINGS)}",
                        retriable=False)
    import cramjam  # here: every sink package is imported at start (its spec), configured or not

    return bytes(cramjam.snappy.compress_raw(push_request(batch, config))), {"Content-Type": "application/x-protobuf"}
