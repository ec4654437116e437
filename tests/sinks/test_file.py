"""The file and stdout sinks: the record as NDJSON, whole lines, rotation by size, errors as retries."""

from __future__ import annotations

import io
from pathlib import Path

import orjson

from logship.ship.outcome import OutcomeKind
from logship.sinks.base import Batch
from logship.sinks.file.sink import FileSink
from logship.sinks.file.spec import FileSinkConfig
from logship.sinks.stdout.sink import StdoutSink
from tests.sinks.records import decoded, parsed_batch, sample_batch


def numbered(start: int, count: int, size: int = 100) -> Batch:
    records = [orjson.dumps({"n": n, "pad": "x" * size}) for n in range(start, start + count)]
    return Batch(records, sum(map(len, records)))


async def test_file_sink_writes_the_records_as_ndjson(tmp_path: Path) -> None:
    sink = FileSink(FileSinkConfig(path=tmp_path / "out" / "logs.ndjson", max_bytes=1 << 20, keep=2))
    await sink.healthcheck()
    await sink.start()
    batch = sample_batch()
    assert (await sink.send(batch)).kind is OutcomeKind.DELIVERED
    await sink.aclose()
    lines = (tmp_path / "out" / "logs.ndjson").read_bytes().split(b"\n")
    assert lines[-1] == b""  # every record ends with a newline
    assert [orjson.loads(line) for line in lines[:-1]] == decoded(batch)


async def test_a_batch_larger_than_a_write_piece_comes_out_whole_and_in_order(tmp_path: Path) -> None:
    """Big batches are written in ~512 KiB pieces: the file still holds every record once, in order."""
    records = [orjson.dumps({"n": n, "pad": "y" * (n % 900)}) for n in range(6000)]
    records[3000] = orjson.dumps({"n": 3000, "pad": "z" * (1 << 20)})  # one record larger than a piece
    sink = FileSink(FileSinkConfig(path=tmp_path / "logs.ndjson", max_bytes=1 << 30, keep=2))
    await sink.start()
    assert (await sink.send(Batch(records, sum(map(len, records))))).kind is OutcomeKind.DELIVERED
    await sink.aclose()
    assert (tmp_path / "logs.ndjson").read_bytes() == b"".join(record + b"\n" for record in records)


async def test_file_sink_rotates_by_size_and_keeps_whole_records(tmp_path: Path) -> None:
    path = tmp_path / "logs.ndjson"
    sink = FileSink(FileSinkConfig(path=path, max_bytes=5000, keep=2))
    await sink.start()
    for start in range(0, 200, 10):  # 20 batches of about 1.2 KB
        assert (await sink.send(numbered(start, 10))).kind is OutcomeKind.DELIVERED
    await sink.aclose()
    files = [Path(f"{path}.2"), Path(f"{path}.1"), path]
    assert all(f.exists() for f in files) and not Path(f"{path}.3").exists()
    assert all(f.stat().st_size <= 5000 for f in files)
    numbers = [orjson.loads(line)["n"] for f in files for line in f.read_bytes().splitlines()]
    # The oldest rotated files beyond `keep` are gone; what is kept is contiguous and ends with the last.
    assert numbers == list(range(numbers[0], 200))


async def test_file_sink_error_is_a_retry_and_recovers(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    sink = FileSink(FileSinkConfig(path=folder / "logs.ndjson", max_bytes=1 << 20, keep=1))
    await sink.start()
    (folder / "logs.ndjson").unlink()
    folder.rmdir()
    folder.write_text("not a folder")  # the path cannot be opened any more
    await sink.aclose()
    outcome = await sink.send(numbered(0, 3))
    assert outcome.kind is OutcomeKind.RETRY and "logs.ndjson" in outcome.detail
    assert outcome.reason == "write"  # the metric label: never the path (issue 13.3)
    folder.unlink()
    folder.mkdir()
    assert (await sink.send(numbered(0, 3))).kind is OutcomeKind.DELIVERED
    await sink.aclose()


async def test_stdout_sink_writes_ndjson() -> None:
    stream = io.BytesIO()
    sink = StdoutSink(stream=stream)
    await sink.start()
    batch = sample_batch()
    assert (await sink.send(batch)).kind is OutcomeKind.DELIVERED
    assert [orjson.loads(line) for line in stream.getvalue().splitlines()] == decoded(batch)


async def test_file_and_stdout_write_parsed_records_as_their_own_bytes(tmp_path: Path) -> None:
    """The level and attributes are in the NDJSON record as parsing wrote them (RECORD.md)."""
    sink = FileSink(FileSinkConfig(path=tmp_path / "logs.ndjson", max_bytes=1 << 20, keep=2))
    await sink.start()
    assert (await sink.send(parsed_batch())).kind is OutcomeKind.DELIVERED
    await sink.aclose()
    assert (tmp_path / "logs.ndjson").read_bytes() == b"".join(record + b"\n" for record in parsed_batch().records)
    stream = io.BytesIO()
    stdout = StdoutSink(stream=stream)
    await stdout.start()
    assert (await stdout.send(parsed_batch())).kind is OutcomeKind.DELIVERED
    assert stream.getvalue() == b"".join(record + b"\n" for record in parsed_batch().records)
