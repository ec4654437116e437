"""Per-container, per-stream checkpoints, saved atomically under LOGSHIP_DATA_DIR.

File ``checkpoints.json`` (one file for all containers, so one fsync saves them all)::

    {"version": 1, "snapshot_at": 1795624629.5,
     "containers": {"<container id>": {"stdout": ["2026-11-25T16:37:09.305268574Z", 3],
                                         "stderr": ["2026-11-25T16:37:09.301000000Z", 1]}}}

``snapshot_at`` (Unix time, optional) is when the marks were taken: the buffer segments written
before then hold no line the file does not cover. Each stream's pair is its watermark
(``lines.Mark``): the newest Docker timestamp whose lines are durably in the buffer, and how many
frames carried exactly that timestamp.

Invariants:
- A mark is saved only after the records it covers are fsynced in the buffer (the agent snapshots
  the marks, then syncs the buffer, then saves the snapshot). A checkpoint never runs ahead of
  what is on disk, so a crash repeats lines at worst and never loses them.
- Saving writes ``checkpoints.json.tmp``, fsyncs it, renames it over the file and fsyncs the
  folder: the file is always either the old or the new version.
- A container's checkpoint is deleted when the container is removed, never when logship stops.

Start position: the file lags the buffer by up to one save interval (longer while saves fail), and
a restart would read the lines of that lag from dockerd again and store them twice. So at start the
agent hands the records of the buffer's newest segments to ``BufferedPositions`` (the buffer fsyncs
those segments first) and ``catch_up`` takes, per container and stream, the later of the checkpoint
and the last line in the buffer. Both are on disk, so the position still never runs ahead of it.
A part of a cut line that is not its last does not count (the line is not finished).

Recovery: a leftover ``.tmp`` is removed (the rename never happened, the old file is intact). A
file that does not parse is moved aside to ``checkpoints.json.corrupt`` and logship starts without
checkpoints: every container is read again from the start of its log (duplicates, not loss), and
the event is logged and counted.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import orjson

from logship.collect.positions import Mark, normalise_timestamp, record_position
from logship.files import fsync_directory, replace_file, temp_path

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
LEGACY_SAVE_SECONDS = 30.0


class CheckpointStore:
    """The in-memory checkpoints of every container and their file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._marks: dict[str, dict[str, Mark]] = {}
        self._dirty = False
        self.recovered_from_corruption = False
        # When the marks of the file found by load() were taken (None: no usable file): the buffer's
        # segments last written before then need not be read for start positions.
        self.snapshot_time: float | None = None

    def load(self) -> None:
        """Read the file, recovering from a leftover temp file or a corrupt file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = temp_path(self.path)
        if temp.exists():
            log.warning("removing %s left by an interrupted save; the previous checkpoints are intact", temp)
            temp.unlink()
        try:
            raw = self.path.read_bytes()
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return
        try:
            self._marks, taken = _parse(raw)
            # A file from before snapshot_at existed: its mtime, less the longest plausible save.
            self.snapshot_time = taken if taken is not None else mtime - LEGACY_SAVE_SECONDS
        except ValueError as exc:
            aside = self.path.with_name(self.path.name + ".corrupt")
            os.replace(self.path, aside)
            self.recovered_from_corruption = True
            log.error("checkpoint file %s is corrupt (%s); moved to %s; every container is read again from "
                      "the start of its log (lines may repeat, none is lost)", self.path, exc, aside)

    def get(self, container_id: str) -> dict[str, Mark]:
        """The marks of one container (empty when it was never read)."""
        return dict(self._marks.get(container_id, {}))

    def container_ids(self) -> set[str]:
        return set(self._marks)

    def advance(self, container_id: str, marks: dict[str, Mark]) -> None:
        """Record that everything up to ``marks`` is in the buffer (saved by the next ``save``)."""
        if marks and self._marks.get(container_id) != marks:
            self._marks[container_id] = marks
            self._dirty = True

    def catch_up(self, positions: BufferedPositions) -> int:
        """Take each stream's position from the buffer where it is later than the checkpoint.
        Returns how many streams moved."""
        moved = 0
        for cid, streams in positions.marks.items():
            marks = dict(self._marks.get(cid, {}))
            for stream, mark in streams.items():
                current = marks.get(stream)
                if current is None or (mark.timestamp, mark.count) > (current.timestamp, current.count):
                    marks[stream] = mark
                    moved += 1
            if marks != self._marks.get(cid):
                self._marks[cid] = marks
                self._dirty = True
        return moved

    def remove(self, container_id: str) -> None:
        """Forget a removed container."""
        if self._marks.pop(container_id, None) is not None:
            self._dirty = True

    def snapshot(self) -> bytes | None:
        """The file content for the current marks, or None when nothing changed since the last save."""
        if not self._dirty:
            return None
        self._dirty = False
        containers = {
            cid: {stream: [mark.timestamp.decode(), mark.count] for stream, mark in marks.items()}
            for cid, marks in self._marks.items()}
        return orjson.dumps({"version": FORMAT_VERSION, "snapshot_at": time.time(), "containers": containers})

    def write(self, content: bytes) -> None:
        """Replace the file atomically with ``content`` (blocking: run it in a thread)."""
        replace_file(self.path, content, mode=0o666)  # 0o666: the mode open() gave it before (less umask)
        fsync_directory(self.path.parent)

    def mark_dirty(self) -> None:
        """A save failed: try again next time."""
        self._dirty = True


class BufferedPositions:
    """Per container and stream, the newest line among the records given to ``visit`` (in buffer order)."""

    def __init__(self) -> None:
        self.marks: dict[str, dict[str, Mark]] = {}

    def visit(self, record: bytes) -> None:
        """Note one record (records of other shapes, and unfinished parts of cut lines, are passed over)."""
        found = record_position(record)
        if found is None or not found[3]:
            return
        cid, stream, timestamp, _ = found
        streams = self.marks.get(cid)
        if streams is None:
            streams = self.marks[cid] = {}
        mark = streams.get(stream)
        if mark is None or timestamp > mark.timestamp:
            streams[stream] = Mark(timestamp, 1)
        elif timestamp == mark.timestamp:
            streams[stream] = Mark(timestamp, mark.count + 1)


def _parse(raw: bytes) -> tuple[dict[str, dict[str, Mark]], float | None]:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise ValueError("not a version 1 checkpoint file")
    containers = document.get("containers")
    if not isinstance(containers, dict):
        raise ValueError("no containers object")
    marks: dict[str, dict[str, Mark]] = {}
    for cid, streams in containers.items():
        if not isinstance(streams, dict):
            raise ValueError(f"container {cid}: not an object")
        parsed = {}
        for stream, value in streams.items():
            if stream not in ("stdout", "stderr") or not isinstance(value, list) or len(value) != 2:
                raise ValueError(f"container {cid}: bad stream entry {stream!r}")
            timestamp = normalise_timestamp(str(value[0]).encode())
            if timestamp is None or type(value[1]) is not int or value[1] < 0:
                raise ValueError(f"container {cid}: bad mark {value!r}")
            parsed[stream] = Mark(timestamp, value[1])
        marks[cid] = parsed
    taken = document.get("snapshot_at")
    return marks, float(taken) if isinstance(taken, int | float) and not isinstance(taken, bool) else None
