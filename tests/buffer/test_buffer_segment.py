"""Segment framing and the recovery scan, without the buffer around them."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from logship.buffer.segment import (
    HEADER_SIZE,
    MAX_RECORD_BYTES,
    decode_records,
    encode_records,
    parse_segment_name,
    scan_segment,
    segment_name,
)


@pytest.mark.parametrize("records", [
    [b"a"],
    [b'{"message":"hello"}', b"x" * 70_000, b"\x00\xff binary \n"],
    [b"r%d" % i for i in range(1000)],
])
def test_round_trip(records: list[bytes]) -> None:
    data = encode_records(records)
    assert len(data) == sum(map(len, records)) + HEADER_SIZE * len(records)
    assert decode_records(data) == (records, len(data))


def test_frame_layout_is_big_endian_length_crc_payload() -> None:
    payload = b'{"n":1}'
    data = encode_records([payload])
    assert data[:8] == struct.pack(">II", len(payload), zlib.crc32(payload))
    assert data[8:] == payload


def test_decode_stops_at_a_partial_frame_and_skips_bad_crc() -> None:
    data = bytearray(encode_records([b"one", b"two", b"three"]))
    data[HEADER_SIZE + 3 + HEADER_SIZE] ^= 0xFF  # corrupt "two"
    records, used = decode_records(bytes(data) + b"\x00\x00")
    assert records == [b"one", b"three"]
    assert used == len(data)


@pytest.mark.parametrize(("name", "seq"), [
    (segment_name(0), 0), (segment_name(12345678901234567890), 12345678901234567890),
    ("segment-1.log", None), ("segment-00000000000000000001.log.tmp", None), ("ledger-a.json", None),
])
def test_segment_names(name: str, seq: int | None) -> None:
    assert parse_segment_name(name) == seq


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_scan_whole_segment_with_probes(tmp_path: Path) -> None:
    records = [b"a" * 10, b"b" * 20, b"c" * 30]
    path = _write(tmp_path / segment_name(1), encode_records(records))
    # boundaries at 0, 18, 46, 84
    scan = scan_segment(path, [0, 18, 20, 46, 84, 999])
    assert (scan.size, scan.valid_end, scan.count, scan.problem) == (84, 84, 3, None)
    assert scan.probes == {0: (0, 0), 18: (18, 1), 20: (18, 1), 46: (46, 2), 84: (84, 3), 999: (84, 3)}


@pytest.mark.parametrize(("tail", "problem"), [
    (b"\x00\x00\x00", "torn"),  # short header
    (struct.pack(">II", 50, 0) + b"short", "torn"),  # short payload
    (b"\x00" * 4096, "torn"),  # zero-filled tail after a crash
    (struct.pack(">II", MAX_RECORD_BYTES + 1, 0) + b"garbage", "corrupt"),  # framing lost
    (struct.pack(">II", 0, 7) + b"garbage", "corrupt"),
])
def test_scan_detects_torn_and_corrupt_tails(tmp_path: Path, tail: bytes, problem: str) -> None:
    good = encode_records([b"first", b"second"])
    path = _write(tmp_path / segment_name(1), good + tail)
    scan = scan_segment(path)
    assert (scan.valid_end, scan.count, scan.problem) == (len(good), 2, problem)


def test_scan_empty_segment(tmp_path: Path) -> None:
    scan = scan_segment(_write(tmp_path / segment_name(1), b""), [0])
    assert (scan.valid_end, scan.count, scan.problem, scan.probes) == (0, 0, None, {0: (0, 0)})
