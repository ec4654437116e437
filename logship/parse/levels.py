"""Level normalisation: whatever a line calls its level → one of ``record.LEVELS`` (or None).

Two sources: a parsed field (``level``, ``severity``… of a JSON or logfmt line, see ``structured``)
and, for plain text, the line's leading token: ``ERROR …``, ``[warn] …``, ``ERROR:root:…`` (Python's
default format), glog's ``W1201 12:00:00.000000 …``, ``level=warn …``, optionally after a leading
ISO-8601 timestamp. Only the start of the line is looked at: a level word further in ("… no error")
says nothing about the line.
"""

from __future__ import annotations

import re
from typing import Any

# Every spelling seen in the wild, lower-cased, → the six levels (OpenTelemetry / ECS names).
_NAMES = {
    "trace": "trace", "trc": "trace", "finest": "trace", "finer": "trace", "verbose": "trace", "vrb": "trace",
    "debug": "debug", "dbg": "debug", "dbug": "debug", "fine": "debug", "config": "debug", "d": "debug",
    "info": "info", "inf": "info", "information": "info", "informational": "info", "notice": "info",
    "i": "info", "ok": "info",
    "warn": "warn", "warning": "warn", "wrn": "warn", "w": "warn",
    "error": "error", "err": "error", "eror": "error", "e": "error", "severe": "error", "crit": "fatal",
    "critical": "fatal", "fatal": "fatal", "ftl": "fatal", "panic": "fatal", "emerg": "fatal",
    "emergency": "fatal", "alert": "fatal", "f": "fatal", "dpanic": "fatal",
}
# Numeric levels: pino/bunyan (10 trace … 60 fatal).
_PINO = {10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal"}

_WORDS = "TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRIT|CRITICAL|FATAL|PANIC|SEVERE|EMERG|ALERT"
_TIMESTAMP = r"(?:\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\s+)?"
# The leading token: an upper-case word ended by a space, ":" or the end; a bracketed word of any case;
# glog's letter+MMDD; ``level=``. Group 1..4 hold the word.
LEADING = re.compile(
    _TIMESTAMP + r"(?:(" + _WORDS + r")(?=[\s:|\]]|$)"
    r"|[\[<(](?i:(" + _WORDS + r"))[\]>)]"
    r"|([IWEF])\d{4} \d\d:\d\d:\d\d"
    r"|(?:level|lvl|severity)=\"?(\w+))")


def normalise(value: Any) -> str | None:
    """A parsed level field → one of the six levels, or None when it is not a level."""
    if type(value) is str:
        return _NAMES.get(value.strip().lower())
    if type(value) is int:
        return _PINO.get(value)
    return None


def leading(text: str) -> str | None:
    """The level named by the start of a plain line, or None."""
    match = LEADING.match(text)
    if match is None:
        return None
    word = match.group(1) or match.group(2) or match.group(3) or match.group(4)
    return _NAMES.get(word.lower())
