"""Frames → records: skip what was already delivered, join split lines, encode NDJSON.

Per stream (stdout and stderr are independent: their timestamps interleave out of order) the
assembler keeps a *watermark*: the newest timestamp seen and how many frames carried exactly it.

- **Skipping.** ``since`` is inclusive and the resume starts a little before the watermark, and
  json-file rotation replays already-sent entries with their original timestamps. So a frame older
  than the watermark is dropped, and at the watermark's own timestamp the first ``count`` frames are
  dropped (they were delivered before); ``skip`` holds how many are still to drop. Within one
  stream only the 16 KiB pieces of one line share a timestamp, so any other frame at the
  watermark is a replay too (a rotation replay can start exactly at the last line sent).
- **Joining.** dockerd logs a line longer than 16 KiB as entries of exactly 16384 bytes without a
  newline, all with the first entry's timestamp; the ``local`` driver also drops the final newline
  of such lines. So a 16384-byte entry without newline is held, and the next frame of the same
  stream continues it only if it has the same timestamp. Any other entry without newline (the end
  of a line at exit) is a line of its own. Lines longer than ``max_line_bytes`` are cut into parts
  marked ``"partial":{"ordinal":n,"last":bool}``, never dropped. Invalid UTF-8 is replaced after
  joining, so a character split across entries survives.
- **Checkpointing.** ``marks()`` gives, per stream, the watermark of the last frame whose line has
  been emitted in full: held pieces of an unfinished line are never checkpointed, so a crash
  repeats them rather than losing them.
- **Records stored → marks advance.** Decoding moves the watermark at once (the skip rule needs
  it), so the caller takes ``state()`` before it decodes a chunk and, when the records could not be
  stored (the buffer append failed), puts it back with ``restore()``: the watermark, ``since()``
  and ``marks()`` are then those of the last stored records, and the lines that failed are read
  again, not skipped as replays. One snapshot per chunk, none per line.

Records are built by splicing: the container's metadata is serialised once per stream into
``suffix``; per line only the timestamp and the JSON-escaped message are new bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import Any

import orjson

from logship.collect.frames import FRAME_HEADER, FRAME_HEADER_SIZE, PARTIAL_CHUNK, STREAM_NAMES, Frame
from logship.collect.positions import (
    FIXED_TIMESTAMP_LENGTH,
    RECORD_MESSAGE,
    RECORD_OPEN,
    TIMESTAMP_CHARS,
    Mark,
    is_fixed_timestamp,
    normalise_timestamp,
    now_timestamp,
    since_parameter,
)
from logship.parse.settings import ParseSettings
from logship.parse.stage import StreamParser
from logship.record import complete_utf8_prefix

# take_run: where a whole line's pieces sit in a multiplexed frame: header, 30-byte timestamp, a space,
# message, "\n".
_STAMP_START = FRAME_HEADER_SIZE
_STAMP_END = _STAMP_START + FIXED_TIMESTAMP_LENGTH
_MESSAGE_START = _STAMP_END + 1
_SHORTEST_LINE_FRAME = FIXED_TIMESTAMP_LENGTH + 2  # timestamp, space, "\n"


# The _Stream fields a failed store puts back (everything but the metadata suffix).
_STATE_FIELDS = ("count", "done_count", "done_ts", "lines", "parts", "pending_count", "pending_size",
                 "pending_ts", "skip", "timestamp")
_get_state = attrgetter(*_STATE_FIELDS)


class _Stream:
    """Watermark, skip budget and the held pieces of an unfinished line, for one stream."""

    __slots__ = ("count", "done_count", "done_ts", "lines", "parse", "parts", "pending", "pending_count",
                 "pending_size", "pending_ts", "skip", "suffix", "timestamp")

    def __init__(self, mark: Mark | None) -> None:
        self.timestamp = mark.timestamp if mark else b""
        self.count = mark.count if mark else 0
        self.skip = self.count
        # The watermark of the last frame whose line was emitted in full (b"": none yet).
        self.done_ts = self.timestamp
        self.done_count = self.count
        self.suffix = b"}"
        self.pending: list[bytes] = []
        self.pending_ts = b""
        self.pending_size = 0
        self.pending_count = 0
        self.parts = 0  # parts of the current long line already emitted
        self.lines = 0  # lines emitted, moved to metrics by the caller
        self.parse: StreamParser | None = None  # logship.parse: joins and parses the whole lines


@dataclass(slots=True)
class AssemblerState:
    """What ``LineAssembler.state()`` took: per stream (the stream, its fields, a copy of its held pieces or
    None when it held none, the parse stage's snapshot or None), and the assembler's counts. Not frozen:
    a frozen dataclass costs twice as much to make, and one is made for every chunk read."""

    streams: list[tuple[Any, ...]]
    counts: tuple[int, int, int, int]


class LineAssembler:
    """Turns decoded frames of one container into NDJSON records (bytes, no trailing newline)."""

    def __init__(self, metadata: Mapping[str, Any], marks: Mapping[str, Mark], max_line_bytes: int,
                 parse: ParseSettings | None = None) -> None:
        self.max_line_bytes = max_line_bytes
        self._streams: dict[int, _Stream] = {
            sid: _Stream(marks.get(name)) for sid, name in STREAM_NAMES.items()}
        if parse is not None and parse.active:
            for stream in self._streams.values():
                stream.parse = StreamParser(parse, stream)
        # The streams' parse stages (none when parsing is off): what the per-chunk questions below loop over.
        self._parsers = tuple(stream.parse for stream in self._streams.values() if stream.parse is not None)
        self.set_metadata(metadata)
        # Counted here, moved to metrics once per chunk by the caller.
        self.skipped = 0
        self.cut = 0
        self.invalid_utf8 = 0
        self.bad_timestamps = 0

    def set_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Serialise the container's fields once; every record of the stream ends with them."""
        fields = orjson.dumps(metadata)
        tail = b"," + fields[1:] if len(fields) > 2 else b"}"
        for sid, stream in self._streams.items():
            stream.suffix = b',"stream":"' + STREAM_NAMES[sid].encode() + b'"' + tail

    def since(self) -> str:
        """The ``since`` to (re)open the logs stream with."""
        return since_parameter(Mark(s.done_ts, s.done_count) for s in self._streams.values() if s.done_ts)

    def has_seen(self, stream: int, timestamp: bytes) -> bool:
        """Whether a frame of ``stream`` at ``timestamp`` (as Docker wrote it) is one this assembler has
        already seen: the first one the skip rule drops after ``resume_from_seen``."""
        fixed = normalise_timestamp(timestamp)
        state = self._streams.get(stream)
        if fixed is None or state is None or not state.timestamp:
            return False
        return fixed < state.timestamp or (fixed == state.timestamp and state.count > 0)

    def resume_from_seen(self) -> None:
        """A new stream will replay from ``since()``: skip what this assembler has already seen."""
        for stream in self._streams.values():
            stream.skip = stream.count

    def state(self) -> AssemblerState:
        """A copy of the streams' positions and counts, to ``restore`` if the next records are not stored."""
        # Taken before every chunk (in a steady stream, a read of a few lines): a list comprehension, and
        # ``pending`` (a list feed() appends to) copied only when it holds pieces, which it seldom does.
        streams = [(stream, _get_state(stream), stream.pending[:] if stream.pending else None,
                    stream.parse.snapshot() if stream.parse is not None else None)
                   for stream in self._streams.values()]
        return AssemblerState(streams, (self.skipped, self.cut, self.invalid_utf8, self.bad_timestamps))

    def restore(self, state: AssemblerState) -> None:
        """Go back to ``state``: the records decoded since were not stored, so their frames count as
        unread (read again, not skipped) and their lines as not read."""
        for stream, values, pending, parse in state.streams:
            for name, value in zip(_STATE_FIELDS, values, strict=True):
                setattr(stream, name, value)
            stream.pending = pending[:] if pending is not None else []
            if stream.parse is not None:
                stream.parse.restore(parse)
        self.skipped, self.cut, self.invalid_utf8, self.bad_timestamps = state.counts

    def marks(self) -> dict[str, Mark]:
        """Per stream, the watermark up to which every line has been emitted.

        The rule ``Tailer._commit`` keeps: these marks are handed on (to the checkpoints) only once the
        records emitted up to them are stored in the buffer; when storing fails, ``restore`` takes the
        assembler back first. While the parse stage holds an unfinished multiline event, a stream's
        mark stays just before the event's first line.
        """
        marks = {}
        for sid, s in self._streams.items():
            held = s.parse.held_mark() if s.parse is not None else None
            if held is not None:
                marks[STREAM_NAMES[sid]] = Mark(*held)
            elif s.done_ts:
                marks[STREAM_NAMES[sid]] = Mark(s.done_ts, s.done_count)
        return marks

    def deadline(self) -> float | None:
        """When (``time.monotonic``) a held multiline event times out and ``expire`` emits it; None: none held."""
        deadlines = [d for parser in self._parsers if (d := parser.deadline())]
        return min(deadlines) if deadlines else None

    def expire(self, now: float) -> list[bytes]:
        """The held multiline events whose timeout has passed at ``now``."""
        out: list[bytes] = []
        for parser in self._parsers:
            parser.expire(now, out)
        return out

    def dropped_pending(self) -> bool:
        """Whether lines were dropped (``LOGSHIP_DROP``) since the last ``take_filtered``."""
        return any(parser.filtered for parser in self._parsers)

    def take_filtered(self) -> int:
        """Lines dropped by ``LOGSHIP_DROP``/``logship.drop`` since the last call."""
        total = 0
        for parser in self._parsers:
            total += parser.filtered
            parser.filtered = 0
        return total

    def lines_counted(self) -> int:
        """Lines counted since the last ``take_line_counts``, of every stream (the difference across a
        ``feed`` is how many lines a chunk held)."""
        return sum(stream.lines for stream in self._streams.values())

    def take_line_counts(self) -> dict[str, int]:
        """Records emitted per stream since the last call."""
        counts = {}
        for sid, stream in self._streams.items():
            counts[STREAM_NAMES[sid]], stream.lines = stream.lines, 0
        return counts

    def take_run(self, buf: bytes, pos: int, end: int, out: list[bytes]) -> int:
        """The fast path for multiplexed frames: append the records of the run of ordinary lines that
        starts at ``buf[pos]`` to ``out``; return where the run ends (``pos`` when there is none).

        An ordinary line is a frame of the run's stream, whole in ``buf[:end]``, with a 30-byte
        timestamp newer than the one before, a message ending in "\n" (not "\r\n") and no longer
        than ``max_line_bytes``, while the stream holds no unfinished line. Everything else (replays,
        pieces of long lines, other streams, bad timestamps, garbage) stops the run and is left to
        ``feed``, one frame at a time. Records, marks and counts come out exactly as ``feed`` makes
        them; the per-line work is a header, two slices and two comparisons, and the rest (timestamp
        check, UTF-8 decode, JSON escaping, splicing) is done for the whole run at once, in C.
        """
        if end - pos < _STAMP_END:
            return pos
        word = FRAME_HEADER.unpack_from(buf, pos)[0]
        state = None if word & 0xFFFFFF else self._streams.get(word >> 24)
        if state is None or state.pending:
            return pos
        unpack_from = FRAME_HEADER.unpack_from
        longest = self.max_line_bytes + FIXED_TIMESTAMP_LENGTH
        last = state.timestamp
        start = pos
        stamps: list[bytes] = []
        bodies: list[bytes] = []
        add_stamp = stamps.append
        add_body = bodies.append
        while end - pos >= _STAMP_END:
            frame_word, length = unpack_from(buf, pos)
            stop = pos + FRAME_HEADER_SIZE + length
            if (frame_word != word or stop > end or not _SHORTEST_LINE_FRAME <= length <= longest
                    or buf[stop - 1] != 10 or buf[stop - 2] == 13 or buf[pos + _STAMP_END] != 32):
                break
            stamp = buf[pos + _STAMP_START:pos + _STAMP_END]
            if stamp <= last:  # a replay, or garbage: feed() decides
                break
            last = stamp
            add_stamp(stamp)
            add_body(buf[pos + _MESSAGE_START:stop - 1])
            pos = stop
        if not stamps:
            return start
        joined = b"".join(stamps)
        if joined.translate(None, TIMESTAMP_CHARS) or joined[10::FIXED_TIMESTAMP_LENGTH] != b"T" * len(stamps):
            # Rare: keep the run up to the first bad timestamp; feed() handles that frame.
            good = next(i for i, stamp in enumerate(stamps) if not is_fixed_timestamp(stamp))
            if not good:
                return start
            del stamps[good:], bodies[good:]
            last = stamps[-1]
            pos = start
            for _ in range(good):
                pos += FRAME_HEADER_SIZE + unpack_from(buf, pos)[1]
        try:
            texts = list(map(bytes.decode, bodies))
        except UnicodeDecodeError:
            texts = list(map(self._text, bodies))
        if state.parse is None:
            out.extend(map(b"".join, zip(repeat(RECORD_OPEN), stamps, repeat(RECORD_MESSAGE),
                                         map(orjson.dumps, texts), repeat(state.suffix))))
        else:
            state.parse.run(stamps, texts, out)
        # As feed() leaves them after a run of strictly newer timestamps.
        state.timestamp = state.done_ts = last
        state.count = state.done_count = 1
        state.skip = 0
        state.lines += len(stamps)
        return pos

    def feed(self, frames: Iterable[Frame]) -> list[bytes]:
        """Records for every line completed by ``frames``."""
        out: list[bytes] = []
        append = out.append
        dumps = orjson.dumps
        join = b"".join
        max_line = self.max_line_bytes
        streams = self._streams
        for sid, payload in frames:
            state = streams[sid]
            space = payload.find(b" ", 0, 40)
            timestamp = payload[:space] if space > 0 else b""
            if space != FIXED_TIMESTAMP_LENGTH or timestamp.translate(None, TIMESTAMP_CHARS):
                fixed = normalise_timestamp(timestamp)
                if fixed is None:
                    # Keep the data: the whole payload is the message, at the stream's last time.
                    self.bad_timestamps += 1
                    self._emit(out, state, state.timestamp or now_timestamp(), [payload])
                    continue
                timestamp = fixed
            # Skip what was delivered before (resume overlap, rotation replay).
            if timestamp > state.timestamp:
                state.timestamp = timestamp
                state.count = 1
                state.skip = 0
            elif timestamp == state.timestamp:
                # Only the pieces of one long line share a timestamp: a frame at the watermark that
                # does not continue a held line is a replay (rotation replays may start right there).
                if state.skip or not state.pending:
                    state.skip -= state.skip > 0
                    self.skipped += 1
                    continue
                state.count += 1
            else:
                state.skip = state.count
                self.skipped += 1
                continue
            if state.pending:
                message = payload[space + 1:]
                if timestamp == state.pending_ts:
                    self._continue_line(out, state, message)
                    continue
                self._flush(out, state)
            elif payload[-1] == 10 and len(payload) - space <= max_line:
                # The common line, whole in one frame (ends in "\n"): encoded here rather than through
                # _emit (three calls fewer per line on the hot path). Same bytes as _emit/_encode produce.
                end = -2 if payload[-2] == 13 else -1  # "\r\n" (a TTY) or "\n"
                body = payload[space + 1:end]
                try:
                    text = body.decode()
                except UnicodeDecodeError:
                    text = body.decode("utf-8", "replace")
                    self.invalid_utf8 += 1
                state.lines += 1
                if state.parse is None:
                    append(join((RECORD_OPEN, timestamp, RECORD_MESSAGE, dumps(text), state.suffix)))
                else:
                    state.parse.line(timestamp, text, out)
                state.done_ts = timestamp
                state.done_count = state.count
                continue
            message = payload[space + 1:]
            if message.endswith(b"\n"):
                self._emit(out, state, timestamp, [message])
                state.done_ts = timestamp
                state.done_count = state.count
            elif len(message) == PARTIAL_CHUNK:
                state.pending = [message]
                state.pending_ts = timestamp
                state.pending_size = PARTIAL_CHUNK
                state.pending_count = state.count
            else:
                self._emit(out, state, timestamp, [message])
                state.done_ts = timestamp
                state.done_count = state.count
        return out

    def flush(self) -> list[bytes]:
        """The container stopped: held pieces are whole lines now (the next run starts anew)."""
        out: list[bytes] = []
        for state in self._streams.values():
            if state.pending:
                self._flush(out, state)
            if state.parse is not None:
                state.parse.flush(out)
        return out

    def _continue_line(self, out: list[bytes], state: _Stream, message: bytes) -> None:
        state.pending.append(message)
        state.pending_size += len(message)
        state.pending_count = state.count
        final = message.endswith(b"\n") or len(message) != PARTIAL_CHUNK
        # The newline is not part of the line: a line of exactly max_line_bytes stays whole.
        newline = (2 if message.endswith(b"\r\n") else 1) if final and message.endswith(b"\n") else 0
        while state.pending_size - newline > self.max_line_bytes:
            self._emit_part(out, state)
        if final:
            self._flush(out, state)

    def _flush(self, out: list[bytes], state: _Stream) -> None:
        if state.parts:
            self._emit_last_part(out, state)
        else:
            self._emit(out, state, state.pending_ts, state.pending)
        state.pending = []
        state.pending_size = 0
        state.done_ts = state.pending_ts
        state.done_count = state.pending_count

    def _emit_part(self, out: list[bytes], state: _Stream) -> None:
        """Emit the first max_line_bytes of the held line (cut at a character boundary); keep the rest."""
        joined = b"".join(state.pending)
        cut = complete_utf8_prefix(joined[:self.max_line_bytes])
        rest = joined[cut:]
        state.pending = [rest]
        state.pending_size = len(rest)
        state.parts += 1
        self.cut += state.parts == 1
        self._encode(out, state, state.pending_ts, joined[:cut],
                     b',"partial":{"ordinal":%d,"last":false}' % state.parts)

    def _emit_last_part(self, out: list[bytes], state: _Stream) -> None:
        state.parts += 1
        self._encode(out, state, state.pending_ts, _strip_newline(b"".join(state.pending)),
                     b',"partial":{"ordinal":%d,"last":true}' % state.parts)
        state.parts = 0

    def _emit(self, out: list[bytes], state: _Stream, timestamp: bytes, pieces: list[bytes]) -> None:
        message = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        message = _strip_newline(message)
        if len(message) > self.max_line_bytes:
            self._emit_cut(out, state, timestamp, message)
            return
        self._encode(out, state, timestamp, message, b"")

    def _emit_cut(self, out: list[bytes], state: _Stream, timestamp: bytes, message: bytes) -> None:
        self.cut += 1
        step = self.max_line_bytes
        start = 0
        ordinal = 0
        while start < len(message):
            stop = start + complete_utf8_prefix(message[start:start + step]) if start + step < len(
                message) else len(message)
            ordinal += 1
            last = stop >= len(message)
            marker = b',"partial":{"ordinal":%d,"last":%b}' % (ordinal, b"true" if last else b"false")
            self._encode(out, state, timestamp, message[start:stop], marker)
            start = stop

    def _text(self, message: bytes) -> str:
        """``message`` as text; invalid UTF-8 is replaced (and counted), never dropped."""
        try:
            return message.decode()
        except UnicodeDecodeError:
            self.invalid_utf8 += 1
            return message.decode("utf-8", "replace")

    def _encode(self, out: list[bytes], state: _Stream, timestamp: bytes, message: bytes,
                marker: bytes) -> None:
        text = self._text(message)
        state.lines += 1
        if state.parse is not None:
            if not marker:
                state.parse.line(timestamp, text, out)
                return
            state.parse.passthrough(out)
        out.append(b"".join((RECORD_OPEN, timestamp, RECORD_MESSAGE, orjson.dumps(text), marker, state.suffix)))


def _strip_newline(message: bytes) -> bytes:
    if message.endswith(b"\n"):
        message = message[:-2] if message.endswith(b"\r\n") else message[:-1]
    return message
