"""The multiline joiner of one stream: lines in, events out, in order.

An event is a start line (``Detector.start``) and the lines that continue it (``Detector.follow``).
It ends at the first line that does not continue it (that line is then looked at anew: it may start
the next event), at ``max_lines`` or ``max_bytes`` (the line that would pass the bound is looked at
anew), at ``expire`` (the timeout: nothing came for that long), and at ``flush`` (the container
stopped, or shutdown). Lines held on ``MAYBE`` (a blank line that a chained traceback may follow) are
joined if the next line continues the event, and otherwise come out as lines of their own.

``emit(stamp, end, lines)`` receives every event and every other line, in the order of their first
lines: ``stamp`` is the first line's timestamp, ``end`` the last one's, ``lines`` the texts (one for
a line that is not part of an event).

**Crash safety.** ``held_mark`` is the watermark just before the first held line (what the caller
passed with it): while something is held, the stream's checkpoint must not go past it, so a restart
reads the held lines again rather than losing them. ``snapshot``/``restore`` take the joiner back
with the line assembler when a chunk's records could not be stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from logship.parse.detectors import JOIN, MAYBE, Detector

Mark = tuple[bytes, int]
Emit = Callable[[bytes, bytes, list[str]], None]


class Joiner:
    """Joins the lines of one stream into events (see the module docstring)."""

    __slots__ = ("_detector", "_emit", "_max_bytes", "_max_lines", "end", "lines", "mark", "size", "stamp", "state",
                 "tentative", "touched")

    def __init__(self, detector: Detector, max_lines: int, max_bytes: int, emit: Emit) -> None:
        self._detector = detector
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self._emit = emit
        self.lines: list[str] = []  # the held event's lines; empty: nothing held
        self.tentative: list[tuple[bytes, str, Mark]] = []
        self.stamp = b""
        self.end = b""
        self.mark: Mark = (b"", 0)
        self.size = 0
        self.state: Any = None
        self.touched = 0.0

    def push(self, stamp: bytes, text: str, mark: Mark, now: float) -> None:
        """One line; ``mark`` is the stream's watermark just before it."""
        if self.lines:
            verdict, state = self._detector.follow(self.state, text)
            if verdict == JOIN:
                size = self.size + len(text.encode()) + 1 + sum(len(t[1].encode()) + 1 for t in self.tentative)
                if len(self.lines) + len(self.tentative) < self._max_lines and size <= self._max_bytes:
                    self.lines.extend(t[1] for t in self.tentative)
                    self.tentative.clear()
                    self.lines.append(text)
                    self.end = stamp
                    self.size = size
                    self.state = state
                    self.touched = now
                    return
            elif verdict == MAYBE:
                self.tentative.append((stamp, text, mark))
                self.state = state
                self.touched = now
                return
            self._release(now)
        state = self._detector.start(text)
        if state is None:
            self._emit(stamp, stamp, [text])
            return
        self.lines = [text]
        self.stamp = self.end = stamp
        self.mark = mark
        self.size = len(text.encode())
        self.state = state
        self.touched = now

    def flush(self, now: float) -> None:
        """Emit what is held (the container stopped, shutdown, or the timeout passed)."""
        while self.lines:
            self._release(now)

    def _release(self, now: float) -> None:
        lines, self.lines = self.lines, []
        tentative, self.tentative = self.tentative, []
        self._emit(self.stamp, self.end, lines)
        for stamp, text, mark in tentative:
            self.push(stamp, text, mark, now)

    @property
    def held_mark(self) -> Mark | None:
        """The watermark before the first held line, or None when nothing is held."""
        return self.mark if self.lines else None

    def snapshot(self) -> tuple[Any, ...]:
        """The joiner's state, for ``restore``."""
        return (self.lines[:], self.tentative[:], self.stamp, self.end, self.mark, self.size, self.state,
                self.touched)

    def restore(self, snapshot: tuple[Any, ...] | None) -> None:
        """Go back to a ``snapshot``; None: to holding nothing (the other fields matter only while lines are
        held, and ``push`` sets them all when an event starts)."""
        if snapshot is None:
            self.lines = []
            self.tentative = []
            return
        lines, tentative, self.stamp, self.end, self.mark, self.size, self.state, self.touched = snapshot
        self.lines = lines[:]
        self.tentative = tentative[:]
