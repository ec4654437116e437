"""The memory tail: the buffer's most recent appends, kept in memory for the readers that have caught up.

A reader whose next record is here takes it from memory instead of reading back the file and checking
CRCs that were just computed; a reader further behind reads the file (``segment_reader``). How much is
kept is the flow-control policy's choice (``flow.FlowControl.after_append``).

Invariants:
- ``groups`` holds whole appends, oldest first, their record indexes contiguous; the newest one ends
  at the buffer's next index (every successful append is added, a failed one is not).
- Each group's ``(seq, offset)`` is where its first frame starts on disk; its frames follow one
  another there, so record ``k`` of a group starts ``k`` headers and the lengths of records ``0..k-1``
  after it.
- ``bytes`` is the sum of the groups' framed sizes. ``add`` trims, and keeps at least the newest group.
"""

from __future__ import annotations

import bisect
import collections
from dataclasses import dataclass

from logship.buffer.segment import HEADER_SIZE


@dataclass(slots=True)
class RecentGroup:
    """One append still in memory: its records, framed size, index of its first record and place."""

    records: list[bytes]
    size: int
    index: int
    seq: int
    offset: int


def _group_index(group: RecentGroup) -> int:
    return group.index


class MemoryTail:
    """The latest appends, bounded by ``trim``."""

    __slots__ = ("bytes", "groups")

    def __init__(self) -> None:
        self.groups: collections.deque[RecentGroup] = collections.deque()
        self.bytes = 0

    def add(self, group: RecentGroup, limit: int, slowest: int) -> None:
        """Keep a new append (the newest); then drop the oldest groups that every reader has passed (all
        below record ``slowest``), and past ``limit`` bytes the oldest ones anyway (a lagging reader reads
        the file): memory stays flat."""
        groups = self.groups
        groups.append(group)
        self.bytes += group.size
        while len(groups) > 1:
            oldest = groups[0]
            if self.bytes <= limit and oldest.index + len(oldest.records) > slowest:
                break
            groups.popleft()
            self.bytes -= oldest.size

    def group(self, index: int) -> RecentGroup | None:
        """The group holding record ``index``, if it is still in memory."""
        groups = self.groups
        if not groups or index < groups[0].index:
            return None
        last = groups[-1]
        if index >= last.index + len(last.records):
            return None
        first = groups[0]
        if index < first.index + len(first.records):
            return first  # the usual case: the slowest reader sits in the oldest group
        return groups[bisect.bisect_right(groups, index, key=_group_index) - 1]

    def find(self, index: int, seq: int, offset: int) -> tuple[RecentGroup, int] | None:
        """(group, position in it) of record ``index`` when it is in memory and starts at ``(seq, offset)``."""
        group = self.group(index)
        if group is None or group.seq != seq:
            return None
        # A batch limit may have stopped the last read inside a group: resume there.
        skip = index - group.index
        at = group.offset + HEADER_SIZE * skip + sum(map(len, group.records[:skip])) if skip else group.offset
        return (group, skip) if at == offset else None

    @staticmethod
    def take(group: RecentGroup, skip: int, records: list[bytes], max_records: int, max_bytes: int,
             nbytes: int) -> tuple[int, int, bool]:
        """Add ``group``'s records from ``skip`` on to ``records``, within ``max_records`` in all and
        ``max_bytes`` in all counting the ``nbytes`` already taken (at least one record when
        ``records`` is empty). Returns (records taken, their bytes, whether a limit stopped it)."""
        available = len(group.records) - skip
        chosen = group.records[skip:skip + max_records - len(records)]
        payload = sum(map(len, chosen))
        if nbytes + payload > max_bytes:
            payload = fitting = 0
            for record in chosen:
                if nbytes + payload + len(record) > max_bytes and (records or fitting):
                    break
                payload += len(record)
                fitting += 1
            chosen = chosen[:fitting]
        records.extend(chosen)
        return len(chosen), payload, len(chosen) < available or len(records) >= max_records
