"""The parse stage of one stream: lines (timestamp, text) → records, as ``LineAssembler`` makes them.

``LineAssembler`` hands every whole line of a stream to its ``StreamParser`` (runs of ordinary lines
through ``run``, other lines through ``line``) and appends what comes back to its output, in order.
Parts of a line longer than ``LOGSHIP_MAX_LINE_BYTES`` are not parsed: ``passthrough`` ends a held
event first so that order is kept.

Per line (see ``logship.record`` for the fields): drop (``LOGSHIP_DROP``: the event is not shipped,
``filtered`` counts its lines), redact, then JSON/logfmt (``structured``) and the level (``levels``).
A joined event has ``log.lines`` and ``log.end`` (its last line's timestamp: where the stream's
position is after it, read back by ``record_position``), its first line's timestamp and level; a
stack trace without a level of its own is ``error``.

**The hot path.** A run of lines is scanned at once, in C: one regular expression for the line
starts that need a look (``{``, a level token, the start of a trace) and ``str.find`` for the words of
an exception line; the lines in between are encoded in bulk exactly as without this stage. Only the
lines found, and every line while an event is held, go through the joiner one by one.
"""

from __future__ import annotations

import calendar
import re
import time
from bisect import bisect_right
from itertools import accumulate, repeat
from operator import add
from typing import Any, Protocol

import orjson

from logship.parse import levels
from logship.parse.detectors import AUTO, CANDIDATE_WORDS
from logship.parse.joiner import Joiner, Mark
from logship.parse.settings import ParseSettings
from logship.parse.structured import Parsed, parse_json, parse_logfmt

_OPEN = b'{"timestamp":"'
_MESSAGE = b'","message":'
_END = r"(?=[\s:|\]]|$)"
# Line starts worth a look when levels are parsed: JSON, brackets, glog, a timestamp, level=, a level word
# (levels.LEADING decides). Grouped by first letter: the alternatives are tried at every line start.
_LEVEL_STARTS = (r"[{\[<(]|[IWEF]\d{4} |\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d|l(?:evel|vl)=|severity="
                 r"|T(?:RACE" + _END + r")|DEBUG" + _END + r"|INFO" + _END + r"|NOTICE" + _END
                 + r"|WARN(?:ING)?" + _END + r"|E(?:RR(?:OR)?|MERG)" + _END + r"|CRIT(?:ICAL)?" + _END
                 + r"|FATAL" + _END + r"|PANIC" + _END + r"|SEVERE" + _END + r"|ALERT" + _END)
# Line starts of the traces that begin with a fixed text, and (group "frame") the first frame of the
# traces that begin at an exception line: the line before it is the one to look at.
_TRACE_STARTS = (r"Traceback \(|panic: |fatal error: |(?:PHP )?(?:Fatal error|Parse error|Warning|Notice):"
                 r"|(?P<frame>[ \t]+(?:at \S|from \S|---> ))")


class _Stream(Protocol):
    suffix: bytes
    done_ts: bytes
    done_count: int


class StreamParser:
    """Parses and joins the lines of one stream of one container (see the module docstring)."""

    __slots__ = (
        "_any_word",
        "_first",
        "_joiner",
        "_leading",
        "_level",
        "_out",
        "_parse",
        "_settings",
        "_slow",
        "_stream",
        "_words",
        "filtered",
    )

    def __init__(self, settings: ParseSettings, stream: _Stream) -> None:
        self._settings = settings
        self._stream = stream
        self._out: list[bytes] = []
        self.filtered = 0
        self._parse = settings.parse
        self._level = settings.parse != "none"
        # A level from a plain line's leading token: not in json mode (its lines are JSON; others as they are).
        self._leading = settings.parse in ("auto", "logfmt")
        detector = settings.multiline
        self._joiner = Joiner(detector, settings.max_lines, settings.max_bytes, self._emit) if detector else None
        auto = detector is AUTO
        # Every line goes through the slow path when any line may matter: a user's start pattern, logfmt,
        # drop and redact look at each line.
        self._slow = ((detector is not None and not auto) or settings.parse == "logfmt" or settings.drop is not None
                      or settings.redact is not None)
        starts = [_LEVEL_STARTS] if self._leading else [r"\{"] if self._level else []
        if auto:
            starts.append(_TRACE_STARTS)
        # After a "\n": one search over "\n" + a run's lines joined with "\n" (the literal "\n" first lets
        # the regular expression engine skip to the line starts; a "(?m)^" anchor tries every position).
        self._first = re.compile(r"(?m)\n(?:" + "|".join(starts) + ")") if starts else None
        # A line with one of these words may start a trace (held until the next line says): looked for in
        # single lines and in the last line of a run (in a run, a frame line points at the line before it).
        self._words = CANDIDATE_WORDS if auto else ()
        self._any_word = re.compile("|".join(CANDIDATE_WORDS)) if auto else None

    # --- lines in ---------------------------------------------------------------------------------

    def run(self, stamps: list[bytes], texts: list[str], out: list[bytes]) -> None:
        """A run of whole lines (``stamps[i]`` strictly increasing); the stream's done mark is the one
        before the first."""
        self._out = out
        stream = self._stream
        before: Mark = (stream.done_ts, stream.done_count)
        joiner = self._joiner
        count = len(texts)
        now = time.monotonic()
        if self._slow:
            for i in range(count):
                self._push(stamps[i], texts[i], before if i == 0 else (stamps[i - 1], 1), now)
            return
        hits: list[int] | None = None
        hit = 0
        i = 0
        while i < count:
            if joiner is not None and joiner.lines:
                joiner.push(stamps[i], texts[i], before if i == 0 else (stamps[i - 1], 1), now)
                i += 1
                continue
            if hits is None:
                hits = self._scan(texts, i)
                hit = 0
            while hit < len(hits) and hits[hit] < i:
                hit += 1
            stop = hits[hit] if hit < len(hits) else count
            if stop > i:
                out.extend(map(b"".join, zip(repeat(_OPEN), stamps[i:stop], repeat(_MESSAGE),
                                             map(orjson.dumps, texts[i:stop]), repeat(stream.suffix))))
                i = stop
            if i < count:
                self._push(stamps[i], texts[i], before if i == 0 else (stamps[i - 1], 1), now)
                i += 1

    def line(self, stamp: bytes, text: str, out: list[bytes]) -> None:
        """One whole line; the stream's done mark is the one before it."""
        self._out = out
        stream = self._stream
        if (self._slow or (self._joiner is not None and self._joiner.lines)
                or (self._first is not None and self._first.match("\n" + text))
                or (self._any_word is not None and self._any_word.search(text))):
            self._push(stamp, text, (stream.done_ts, stream.done_count), time.monotonic())
            return
        out.append(b"".join((_OPEN, stamp, _MESSAGE, orjson.dumps(text), stream.suffix)))

    def passthrough(self, out: list[bytes]) -> None:
        """A record that is not parsed follows (a part of a cut line): end a held event first."""
        self.flush(out)

    def flush(self, out: list[bytes]) -> None:
        """Emit a held event (the container stopped, or shutdown)."""
        if self._joiner is not None and self._joiner.lines:
            self._out = out
            self._joiner.flush(time.monotonic())

    def expire(self, now: float, out: list[bytes]) -> None:
        """Emit a held event that waited longer than the timeout."""
        joiner = self._joiner
        if joiner is not None and joiner.lines and now - joiner.touched >= self._settings.timeout:
            self._out = out
            joiner.flush(now)

    def deadline(self) -> float | None:
        """When a held event times out (monotonic), or None."""
        joiner = self._joiner
        return joiner.touched + self._settings.timeout if joiner is not None and joiner.lines else None

    def held_mark(self) -> Mark | None:
        """The stream's position while an event is held: just before its first line; else None."""
        joiner = self._joiner
        mark = joiner.held_mark if joiner is not None else None
        if mark is None or mark[0]:
            return mark
        return just_before(joiner.stamp), 1  # type: ignore[union-attr]  # held since the stream's first line

    def snapshot(self) -> Any:
        """State for ``restore`` (taken before every chunk: the joiner's only when it holds an event)."""
        joiner = self._joiner
        return (joiner.snapshot() if joiner is not None and joiner.lines else None), self.filtered

    def restore(self, snapshot: Any) -> None:
        """Go back to a ``snapshot``."""
        joiner, self.filtered = snapshot
        if self._joiner is not None:
            self._joiner.restore(joiner)  # None: it held nothing

    # --- inside -----------------------------------------------------------------------------------

    def _push(self, stamp: bytes, text: str, mark: Mark, now: float) -> None:
        joiner = self._joiner
        # A JSON line starts no built-in trace: past the joiner when nothing is held.
        if joiner is not None and (joiner.lines or text[:1] != "{" or not self._words):
            joiner.push(stamp, text, mark, now)
        else:
            self._emit(stamp, stamp, [text])

    def _scan(self, texts: list[str], start: int) -> list[int]:
        """Indexes (≥ start) of the lines that need a look, in order: one regular expression over the run.

        Called once per run of ordinary lines, which in a steady stream is a read of a few lines: the
        common answer (nothing to look at) costs one search and one word search, nothing per line.
        """
        lines = texts[start:] if start else texts
        found: list[int] = []
        first = self._first
        if first is not None:
            joined = "\n" + "\n".join(lines)
            if first.search(joined) is not None:
                # Where each line starts in the joined text: after its "\n", past the lines before it.
                starts = list(map(add, accumulate(map(len, lines), initial=0), range(1, len(lines) + 2)))
                for match in first.finditer(joined):
                    index = bisect_right(starts, match.start() + 1) - 1
                    if match.lastgroup != "frame":
                        found.append(index)
                    elif index:  # the exception line before the first frame
                        found.append(index - 1)
        if self._any_word is not None and self._any_word.search(lines[-1]):
            found.append(len(lines) - 1)  # the next run may start with its frames
        if not found:
            return found
        return sorted({index + start for index in found})

    def _emit(self, stamp: bytes, end: bytes, lines: list[str]) -> None:
        settings = self._settings
        text = lines[0] if len(lines) == 1 else "\n".join(lines)
        if settings.drop is not None and settings.drop.search(text):
            self.filtered += len(lines)
            return
        if settings.redact is not None:
            text = settings.redact(text)
        log = b""
        attributes = None
        message = text
        if len(lines) > 1:
            level = levels.leading(text) if self._leading else None
            if level is None and self._level and settings.multiline is not None and settings.multiline.traces:
                level = "error"
            head = b'{"level":"%b",' % level.encode() if level else b"{"
            log = b',"log":' + head + b'"lines":%d,"end":"%b"}' % (len(lines), end)
        elif self._level:
            parsed: Parsed | None = None
            if self._parse == "logfmt":
                parsed = parse_logfmt(text, settings.message_keys, settings.level_keys)
            elif text[:1] == "{":
                parsed = parse_json(text, settings.message_keys, settings.level_keys)
            if parsed is not None:
                message, level, attributes = parsed
            else:
                level = levels.leading(text) if self._leading else None
            if level is not None:
                log = b',"log":{"level":"%b"}' % level.encode()
        self._out.append(b"".join((_OPEN, stamp, _MESSAGE, orjson.dumps(message), log,
                                   b',"attributes":' + attributes if attributes else b"", self._stream.suffix)))


def just_before(stamp: bytes) -> bytes:
    """The fixed-form timestamp one nanosecond before ``stamp`` (a position before any line at ``stamp``)."""
    nanos = int(stamp[20:29])
    if nanos:
        return stamp[:20] + b"%09d" % (nanos - 1) + b"Z"
    seconds = calendar.timegm(time.strptime(stamp[:19].decode(), "%Y-%m-%dT%H:%M:%S")) - 1
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode() + b".999999999Z"
