"""The fast path (``MuxDecoder.feed_records`` → ``LineAssembler.take_run``) against the careful one
(``LineAssembler.feed(MuxDecoder.feed(...))``): on bodies that mix every shape dockerd sends (and some
it should not), cut into arbitrary slices, both give the same records, marks and counts."""

from __future__ import annotations

import random
import struct

import orjson
import pytest

from logship.collect.frames import PARTIAL_CHUNK, STDERR, STDOUT, FramingLost, MuxDecoder
from logship.collect.lines import LineAssembler
from logship.collect.positions import Mark

META = {"container": {"id": "6ca5", "name": "web"}, "host": {"name": "node-3"}}


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + struct.pack(">L", len(payload)) + payload


def stamp(n: int) -> bytes:
    return b"2026-11-25T16:%02d:%02d.%09dZ" % (n // 60_000 % 60, n // 1000 % 60, n % 1000 * 1_000_000 + 7)


def random_body(rng: random.Random, frames: int) -> bytes:
    """Frames of both streams: mostly ordinary lines, with every irregular shape mixed in."""
    clock = {STDOUT: 1000, STDERR: 1000}
    # A line on each stream first: a bad timestamp before any good one gets the current time.
    parts = [frame(STDOUT, stamp(1000) + b" first\n"), frame(STDERR, stamp(1000) + b" first\n")]
    for _ in range(frames):
        stream = STDOUT if rng.random() < 0.8 else STDERR
        clock[stream] += rng.choice((1, 1, 1, 2, 50))
        ts = stamp(clock[stream])
        kind = rng.random()
        if kind < 0.70:
            message = b"line %d " % clock[stream] + b"x" * rng.randint(0, 200) + b"\n"
        elif kind < 0.73:
            message = b"crlf\r\n"
        elif kind < 0.76:
            message = b"\n"
        elif kind < 0.79:  # replay of an older or the same timestamp (rotation)
            ts = stamp(clock[stream] - rng.choice((0, 1, 3)))
            message = b"replayed\n"
        elif kind < 0.82:  # a long line in 16 KiB pieces (json-file), or the local driver's shape
            body = b"L" * rng.choice((PARTIAL_CHUNK, PARTIAL_CHUNK + 5, 2 * PARTIAL_CHUNK + 100))
            body += b"\n" if rng.random() < 0.5 else b""
            pieces = [body[i:i + PARTIAL_CHUNK] for i in range(0, len(body), PARTIAL_CHUNK)]
            parts += [frame(stream, ts + b" " + piece) for piece in pieces]
            continue
        elif kind < 0.85:
            message = rng.choice((b"bad \xff\xfe utf8\n", b"half \xe2\x82\n", b'quote " and \\ and \x01\n'))
        elif kind < 0.88:
            message = b"no newline"
        elif kind < 0.91:
            ts = rng.choice((b"2026-11-25T16:37:09.3Z", b"garbage-timestamp-but-30-bytes",
                             b"2026-11-25 16:37:09.305268574Z", b"", b"2026-11-25T16:37:09.30526857aZ"))
            message = b"odd timestamp\n"
        elif kind < 0.93:
            parts.append(bytes([3, 0, 0, 0]) + struct.pack(">L", 5) + b"hello")  # unknown stream
            continue
        elif kind < 0.96:
            message = "héllo € 😀 %d\n".encode() % clock[stream]
        else:
            message = b"y" * rng.randint(150, 400) + b"\n"  # longer than the small max_line below
        parts.append(frame(stream, ts + b" " + message))
    return b"".join(parts)


def slices(body: bytes, rng: random.Random) -> list[bytes]:
    cuts, pos = [], 0
    while pos < len(body):
        size = rng.choice((1, 7, 8, 9, 100, 4096, 65536))
        cuts.append(body[pos:pos + size])
        pos += size
    return cuts


def outcome(assembler: LineAssembler, decoder: MuxDecoder, records: list[bytes]) -> dict:
    return {"records": records, "marks": assembler.marks(), "lines": assembler.take_line_counts(),
            "skipped": assembler.skipped, "cut": assembler.cut, "invalid_utf8": assembler.invalid_utf8,
            "bad_timestamps": assembler.bad_timestamps, "malformed": dict(decoder.malformed),
            "since": assembler.since()}


def careful(pieces: list[bytes], marks: dict[str, Mark], max_line: int) -> dict:
    assembler, decoder = LineAssembler(META, marks, max_line), MuxDecoder()
    records = [r for piece in pieces for r in assembler.feed(decoder.feed(piece))]
    return outcome(assembler, decoder, records + assembler.flush())


def fast(pieces: list[bytes], marks: dict[str, Mark], max_line: int) -> dict:
    assembler, decoder = LineAssembler(META, marks, max_line), MuxDecoder()
    records = [r for piece in pieces for r in decoder.feed_records(piece, assembler)]
    return outcome(assembler, decoder, records + assembler.flush())


@pytest.mark.parametrize("seed", range(40))
def test_fast_path_gives_what_the_careful_path_gives(seed: int) -> None:
    rng = random.Random(seed)
    body = random_body(rng, 400)
    pieces = slices(body, rng)
    max_line = rng.choice((1024 * 1024, 16384, 300))
    # Resume from a watermark inside the body half the time (what a restart does).
    marks = {"stdout": Mark(stamp(1000 + rng.randint(0, 300)), rng.randint(1, 2))} if seed % 2 else {}
    expected = careful(pieces, marks, max_line)
    assert fast(pieces, marks, max_line) == expected
    assert expected["records"], "the body must give records"


def test_ordinary_lines_take_the_fast_path_whole() -> None:
    """A backlog of ordinary lines: every record, in order, with its stream, timestamp and message."""
    body = b"".join(frame(STDOUT if n % 3 else STDERR, stamp(n) + b" " + b"line %d\n" % n) for n in range(1, 2000))
    assembler, decoder = LineAssembler(META, {}, 1024 * 1024), MuxDecoder()
    pieces = slices(body, random.Random(1))
    records = [orjson.loads(r) for piece in pieces for r in decoder.feed_records(piece, assembler)]
    assert [r["message"] for r in records] == [f"line {n}" for n in range(1, 2000)]
    assert [r["stream"] for r in records] == ["stdout" if n % 3 else "stderr" for n in range(1, 2000)]
    assert records[0]["timestamp"] == stamp(1).decode() and records[0]["container"] == META["container"]
    assert assembler.marks() == {"stdout": Mark(stamp(1999), 1), "stderr": Mark(stamp(1998), 1)}
    assert assembler.take_line_counts() == {"stdout": 1333, "stderr": 666}


def test_a_bad_header_keeps_the_records_before_it() -> None:
    good = b"".join(frame(STDOUT, stamp(n) + b" ok %d\n" % n) for n in range(1, 50))
    decoder = MuxDecoder()
    with pytest.raises(FramingLost) as lost:
        decoder.feed_records(good + b"\x01\x09\x00\x00\x00\x00\x00\x05hello", LineAssembler(META, {}, 1024))
    assert [orjson.loads(r)["message"] for r in lost.value.records] == [f"ok {n}" for n in range(1, 50)]
    assert decoder.malformed["bad_header"] == 1


def test_a_bad_timestamp_or_bad_utf8_inside_a_run_is_kept_and_counted() -> None:
    lines = [frame(STDOUT, stamp(n) + b" ok %d\n" % n) for n in range(1, 40)]
    lines[10] = frame(STDOUT, b"garbage-timestamp-but-30-bytes ok 11\n")  # sorts after every good one
    lines[20] = frame(STDOUT, stamp(21) + b" ok \xff 21\n")
    pieces = [b"".join(lines)]
    result = fast(pieces, {}, 1024)
    assert result == careful(pieces, {}, 1024)
    messages = [orjson.loads(r)["message"] for r in result["records"]]
    assert messages[10] == "garbage-timestamp-but-30-bytes ok 11" and messages[20] == "ok \ufffd 21"
    assert len(messages) == 39 and result["bad_timestamps"] == 1 and result["invalid_utf8"] == 1
