"""Durable file writes shared by the buffer's ledgers, the checkpoints, the dead letters and the file sink.

Every function here blocks: call it from a worker thread when on the event loop.

Invariants:
- ``replace_file`` never leaves a half-written file under the final name: it writes ``<name>.tmp``
  (``temp_path``), optionally fsyncs it, and renames it over the final name. A crash leaves the old or
  the new content, plus perhaps a stale ``.tmp`` that its owner removes at start.
- A rename, creation or deletion is durable only once the directory is fsynced (``fsync_directory``);
  callers that replace several files fsync the directory once after all of them.
- ``write_all`` writes every byte or raises: a short write (a signal, a full pipe) is resumed.
"""

from __future__ import annotations

import os
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def temp_path(path: Path) -> Path:
    """Where ``replace_file`` writes ``path``'s new content before renaming it."""
    return path.with_name(path.name + TEMP_SUFFIX)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``, resuming after a short write."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_directory(directory: Path) -> None:
    """Make renames, creations and deletions in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(path: Path, data: bytes, fsync: bool = True, mode: int = 0o644) -> None:
    """Replace ``path`` atomically with ``data`` (written to ``temp_path(path)``, then renamed).

    ``fsync``: fsync the new file before the rename (survives a power loss once the directory is
    fsynced too); without it the new content survives the process only."""
    temp = temp_path(path)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
