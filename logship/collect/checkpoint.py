"""Per-container, per-stream checkpoints, saved atomically under LOGSHIP_DATA_DIR.

File ``checkpoints.json`` (one file for all containers, so one fsync saves them all)::

    {"version": 1,
     "containers": {"<container id>": {"stdout": ["2026-11-25T16:37:09.305268574Z", 3],
                                         "stderr": ["2026-11-25T16:37:09.301000000Z", 1]}}}

Each stream's pair is its watermark (``lines.Mark``): the newest Docker timestamp whose lines are
durably in the buffer, and how many frames carried exactly that timestamp.

Invariants:
- A mark is saved only after the records it covers are fsynced in the buffer (the agent snapshots
  the marks, then syncs the buffer, then saves the snapshot). A checkpoint never runs ahead of
  what is on disk, so a crash repeats lines at worst and never loses them.
- Saving writes ``checkpoints.json.tmp``, fsyncs it, renames it over the file and fsyncs the
  folder: the file is always either the old or the new version.
- A container's checkpoint is deleted when the container is removed, never when logship stops.

Recovery: a leftover ``.tmp`` is removed (the rename never happened, the old file is intact). A
file that does not parse is moved aside to ``checkpoints.json.corrupt`` and logship starts without
checkpoints: every container is read again from the start of its log (duplicates, not loss), and
the event is logged and counted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import orjson

from logship.collect.lines import Mark, normalise_timestamp

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


class CheckpointStore:
    """The in-memory checkpoints of every container and their file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._marks: dict[str, dict[str, Mark]] = {}
        self._dirty = False
        self.recovered_from_corruption = False

    def load(self) -> None:
        """Read the file, recovering from a leftover temp file or a corrupt file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self._temp_path()
        if temp.exists():
            log.warning("removing %s left by an interrupted save; the previous checkpoints are intact", temp)
            temp.unlink()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        try:
            self._marks = _parse(raw)
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
        return orjson.dumps({"version": FORMAT_VERSION, "containers": containers})

    def write(self, content: bytes) -> None:
        """Replace the file atomically with ``content`` (blocking: run it in a thread)."""
        temp = self._temp_path()
        with open(temp, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def mark_dirty(self) -> None:
        """A save failed: try again next time."""
        self._dirty = True

    def _temp_path(self) -> Path:
        return self.path.with_name(self.path.name + ".tmp")


def _parse(raw: bytes) -> dict[str, dict[str, Mark]]:
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
    return marks
