"""Split a ``/containers/{id}/logs`` body into frames: ``(stream, payload)`` pairs.

Wire formats (dockerd 20.10, ``../shared/reference/engine-api.md`` §1, §3):

- Without a TTY the body is multiplexed: each log entry is one frame, an 8-byte header
  ``[stream u8][0 0 0][length u32 big-endian]`` and ``length`` payload bytes. Stream 1 is stdout,
  2 is stderr. With ``timestamps=1`` the payload is ``<RFC3339Nano> <message>``.
- With a TTY the body is raw: entries ``<RFC3339Nano> <message>`` back to back, all stdout. Lines
  end in ``\\r\\n``. An entry of a line longer than 16 KiB ends without a newline and the next entry's
  timestamp follows directly after its 16384 message bytes, so the decoder cuts there.

Both decoders are fed arbitrary slices of the body and keep what is incomplete for the next call.
Per-frame work is a header unpack and a slice. ``MuxDecoder.feed_records`` goes further: runs of
ordinary lines become records without a frame object at all (``LineAssembler.take_run``).
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterable
from typing import Protocol

STDOUT = 1
STDERR = 2
STREAM_NAMES = {STDOUT: "stdout", STDERR: "stderr"}
# dockerd's log copier buffer: a longer line is logged in entries of exactly this many bytes.
PARTIAL_CHUNK = 16384
# No real frame comes near this; a larger length means the framing is lost.
MAX_FRAME = 4 * 1024 * 1024

# A raw entry longer than this holds the timestamp of a following 16 KiB piece.
_LONG_ENTRY = PARTIAL_CHUNK + 32
# The header as two big-endian u32: the first is the stream in its top byte and zeros below, so one
# comparison both validates it and finds the stream (no slice per frame).
FRAME_HEADER = struct.Struct(">LL")
FRAME_HEADER_SIZE = FRAME_HEADER.size
_STDOUT_WORD = STDOUT << 24
_STDERR_WORD = STDERR << 24

Frame = tuple[int, bytes]


class Assembler(Protocol):
    """What turns frames into records (``logship.collect.lines.LineAssembler``)."""

    def feed(self, frames: Iterable[Frame]) -> list[bytes]: ...

    def take_run(self, buf: bytes, pos: int, end: int, out: list[bytes]) -> int: ...


class FramingLost(Exception):
    """The multiplexed stream cannot be decoded any further (a header that is not a header).

    What was decoded before the bad header is kept: ``frames`` (from ``feed``) or ``records``
    (from ``feed_records``).
    """

    def __init__(self, message: str, frames: list[Frame], records: list[bytes] | None = None) -> None:
        super().__init__(message)
        self.frames = frames
        self.records = records or []


class MuxDecoder:
    """Decoder for the multiplexed (non-TTY) logs stream.

    Malformed input is counted in ``malformed`` by reason and never raises except for a header
    that cannot be one (``FramingLost``): the reader then reconnects from its checkpoint.
    """

    def __init__(self) -> None:
        self._pending = b""
        self.malformed: Counter[str] = Counter()

    def feed(self, data: bytes) -> list[Frame]:
        """The complete frames in what was received so far."""
        buf = self._pending + data if self._pending else data
        frames: list[Frame] = []
        pos = 0
        try:
            while (frame := self._next_frame(buf, pos)) is not None:
                pos, stream, payload = frame
                if stream:
                    frames.append((stream, payload))
        except FramingLost as exc:
            exc.frames = frames
            raise
        self._pending = buf[pos:]
        return frames

    def feed_records(self, data: bytes, assembler: Assembler) -> list[bytes]:
        """The records of the lines completed by what was received so far: ``assembler.feed(feed(data))``
        with the same result, but runs of ordinary lines go through ``assembler.take_run`` (no tuple,
        slice or call per frame); the frames it leaves go through ``assembler.feed`` one by one."""
        buf = self._pending + data if self._pending else data
        records: list[bytes] = []
        take_run = assembler.take_run
        end = len(buf)
        pos = 0
        try:
            while True:
                pos = take_run(buf, pos, end, records)
                frame = self._next_frame(buf, pos)
                if frame is None:
                    break
                pos, stream, payload = frame
                if stream:
                    records += assembler.feed(((stream, payload),))
        except FramingLost as exc:
            exc.records = records
            raise
        self._pending = buf[pos:]
        return records

    def _next_frame(self, buf: bytes, pos: int) -> tuple[int, int, bytes] | None:
        """The frame at ``pos`` as (where it ends, stream or 0 when unknown, payload); None when it is
        not complete yet. Raises FramingLost at a header that cannot be one."""
        if len(buf) - pos < FRAME_HEADER_SIZE:
            return None
        word, length = FRAME_HEADER.unpack_from(buf, pos)
        if word & 0xFFFFFF or length > MAX_FRAME:
            self._pending = b""
            self.malformed["bad_header"] += 1
            raise FramingLost(f"bad frame header {bytes(buf[pos:pos + 8]).hex()}", [])
        stop = pos + FRAME_HEADER_SIZE + length
        if stop > len(buf):
            return None
        if word == _STDOUT_WORD:
            return stop, STDOUT, buf[pos + FRAME_HEADER_SIZE:stop]
        if word == _STDERR_WORD:
            return stop, STDERR, buf[pos + FRAME_HEADER_SIZE:stop]
        self.malformed["unknown_stream"] += 1
        return stop, 0, b""

    def finish(self) -> None:
        """The body ended: count what was left incomplete."""
        if self._pending:
            reason = "truncated_header" if len(self._pending) < FRAME_HEADER_SIZE else "truncated_frame"
            self.malformed[reason] += 1
            self._pending = b""


class RawDecoder:
    """Decoder for the raw (TTY) logs stream: every entry is stdout.

    An entry ends at its newline, or where dockerd put the timestamp of the next 16 KiB piece of a
    long line; what is held never grows much past one piece (a TTY progress bar redrawn with ``\r``
    is one endless line).
    """

    def __init__(self) -> None:
        self._pending = b""
        self.malformed: Counter[str] = Counter()

    def feed_records(self, data: bytes, assembler: Assembler) -> list[bytes]:
        """The records of the lines completed by what was received so far."""
        return assembler.feed(self.feed(data))

    def feed(self, data: bytes) -> list[Frame]:
        """The complete entries in what was received so far."""
        buf = self._pending + data if self._pending else data
        cut = buf.rfind(b"\n") + 1
        frames: list[Frame] = []
        start = 0
        while start < cut:
            stop = buf.index(b"\n", start) + 1  # bytes.splitlines would also split at a lone \r
            if stop - start > _LONG_ENTRY:
                frames.extend(_split_long_entry(buf[start:stop]))
            else:
                frames.append((STDOUT, buf[start:stop]))
            start = stop
        rest = buf[cut:]
        if len(rest) > _LONG_ENTRY:
            pieces = _split_long_entry(rest)
            frames.extend(pieces[:-1])
            rest = pieces[-1][1]
            if len(rest) > 2 * _LONG_ENTRY:
                # Not dockerd's shape (no timestamp after 16 KiB): release it rather than hold it forever.
                self.malformed["unterminated_entry"] += 1
                frames.append((STDOUT, rest))
                rest = b""
        self._pending = rest
        return frames

    def finish(self) -> list[Frame]:
        """The body ended: what is left is a last entry without a newline."""
        rest, self._pending = self._pending, b""
        if not rest:
            return []
        return _split_long_entry(rest) if len(rest) > _LONG_ENTRY else [(STDOUT, rest)]


def first_entry(data: bytes, tty: bool) -> tuple[int, bytes] | None:
    """(stream, timestamp as written) of the first entry at the start of a logs body, without consuming
    it; None when ``data`` is too short to tell or is not in either wire format."""
    start, stream = 0, STDOUT
    if not tty:
        if len(data) < FRAME_HEADER_SIZE:
            return None
        word, _ = FRAME_HEADER.unpack_from(data, 0)
        stream, start = word >> 24, FRAME_HEADER_SIZE
        if word & 0xFFFFFF or stream not in STREAM_NAMES:
            return None
    space = data.find(b" ", start, start + 64)
    return (stream, data[start:space]) if space > start else None


def _split_long_entry(entry: bytes) -> list[Frame]:
    """Cut a raw entry where dockerd put the timestamp of its next 16 KiB piece."""
    frames: list[Frame] = []
    while True:
        space = entry.find(b" ", 0, 64)
        if space < 0:
            break
        marker = entry[:space + 1]
        cut = space + 1 + PARTIAL_CHUNK
        if entry[cut:cut + len(marker)] != marker:
            break
        frames.append((STDOUT, entry[:cut]))
        entry = entry[cut:]
    frames.append((STDOUT, entry))
    return frames
