"""The segment reader alone: frames parsed from real segment files, CRCs checked, damage counted once (issue 13.4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from logship.buffer import segment_reader
from logship.buffer.cursor import Cursor
from logship.buffer.segment import HEADER, HEADER_SIZE, encode_records, segment_name
from logship.buffer.segment_log import Segment
from logship.buffer.segment_reader import Damage, SegmentReader, read_frame_at
from logship.metrics import Metrics
from tests.buffer.buffer_helpers import Opener, abandon, record


def write_segment(directory: Path, seq: int, records: list[bytes], first_index: int = 0) -> Segment:
    path = directory / segment_name(seq)
    data = encode_records(records)
    path.write_bytes(data)
    return Segment(seq, path, len(data), len(records), first_index)


def dropped(metrics: Metrics, reason: str) -> float:
    return metrics.registry.get_sample_value("logship_buffer_lines_dropped_total", {"reason": reason}) or 0.0


def read_all(reader: SegmentReader, segment: Segment, cursor: Cursor, max_records: int = 1000,
             max_bytes: int = 1 << 20) -> list[bytes]:
    out: list[bytes] = []
    while cursor.offset < segment.size:
        records: list[bytes] = []
        reader.take(segment, cursor, records, max_records, max_bytes, 0)
        out += records
    return out


def test_records_come_back_within_the_limits_and_the_cursor_stops_on_frame_boundaries(tmp_path: Path) -> None:
    written = [record(i, size=50 + i) for i in range(40)]
    segment = write_segment(tmp_path, 7, written, first_index=100)
    reader, cursor = SegmentReader(Damage(Metrics())), Cursor()
    cursor.start_at(7, 0, 100)
    records: list[bytes] = []
    nbytes, full = reader.take(segment, cursor, records, 5, 1 << 20, 0)
    assert (records, nbytes, full) == (written[:5], sum(map(len, written[:5])), True)
    assert (cursor.offset, cursor.index) == (len(encode_records(written[:5])), 105)
    records = []
    nbytes, full = reader.take(segment, cursor, records, 1000, 200, 0)  # by bytes: 3 records of 55-57
    assert records == written[5:8] and full
    records = [b"already"]
    _, full = reader.take(segment, cursor, records, 1000, 10, 100)  # no room at all: nothing more
    assert records == [b"already"] and full
    records = []
    _, full = reader.take(segment, cursor, records, 1000, 10, 0)  # one record always fits an empty chunk
    assert records == written[8:9] and full
    assert read_all(reader, segment, cursor) == written[9:]
    assert (cursor.offset, cursor.index) == (segment.size, 140)
    reader.close()
    assert reader.file is None


def test_a_record_larger_than_a_read_block_is_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segment_reader, "READ_BLOCK_BYTES", 64)  # every frame spans block boundaries
    written = [record(i, size=300) for i in range(10)]
    segment = write_segment(tmp_path, 0, written)
    cursor = Cursor()
    assert read_all(SegmentReader(Damage(Metrics())), segment, cursor, max_records=3) == written
    assert cursor.index == 10


def test_a_bad_crc_skips_that_record_only_and_counts_it_once_for_every_reader(tmp_path: Path) -> None:
    written = [record(i) for i in range(6)]
    segment = write_segment(tmp_path, 0, written)
    data = bytearray(segment.path.read_bytes())
    data[2 * (HEADER_SIZE + 100) + HEADER_SIZE + 20] ^= 0xFF  # the payload of record 2
    segment.path.write_bytes(bytes(data))
    metrics = Metrics()
    damage = Damage(metrics)
    for _ in range(2):  # two sinks meet it
        cursor = Cursor()
        assert read_all(SegmentReader(damage), segment, cursor) == written[:2] + written[3:]
        assert cursor.index == 6  # the bad frame is passed over, not lost
    assert dropped(metrics, "crc") == 1
    damage.forget(0)  # the segment was deleted: a new segment 0 would be counted again
    read_all(SegmentReader(damage), segment, Cursor())
    assert dropped(metrics, "crc") == 2


@pytest.mark.parametrize("damage_kind", ["impossible length", "runs past the end", "shorter than written"])
def test_lost_framing_skips_the_rest_of_the_segment_counted_once(tmp_path: Path, damage_kind: str) -> None:
    written = [record(i) for i in range(6)]
    segment = write_segment(tmp_path, 3, written, first_index=10)
    data = bytearray(segment.path.read_bytes())
    at = 2 * (HEADER_SIZE + 100)  # record 2's frame
    if damage_kind == "impossible length":
        data[at:at + HEADER_SIZE] = HEADER.pack(0, 0)
    elif damage_kind == "runs past the end":
        data[at:at + HEADER_SIZE] = HEADER.pack(10_000, 0)
    else:
        del data[at + 50:]
    segment.path.write_bytes(bytes(data))
    metrics = Metrics()
    damage = Damage(metrics)
    for _ in range(2):
        cursor = Cursor()
        cursor.start_at(3, 0, 10)
        assert read_all(SegmentReader(damage), segment, cursor, max_records=100) == written[:2]
        assert (cursor.offset, cursor.index) == (segment.size, 16)  # at the segment's end: the next one follows
    assert dropped(metrics, "corrupt") == 1


def test_a_segment_that_cannot_be_opened_is_skipped(tmp_path: Path) -> None:
    segment = write_segment(tmp_path, 0, [record(i) for i in range(3)])
    segment.path.unlink()
    metrics = Metrics()
    cursor = Cursor()
    assert read_all(SegmentReader(Damage(metrics)), segment, cursor) == []
    assert cursor.index == 3 and dropped(metrics, "corrupt") == 1


def test_read_frame_at_one_record_or_none(tmp_path: Path) -> None:
    written = [record(i) for i in range(3)]
    segment = write_segment(tmp_path, 0, written)
    assert read_frame_at(segment.path, HEADER_SIZE + 100) == written[1]
    assert read_frame_at(segment.path, segment.size) is None  # past the end
    assert read_frame_at(tmp_path / "missing.log", 0) is None
    data = bytearray(segment.path.read_bytes())
    data[HEADER_SIZE + 5] ^= 1
    segment.path.write_bytes(bytes(data))
    assert read_frame_at(segment.path, 0) is None  # CRC fails
    segment.path.write_bytes(bytes(data[:5]))
    assert read_frame_at(segment.path, 0) is None  # shorter than a header (raised struct.error before)


async def test_the_first_record_of_a_segment_cut_short_on_disk_is_none(open_buffer: Opener, tmp_path: Path) -> None:
    """``first_record`` (backlog limits) of a segment whose file was cut below a frame header said
    struct.error instead of None: it was not a ValueError as the code assumed."""
    buffer = await open_buffer(segment_bytes=1024)
    for i in range(0, 20, 4):
        await buffer.append([record(j) for j in range(i, i + 4)])
    await abandon(buffer)
    reopened = await open_buffer(segment_bytes=1024)  # nothing in memory: every look reads the file
    first = min(reopened._log.segments)
    path = tmp_path / "buffer" / segment_name(first)
    assert reopened.reader("a").first_record(first) == record(0)
    path.write_bytes(path.read_bytes()[:5])
    assert reopened.reader("a").first_record(first) is None
