"""Restarts and damage on disk: nothing may stop the buffer from opening, nothing acked comes back twice
after a clean close, nothing written and synced is lost after a crash."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path

import pytest

from logship.buffer.segment import HEADER_SIZE, decode_records, encode_records, segment_name
from logship.metrics import Metrics
from tests.buffer.buffer_helpers import Opener, abandon, drain, record


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("segment-*.log"))


def dropped(metrics: Metrics, reason: str) -> float:
    return metrics.registry.get_sample_value("logship_buffer_lines_dropped_total", {"reason": reason}) or 0.0


async def test_reopen_after_close_resumes_at_the_ledger(open_buffer: Opener) -> None:
    buffer = await open_buffer(sinks=("a", "b"))
    written = [record(i) for i in range(40)]
    for start in range(0, 40, 4):
        await buffer.append(written[start:start + 4])
    assert await drain(buffer.reader("a"), max_records=15) == written
    reader_b = buffer.reader("b")
    chunk = reader_b.read(25, 1 << 20)
    reader_b.ack(chunk)
    reader_b.read(5, 1 << 20)  # read, never acknowledged: must come again
    await buffer.close()

    reopened = await open_buffer(sinks=("a", "b"))
    assert await drain(reopened.reader("a")) == []
    assert await drain(reopened.reader("b")) == written[25:]
    await reopened.append([b"new"])
    assert await drain(reopened.reader("a")) == [b"new"]


async def test_kill_without_close_is_at_least_once(open_buffer: Opener, tmp_path: Path) -> None:
    buffer = await open_buffer(fsync_interval=3600)  # no background ledger write
    written = [record(i) for i in range(30)]
    for start in range(0, 30, 3):
        await buffer.append(written[start:start + 3])
    await buffer.sync()
    reader = buffer.reader("a")
    acked = reader.read(10, 1 << 20)
    reader.ack(acked)  # acknowledged, but the ledger is never persisted
    assert reader.read(10, 1 << 20).records == written[10:20]  # in flight, never acknowledged
    await abandon(buffer)  # kill -9

    reopened = await open_buffer()
    again = await drain(reopened.reader("a"))
    # Nothing unacknowledged is lost; acknowledged records of segments not yet reclaimed come again.
    assert again[-20:] == written[10:]
    assert again == written[len(written) - len(again):]
    assert len(again) > 20  # the ledger was not persisted: re-delivery from the oldest segment left
    await reopened.close()
    final = await open_buffer()
    assert await drain(final.reader("a")) == []


async def test_kill_after_periodic_ledger_write_resumes_there(open_buffer: Opener, tmp_path: Path) -> None:
    buffer = await open_buffer()
    written = [record(i) for i in range(20)]
    await buffer.append(written)
    await buffer.sync()
    reader = buffer.reader("a")
    chunk = reader.read(12, 1 << 20)
    reader.ack(chunk)
    await buffer._ledgers.persist()  # what the background task does every fsync_interval
    reader.read(5, 1 << 20)
    await abandon(buffer)

    reopened = await open_buffer()
    assert await drain(reopened.reader("a")) == written[12:]


async def test_torn_last_record_is_truncated(open_buffer: Opener, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "buffer"
    buffer = await open_buffer(segment_bytes=1 << 20)
    written = [record(i) for i in range(10)]
    await buffer.append(written)
    await buffer.sync()
    await abandon(buffer)
    last = segments(directory)[-1]
    whole = last.stat().st_size
    with last.open("ab") as file:  # the crash hit in the middle of the next group
        file.write(encode_records([record(99)])[:HEADER_SIZE + 20])

    caplog.set_level(logging.WARNING, logger="logship.buffer")
    metrics = Metrics()
    reopened = await open_buffer(metrics=metrics)
    assert last.stat().st_size == whole
    assert any("ends inside a record" in r.message and r.levelno == logging.WARNING for r in caplog.records)
    assert await drain(reopened.reader("a")) == written
    assert dropped(metrics, "corrupt") == 0


async def test_zero_filled_tail_is_truncated(open_buffer: Opener, tmp_path: Path) -> None:
    buffer = await open_buffer(segment_bytes=1 << 20)
    written = [record(i) for i in range(5)]
    await buffer.append(written)
    await abandon(buffer)
    last = segments(tmp_path / "buffer")[-1]
    with last.open("ab") as file:
        file.write(b"\0" * 4096)
    reopened = await open_buffer()
    assert await drain(reopened.reader("a")) == written


async def test_flipped_byte_drops_that_record_only(open_buffer: Opener, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    buffer = await open_buffer(sinks=("a", "b"))
    written = [record(i) for i in range(30)]
    for start in range(0, 30, 3):
        await buffer.append(written[start:start + 3])
    await buffer.close()
    victim = segments(tmp_path / "buffer")[2]
    data = bytearray(victim.read_bytes())
    data[HEADER_SIZE + 50] ^= 0x01  # inside the payload of the segment's first record
    victim.write_bytes(bytes(data))
    victim_record = data[HEADER_SIZE:HEADER_SIZE + struct.unpack_from(">I", data)[0]]
    victim_record[50] ^= 0x01  # the record as it was written

    caplog.set_level(logging.WARNING, logger="logship.buffer")
    metrics = Metrics()
    reopened = await open_buffer(sinks=("a", "b"), metrics=metrics)
    expected = [r for r in written if r != bytes(victim_record)]
    assert len(expected) == 29
    assert await drain(reopened.reader("a")) == expected
    assert await drain(reopened.reader("b"), max_records=1) == expected
    assert dropped(metrics, "crc") == 1  # counted once, although both sinks met it
    assert sum("fails its CRC" in r.message for r in caplog.records) == 1
    assert reopened.stats()["records_pending"] == {"a": 0, "b": 0}
    assert reopened.stats()["segments"] == 1


async def test_lost_framing_in_the_middle_drops_the_rest_of_that_segment(open_buffer: Opener,
                                                                         tmp_path: Path) -> None:
    directory = tmp_path / "buffer"
    buffer = await open_buffer()
    groups = [[record(i * 3 + j) for j in range(3)] for i in range(10)]
    for group in groups:
        await buffer.append(group)
    await buffer.close()
    victim = segments(directory)[1]
    data = bytearray(victim.read_bytes())
    lost = decode_records(bytes(data))[0][1:]
    second = HEADER_SIZE + struct.unpack_from(">I", data)[0]
    data[second:second + 4] = b"\xff\xff\xff\xff"  # an absurd length on the second record
    victim.write_bytes(bytes(data))

    metrics = Metrics()
    reopened = await open_buffer(metrics=metrics)
    assert victim.stat().st_size == second  # truncated to the whole records before the damage
    got = await drain(reopened.reader("a"))
    everything = [r for group in groups for r in group]
    assert len(lost) > 3
    assert got == [r for r in everything if r not in lost]
    assert dropped(metrics, "corrupt") == 1
    assert list((directory / "quarantine").iterdir())  # a copy is kept for inspection


async def test_unreadable_segment_is_quarantined(open_buffer: Opener, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "buffer"
    buffer = await open_buffer()
    await buffer.append([record(1)])
    await buffer.close()
    (directory / segment_name(0)).unlink()
    (directory / segment_name(0)).mkdir()  # open() fails on it, even as root
    await_metrics = Metrics()
    caplog.set_level(logging.ERROR, logger="logship.buffer")
    reopened = await open_buffer(metrics=await_metrics)
    assert (directory / "quarantine" / segment_name(0)).is_dir()
    assert any(r.levelno == logging.ERROR and "cannot be read" in r.message for r in caplog.records)
    assert dropped(await_metrics, "quarantine") == 1
    await reopened.append([b"after"])
    assert await drain(reopened.reader("a")) == [b"after"]


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"segment": -1, "offset": 0}',
                                     b'{"segment": true, "offset": 0}', b""])
async def test_corrupt_ledger_starts_at_the_oldest_segment(open_buffer: Opener, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture,
                                                           content: bytes) -> None:
    buffer = await open_buffer()
    written = [record(i) for i in range(20)]
    for start in range(0, 20, 4):
        await buffer.append(written[start:start + 4])
    await drain(buffer.reader("a"), max_records=8)
    buffer2 = buffer
    await buffer2.append([b"later"])
    await buffer.close()
    (tmp_path / "buffer" / "ledger-a.json").write_bytes(content)

    caplog.set_level(logging.WARNING, logger="logship.buffer")
    reopened = await open_buffer()
    assert any("unreadable" in r.message for r in caplog.records)
    got = await drain(reopened.reader("a"))
    assert got[-1] == b"later"  # nothing lost (older acked records may come again)


async def test_missing_ledger_with_data_starts_at_the_oldest(open_buffer: Opener, tmp_path: Path) -> None:
    buffer = await open_buffer(sinks=("a",))
    await buffer.append([record(1), record(2)])
    await buffer.close()
    reopened = await open_buffer(sinks=("a", "new"))
    assert await drain(reopened.reader("new")) == [record(1), record(2)]
    assert await drain(reopened.reader("a")) == [record(1), record(2)]  # a never acked either


async def test_ledger_of_a_deleted_segment_moves_to_the_oldest_existing(open_buffer: Opener,
                                                                        tmp_path: Path) -> None:
    directory = tmp_path / "buffer"
    buffer = await open_buffer()
    written = [record(i) for i in range(30)]
    for start in range(0, 30, 3):
        await buffer.append(written[start:start + 3])
    await buffer.close()
    (directory / "ledger-a.json").write_text(json.dumps({"segment": 0, "offset": 0}))
    first_two = segments(directory)[:2]
    gone = sum(len(decode_records(path.read_bytes())[0]) for path in first_two)
    for path in first_two:
        path.unlink()
    reopened = await open_buffer()
    assert await drain(reopened.reader("a")) == written[gone:]


async def test_ledger_inside_a_record_snaps_back_to_its_start(open_buffer: Opener, tmp_path: Path) -> None:
    buffer = await open_buffer(segment_bytes=1 << 20)
    written = [record(i) for i in range(5)]
    await buffer.append(written)
    await buffer.close()
    frame = HEADER_SIZE + len(written[0])
    (tmp_path / "buffer" / "ledger-a.json").write_text(json.dumps({"segment": 0, "offset": 2 * frame + 3}))
    reopened = await open_buffer()
    assert await drain(reopened.reader("a")) == written[2:]


async def test_ledger_past_the_end_of_a_truncated_segment(open_buffer: Opener, tmp_path: Path) -> None:
    # fsync="interval": the ledger can be persisted ahead of data that a crash then loses.
    buffer = await open_buffer(segment_bytes=1 << 20)
    await buffer.append([record(i) for i in range(5)])
    await buffer.close()
    (tmp_path / "buffer" / "ledger-a.json").write_text(json.dumps({"segment": 0, "offset": 10_000}))
    reopened = await open_buffer()
    assert await drain(reopened.reader("a")) == []
    await reopened.append([b"fresh"])
    assert await drain(reopened.reader("a")) == [b"fresh"]


async def test_stale_files_are_cleaned_up(open_buffer: Opener, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    directory = tmp_path / "buffer"
    buffer = await open_buffer(sinks=("a", "gone"))
    await buffer.append([record(1)])
    await buffer.close()
    (directory / "ledger-a.json.tmp").write_text("{")
    caplog.set_level(logging.INFO, logger="logship.buffer")
    reopened = await open_buffer(sinks=("a",))
    assert not (directory / "ledger-a.json.tmp").exists()
    assert not (directory / "ledger-gone.json").exists()
    assert any("no longer configured" in r.message and r.levelno == logging.INFO for r in caplog.records)
    assert await drain(reopened.reader("a")) == [record(1)]
    assert len(segments(directory)) == 1  # the acknowledged one was deleted, the empty one is new


async def test_empty_directory_and_repeated_restarts(open_buffer: Opener, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="logship.buffer")
    for _ in range(3):
        buffer = await open_buffer()
        assert buffer.stats()["segments"] == 1
        await buffer.close()
    assert not caplog.records  # a fresh start warns about nothing
    assert len(segments(tmp_path / "buffer")) == 1
