"""Multiline detectors: which line starts an event, and which lines continue it.

A detector is two functions over a line's text (no newline):

- ``start(text)`` → a state when the line starts (or may start) an event, else None;
- ``follow(state, text)`` → ``(verdict, state)``: ``JOIN`` (the line belongs to the event), ``MAYBE``
  (hold it: the next line decides, e.g. the blank line between two chained Python tracebacks), or
  ``END`` (the event is over; the line is a line of its own).

``auto`` joins only on continuation lines that cannot be anything else, and only after a start it
recognises. The formats (each runtime's own documentation and real output, see tests/parse/corpus):

- JVM (Java, Kotlin, Scala): a line naming an exception (``java.lang.IllegalStateException: boom``,
  ``Exception in thread "main" …``), then ``\\tat pkg.Class.method(File.java:12)``, ``Caused by: …``,
  ``\\tSuppressed: …``, ``\\t... 3 more`` / ``... 5 common frames omitted``;
- Node.js: ``TypeError: x`` then ``    at fn (/app/x.js:1:2)``; .NET: ``Unhandled exception.
  System.X: …`` then ``   at …``, `` ---> `` inner exceptions and ``--- End of … stack trace ---``;
  Ruby: ``app.rb:2:in 'foo': boom (RuntimeError)`` then ``\\tfrom app.rb:5:in '<main>'``. These all
  start at a line containing ``Exception``, ``Error`` or ``Throwable``: it is held until the next line
  says whether a frame follows (a *candidate*; alone, it is an ordinary line);
- Python: ``Traceback (most recent call last):``, indented frames, then the first line that is not
  indented (``ValueError: boom``); chained tracebacks (a blank line, ``During handling of the above
  exception, another exception occurred:`` or ``The above exception was the direct cause of the
  following exception:``, a blank line, ``Traceback …``) stay in one event;
- Go: ``panic: …`` or ``fatal error: …``, ``[signal …]``, then a blank line and ``goroutine N [state]:``
  blocks of ``pkg.func(…)`` lines, ``\t/path/file.go:12 +0x1d`` lines and ``created by …``;
- PHP: ``PHP Fatal error:  Uncaught …`` (or without ``PHP ``), then ``Stack trace:``, ``#0 …`` frames,
  ``  thrown in … on line N`` and ``Next …`` for chained exceptions.

``regex:<pattern>``: a line the pattern matches (``re.search``) starts an event; every other line
continues the event in progress (a line before any start is a line of its own).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

JOIN, MAYBE, END = 1, 2, 3

# States of the built-in formats.
_CANDIDATE, _FRAMES = "candidate", "frames"
_PY, _PY_DONE, _PY_DONE_BLANK = "py", "py-done", "py-done-blank"
_PY_CHAIN, _PY_CHAIN_BLANK = "py-chain", "py-chain-blank"
_GO, _GO_BLANK, _GO_ROUTINE, _GO_ROUTINE_BLANK = "go", "go-blank", "go-routine", "go-routine-blank"
_PHP, _PHP_FRAMES = "php", "php-frames"

PY_START = "Traceback (most recent call last):"
_PY_CHAINS = ("During handling of the above exception, another exception occurred:",
              "The above exception was the direct cause of the following exception:")
_GO_STARTS = ("panic: ", "fatal error: ")
_GOROUTINE = re.compile(r"goroutine \d+ \[[^\]]*\]:$")
_GO_FILE = re.compile(r"\t\S+\.go:\d+(?: \+0x[0-9a-f]+)?$|\t\?\?:0")
_GO_FRAME = re.compile(r"(?:[\w.\-/*()\[\]{}]|\.\.\.)+\(.*\)$|created by |\.\.\.additional frames elided\.\.\.$")
# Words one of which a JVM/Node/.NET/Ruby exception line contains.
CANDIDATE_WORDS = ("Exception", "Error", "Throwable")  # Ruby's "(SomeError)" included
_FRAME = re.compile(
    r"\s+at \S.*(?:\)|:\d+(?::\d+)?|:line \d+)$"  # JVM, Node.js, .NET frames: end in ")", ":12:7", ":line 3"
    r"|\tfrom \S.*:\d+:in "  # Ruby
    r"|\s*\.\.\. \d+ (?:more|common frames omitted)$"  # JVM
    r"|Caused by: \S|\s+Suppressed: \S"  # JVM
    r"| ---> \S|\s*--- End of .* ---$")  # .NET
_PHP_START = re.compile(r"(?:PHP )?(?:Fatal error|Parse error|Warning|Notice):\s+\S")
_PHP_TRACE = re.compile(r"(?:PHP )?Stack trace:$")
_PHP_FRAME = re.compile(r"(?:PHP )?(?:#\d+ \S|  thrown in .+ on line \d+$|Next \S)")


def auto_start(text: str) -> str | None:
    """The state of an event ``text`` may start (built-in formats), or None."""
    if text.startswith(PY_START):
        return _PY
    if text.startswith(_GO_STARTS):
        return _GO
    if _PHP_START.match(text):
        return _PHP
    if ("Exception" in text or "Error" in text or "Throwable" in text) and text[:1] not in (" ", "\t", ""):
        return _CANDIDATE
    return None


def auto_follow(state: str, text: str) -> tuple[int, Any]:
    """Whether ``text`` continues the event in ``state`` (see the module docstring)."""
    if state is _FRAMES or state is _CANDIDATE:
        return (JOIN, _FRAMES) if _FRAME.match(text) else (END, state)
    if state is _PY:
        if text[:1] in (" ", "\t"):
            return JOIN, _PY
        return (JOIN, _PY_DONE) if text else (END, state)
    if state is _PY_DONE:
        return (MAYBE, _PY_DONE_BLANK) if not text else (END, state)
    if state is _PY_DONE_BLANK:
        return (JOIN, _PY_CHAIN) if text in _PY_CHAINS else (END, state)
    if state is _PY_CHAIN:
        return (JOIN, _PY_CHAIN_BLANK) if not text else (END, state)
    if state is _PY_CHAIN_BLANK:
        return (JOIN, _PY) if text.startswith(PY_START) else (END, state)
    if state is _GO or state is _GO_ROUTINE:
        if not text:
            return MAYBE, _GO_BLANK if state is _GO else _GO_ROUTINE_BLANK
        if _GO_FILE.match(text) or (state is _GO and text.startswith(("[signal ", "\tpanic: "))):
            return JOIN, state
        if _GOROUTINE.match(text):
            return JOIN, _GO_ROUTINE
        if state is _GO_ROUTINE and _GO_FRAME.match(text):
            return JOIN, state
        return END, state
    if state is _GO_BLANK or state is _GO_ROUTINE_BLANK:
        return (JOIN, _GO_ROUTINE) if _GOROUTINE.match(text) else (END, state)
    if state is _PHP:
        return (JOIN, _PHP_FRAMES) if _PHP_TRACE.match(text) else (END, state)
    if state is _PHP_FRAMES:
        return (JOIN, state) if _PHP_FRAME.match(text) else (END, state)
    return END, state


class Detector:
    """A multiline mode: ``start`` and ``follow`` (see the module docstring), and ``traces``: whether
    the events it joins are stack traces (then an event without a level of its own is ``error``)."""

    __slots__ = ("follow", "start", "traces")

    def __init__(self, start: Callable[[str], Any], follow: Callable[[Any, str], tuple[int, Any]],
                 traces: bool) -> None:
        self.start = start
        self.follow = follow
        self.traces = traces


AUTO = Detector(auto_start, auto_follow, traces=True)


def regex_detector(pattern: re.Pattern[str]) -> Detector:
    """``regex:<pattern>``: a matching line starts an event, the others continue it."""
    search = pattern.search

    def start(text: str) -> int | None:
        return 1 if search(text) else None

    def follow(state: int, text: str) -> tuple[int, int]:
        return (END, state) if search(text) else (JOIN, state)

    return Detector(start, follow, traces=False)
