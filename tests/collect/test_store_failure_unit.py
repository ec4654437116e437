"""Records stored → marks advance: an append that fails takes the assembler back (issue 12, point 1);
where a container starts again: the later of its checkpoint and its last line in the buffer (point 3)."""

from __future__ import annotations

from pathlib import Path

from logship.collect.checkpoint import LEGACY_SAVE_SECONDS, BufferedPositions, CheckpointStore
from logship.collect.enrich import container_fields
from logship.collect.frames import STDERR, STDOUT
from logship.collect.lines import LineAssembler
from logship.collect.positions import Mark, record_position
from tests.collect.test_lines_unit import META, messages, out, pieces, ts

CID = META["container"]["id"]


def test_restore_after_a_failed_store_reads_the_lines_again_instead_of_skipping_them() -> None:
    assembler = LineAssembler(META, {}, 1024 * 1024)
    stored = assembler.feed([out(1, b"one\n"), out(2, b"two\n"), (STDERR, ts(2) + b" err\n")])
    marks, since = assembler.marks(), assembler.since()
    before = assembler.state()
    # The next chunk decodes (the watermark moves) but its append fails: disk full.
    failed = assembler.feed([out(3, b"three\n"), *pieces(STDOUT, 4, b"x" * 20000)[:1], (STDERR, ts(5) + b" e2\n")])
    assert messages(failed) == [("stdout", "three"), ("stderr", "e2")]
    assembler.restore(before)
    assert assembler.marks() == marks and assembler.since() == since
    assert assembler.take_line_counts() == {"stdout": 2, "stderr": 1}  # the failed lines are not counted read

    # The tailer reopens the stream from since(): dockerd replays from there, nothing is skipped twice.
    assembler.resume_from_seen()
    again = assembler.feed([out(1, b"one\n"), out(2, b"two\n"), (STDERR, ts(2) + b" err\n"), out(3, b"three\n"),
                            *pieces(STDOUT, 4, b"x" * 20000), (STDERR, ts(5) + b" e2\n")])
    assert messages(again) == [("stdout", "three"), ("stdout", "x" * 20000), ("stderr", "e2")]
    assert messages(stored) == [("stdout", "one"), ("stdout", "two"), ("stderr", "err")]
    assert assembler.skipped == 3


def test_a_state_can_be_restored_twice() -> None:
    assembler = LineAssembler(META, {}, 1024 * 1024)
    assembler.feed(pieces(STDOUT, 1, b"y" * 20000)[:1])  # a long line's first piece is held
    before = assembler.state()
    for _ in range(2):
        assert messages(assembler.feed(pieces(STDOUT, 1, b"y" * 20000)[1:])) == [("stdout", "y" * 20000)]
        assembler.restore(before)


def test_record_position_reads_what_the_assembler_wrote() -> None:
    [line] = LineAssembler(META, {}, 100).feed([out(1, b'say "stream":"stderr","container":{"id":"x"}\n')])
    assert record_position(line) == (CID, "stdout", ts(1), True)
    parts = LineAssembler(META, {}, 10).feed([(STDERR, ts(3) + b" " + b"w" * 25 + b"\n")])
    assert [record_position(part) for part in parts] == [(CID, "stderr", ts(3), False)] * 2 + [
        (CID, "stderr", ts(3), True)]
    assert record_position(b'{"n":1}') is None


def test_start_position_is_the_later_of_checkpoint_and_buffer(tmp_path: Path) -> None:
    assembler = LineAssembler(META, {}, 10)
    positions = BufferedPositions()
    records = assembler.feed([out(1, b"a\n"), out(2, b"b\n"), (STDERR, ts(1) + b" c\n"),
                              (STDERR, ts(3) + b" " + b"v" * 15 + b"\n"), (STDERR, ts(4) + b" " + b"q" * 25 + b"\n")])
    for record in records[:-1]:  # a crash came before the last part of the ts(4) line was stored
        positions.visit(record)
    positions.visit(b"not a record")
    # stderr's line at ts(4) is not finished in the buffer: it does not count.
    assert positions.marks == {CID: {"stdout": Mark(ts(2), 1), "stderr": Mark(ts(3), 1)}}

    store = CheckpointStore(tmp_path / "checkpoints.json")
    store.advance(CID, {"stdout": Mark(ts(1), 1), "stderr": Mark(ts(9), 1)})
    store.advance("other", {"stdout": Mark(ts(1), 1)})
    assert store.catch_up(positions) == 1
    assert store.get(CID) == {"stdout": Mark(ts(2), 1), "stderr": Mark(ts(9), 1)}
    assert store.get("other") == {"stdout": Mark(ts(1), 1)}
    assert store.snapshot() is not None


def test_record_position_finds_the_suffix_of_the_enrichers_metadata() -> None:
    inspect = {"Id": "f" * 64, "Name": "/web", "Config": {"Image": "nginx", "Labels": {
        "stream": "stdout", "com.docker.compose.service": "web"}}}
    fields = container_fields(inspect, {"host": {"name": "node-1"}}, None)
    [record] = LineAssembler(fields, {}, 100).feed([(STDERR, ts(1) + b' {"stream":"stdout","container":{"id":"x"}}\n')])
    assert record_position(record) == ("f" * 64, "stderr", ts(1), True)


def test_a_file_without_snapshot_at_is_taken_as_saved_well_before_its_mtime(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.json"
    path.write_bytes(b'{"version": 1, "containers": {}}')
    store = CheckpointStore(path)
    store.load()
    assert store.snapshot_time == path.stat().st_mtime - LEGACY_SAVE_SECONDS
