"""The dead-letter file of one sink: records it refused for good, kept for a human to look at.

Format (``DATA_DIR/dead-letter/<sink>.ndjson`` by convention, the directory is the caller's choice):
one NDJSON line per record, appended, ::

    {"reason": "http 400: line too long", "sink": "http", "record": {...}}

``record`` is the record's JSON object, or the record as a string (invalid UTF-8 replaced) when it is
not a JSON object. Every ``write`` ends with an fsync of the file (and of the directory when the file
is new), so a record is acknowledged in the buffer only after its dead letter is on disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import orjson

from logship.files import fsync_directory


def dead_letter_line(sink: str, reason: str, record: bytes) -> bytes:
    """One dead-letter line (with its trailing newline) for ``record``."""
    try:
        value = orjson.loads(record)
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        value = record.decode("utf-8", errors="replace")
    return orjson.dumps({"reason": reason, "sink": sink, "record": value}, option=orjson.OPT_APPEND_NEWLINE)


class DeadLetterFile:
    """Appends dead letters of one sink to ``path``; blocking I/O (call it from a thread)."""

    def __init__(self, path: Path, sink: str) -> None:
        self.path = path
        self.sink = sink

    def write(self, entries: Iterable[tuple[bytes, str]]) -> int:
        """Append one line per (record, reason) and fsync; return the number of lines written."""
        data = [dead_letter_line(self.sink, reason, record) for record, reason in entries]
        if not data:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        with open(self.path, "ab") as file:
            file.write(b"".join(data))
            file.flush()
            os.fsync(file.fileno())
        if created:
            # The new directory entry must be durable too, or a crash could lose the whole file.
            fsync_directory(self.path.parent)
        return len(data)
