"""LineAssembler: frames as dockerd sends them → the NDJSON records a user finds in the store."""

from __future__ import annotations

import calendar
import time
from typing import Any

import orjson
import pytest

from logship.collect.frames import PARTIAL_CHUNK, STDERR, STDOUT
from logship.collect.lines import LineAssembler
from logship.collect.positions import RESUME_MARGIN_SECONDS, Mark, normalise_timestamp, since_parameter
from logship.record import complete_utf8_prefix

META = {"container": {"id": "6ca5", "name": "web", "image": {"name": "nginx:1.27"}},
        "service": {"name": "web"}, "host": {"name": "node-3"}, "env": {"name": "prod"}}
BIG_MAX = 1024 * 1024


def ts(n: int) -> bytes:
    """The n-th timestamp, strictly increasing with n, in the API's fixed 9-digit form."""
    return b"2026-11-25T16:37:%02d.%09dZ" % (n // 1000, (n % 1000) * 1_000_000 + 7)


def out(n: int, message: bytes) -> tuple[int, bytes]:
    return STDOUT, ts(n) + b" " + message


def err(n: int, message: bytes) -> tuple[int, bytes]:
    return STDERR, ts(n) + b" " + message


def pieces(sid: int, n: int, line: bytes, *, newline: bool = True) -> list[tuple[int, bytes]]:
    """A line as json-file logs it: 16384-byte entries sharing the first one's timestamp, last with \\n.

    ``newline=False`` gives the ``local`` driver's shape: the final piece has no newline (and is
    empty for a line whose length is a multiple of 16384).
    """
    body = line + b"\n" if newline else line
    chunks = [body[i:i + PARTIAL_CHUNK] for i in range(0, len(body), PARTIAL_CHUNK)] or [b""]
    if not newline and len(line) % PARTIAL_CHUNK == 0:
        chunks.append(b"")
    return [(sid, ts(n) + b" " + chunk) for chunk in chunks]


def assembler(marks: dict[str, Mark] | None = None, max_line: int = BIG_MAX,
              meta: dict[str, Any] | None = None) -> LineAssembler:
    return LineAssembler(META if meta is None else meta, marks or {}, max_line)


def records(raw: list[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(record) for record in raw]


def messages(raw: list[bytes]) -> list[tuple[str, str]]:
    return [(r["stream"], r["message"]) for r in records(raw)]


# --- basic records ---------------------------------------------------------------------------------


def test_basic_records_have_timestamp_message_stream_and_metadata() -> None:
    lines = assembler()
    got = records(lines.feed([out(1, b"GET /health 200\n"), err(2, b"warning: slow\n"), out(3, b"tty line\r\n")]))
    assert got == [
        {"timestamp": ts(1).decode(), "message": "GET /health 200", "stream": "stdout", **META},
        {"timestamp": ts(2).decode(), "message": "warning: slow", "stream": "stderr", **META},
        {"timestamp": ts(3).decode(), "message": "tty line", "stream": "stdout", **META},
    ]
    assert lines.take_line_counts() == {"stdout": 2, "stderr": 1}
    assert lines.take_line_counts() == {"stdout": 0, "stderr": 0}


def test_record_keeps_nanoseconds_and_trailing_zero() -> None:
    raw = b"2026-11-25T16:37:09.305268570Z"
    (record,) = records(assembler().feed([(STDOUT, raw + b" x\n")]))
    assert record["timestamp"] == raw.decode()


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (b"plain\n", "plain"),
        (b"crlf\r\n", "crlf"),
        (b"inner\rcr\n", "inner\rcr"),
        (b"two newlines\n\n", "two newlines\n"),
        (b"\n", ""),
        (b'quote " backslash \\ tab \t\n', 'quote " backslash \\ tab \t'),
        ("unicode é € 😀\n".encode(), "unicode é € 😀"),
        (b"\x00\x1f control\n", "\x00\x1f control"),
    ],
)
def test_message_without_trailing_newline(message: bytes, expected: str) -> None:
    (record,) = records(assembler().feed([out(1, message)]))
    assert record["message"] == expected


def test_metadata_is_spliced_and_can_change() -> None:
    lines = assembler(meta={})
    assert records(lines.feed([out(1, b"a\n")])) == [
        {"timestamp": ts(1).decode(), "message": "a", "stream": "stdout"}]
    lines.set_metadata({"container": {"name": "renamed"}, "extra": {"k": "v"}})
    (record,) = records(lines.feed([err(2, b"b\n")]))
    assert record["container"] == {"name": "renamed"}
    assert record["extra"] == {"k": "v"}
    assert record["stream"] == "stderr"


# --- long lines (json-file) --------------------------------------------------------------------------


def test_40000_byte_line_in_three_pieces_is_one_message() -> None:
    line = bytes(b"abcdefghij"[i % 10] for i in range(40000))
    frames = pieces(STDOUT, 1, line)
    assert [len(p) - 31 for _, p in frames] == [16384, 16384, 7233]
    lines = assembler()
    got = records(lines.feed(frames))
    assert [r["message"] for r in got] == [line.decode()]
    assert got[0]["timestamp"] == ts(1).decode()
    assert "partial" not in got[0]


def test_long_line_pieces_interleaved_with_stderr_join_per_stream() -> None:
    line = b"o" * 40000
    p1, p2, p3 = pieces(STDOUT, 2, line)
    frames = [err(1, b"e1\n"), p1, err(3, b"e3\n"), p2, err(4, b"e4\n"), err(5, b"e5\n"), p3, out(6, b"after\n")]
    got = messages(assembler().feed(frames))
    assert got == [("stderr", "e1"), ("stderr", "e3"), ("stderr", "e4"), ("stderr", "e5"),
                   ("stdout", line.decode()), ("stdout", "after")]


def test_two_long_lines_on_both_streams_interleaved_piece_by_piece() -> None:
    a, b = b"A" * 33000, b"B" * 20000
    out_pieces, err_pieces = pieces(STDOUT, 1, a), pieces(STDERR, 2, b)
    frames = [out_pieces[0], err_pieces[0], out_pieces[1], err_pieces[1], out_pieces[2]]
    assert sorted(messages(assembler().feed(frames))) == [("stderr", b.decode()), ("stdout", a.decode())]


@pytest.mark.parametrize("length", [16383, 16384, 16385, 32768, 40000, 2_000_000])
def test_json_file_lines_around_the_chunk_size_are_whole(length: int) -> None:
    line = b"z" * length
    got = messages(assembler(max_line=4 * 1024 * 1024).feed([*pieces(STDOUT, 1, line), out(2, b"short\n")]))
    assert got == [("stdout", line.decode()), ("stdout", "short")]


# --- the local driver: final newline lost ---------------------------------------------------------


def test_local_40000_line_without_newline_then_short_line() -> None:
    line = b"L" * 40000
    frames = pieces(STDOUT, 1, line, newline=False)
    assert frames[-1][1].endswith(b"L")
    got = messages(assembler().feed([*frames, out(2, b"short\n")]))
    assert got == [("stdout", line.decode()), ("stdout", "short")]


def test_local_exactly_16384_then_empty_piece_with_same_timestamp() -> None:
    line = b"x" * PARTIAL_CHUNK
    frames = pieces(STDOUT, 1, line, newline=False)
    assert frames == [out(1, line), out(1, b"")]
    lines = assembler()
    got = messages(lines.feed([*frames, out(2, b"next\n")]))
    assert got == [("stdout", line.decode()), ("stdout", "next")]


@pytest.mark.parametrize("length", [16385, 32768, 49152, 100000])
def test_local_long_lines_never_glue_onto_the_next(length: int) -> None:
    line = b"q" * length
    got = messages(assembler().feed([*pieces(STDOUT, 1, line, newline=False), out(2, b"short\n"),
                                     *pieces(STDOUT, 3, line, newline=False), out(4, b"again")]))
    assert got == [("stdout", line.decode()), ("stdout", "short"), ("stdout", line.decode()), ("stdout", "again")]


# --- UTF-8 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "offset"), [(char, offset) for char in ("é", "€", "😀") for offset in range(1, len(char.encode()))])
def test_multibyte_character_split_across_the_16384_boundary_survives(char: str, offset: int) -> None:
    encoded = char.encode()
    line = b"a" * (PARTIAL_CHUNK - offset) + encoded + b"b" * 100
    frames = pieces(STDOUT, 1, line)
    assert len(frames) == 2 and not frames[0][1].decode(errors="replace").endswith(char)
    lines = assembler()
    got = messages(lines.feed(frames))
    assert got == [("stdout", line.decode())]
    assert lines.invalid_utf8 == 0


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (b"bad \xff byte\n", "bad \ufffd byte"),
        (b"truncated \xe2\x82\n", "truncated \ufffd"),
        (b"latin-1 caf\xe9\n", "latin-1 caf\ufffd"),
    ],
)
def test_invalid_utf8_is_replaced_and_counted(message: bytes, expected: str) -> None:
    lines = assembler()
    got = records(lines.feed([out(1, message), out(2, b"fine\n")]))
    assert [r["message"] for r in got] == [expected, "fine"]
    assert lines.invalid_utf8 == 1


# --- max_line_bytes ---------------------------------------------------------------------------------


def check_parts(got: list[dict[str, Any]], line: bytes, max_line: int) -> None:
    """The parts concatenate to ``line``, are ordered, none exceeds the max, only the last says last."""
    assert len(got) >= 2
    assert "".join(r["message"] for r in got) == line.decode()
    assert [r["partial"]["ordinal"] for r in got] == list(range(1, len(got) + 1))
    assert [r["partial"]["last"] for r in got] == [False] * (len(got) - 1) + [True]
    for r in got:
        assert len(r["message"].encode()) <= max_line
        assert r["message"], "an empty part"
        assert r["timestamp"] == got[0]["timestamp"]


def test_line_longer_than_max_is_cut_into_partial_records() -> None:
    max_line = PARTIAL_CHUNK * 2
    line = bytes(b"0123456789"[i % 10] for i in range(100000))
    lines = assembler(max_line=max_line)
    got = records(lines.feed([*pieces(STDOUT, 1, line), out(2, b"next\n")]))
    assert got[-1]["message"] == "next" and "partial" not in got[-1]
    check_parts(got[:-1], line, max_line)
    assert lines.cut == 1


@pytest.mark.parametrize("max_line", [PARTIAL_CHUNK, 20000, PARTIAL_CHUNK * 2])
@pytest.mark.parametrize("char", ["é", "€", "😀"])
def test_cut_lines_keep_multibyte_characters_and_the_max(max_line: int, char: str) -> None:
    line = ("a" * 16383 + char * 9000).encode()[:100000]
    line = line[:complete_utf8_prefix(line)]
    lines = assembler(max_line=max_line)
    got = records(lines.feed(pieces(STDOUT, 1, line)))
    check_parts(got, line, max_line)
    assert lines.invalid_utf8 == 0


@pytest.mark.parametrize(
    ("char", "offset"), [(char, offset) for char in ("é", "€", "😀") for offset in range(1, len(char.encode()))])
@pytest.mark.parametrize("max_line", [PARTIAL_CHUNK, 20000])
def test_no_part_exceeds_max_when_a_character_straddles_the_first_cut(char: str, offset: int,
                                                                      max_line: int) -> None:
    # The bytes of a character held back at one cut start the next part; that part must still fit.
    line = b"a" * (PARTIAL_CHUNK - offset) + char.encode() + b"a" * 40000
    got = records(assembler(max_line=max_line).feed(pieces(STDOUT, 1, line)))
    check_parts(got, line, max_line)


@pytest.mark.parametrize("newline", [True, False])
def test_cut_line_from_local_driver(newline: bool) -> None:
    line = b"m" * 100000
    got = records(assembler(max_line=PARTIAL_CHUNK * 2).feed(
        [*pieces(STDOUT, 1, line, newline=newline), out(2, b"next\n")]))
    check_parts(got[:-1], line, PARTIAL_CHUNK * 2)
    assert got[-1]["message"] == "next"


@pytest.mark.parametrize("max_line", [PARTIAL_CHUNK, 20000, PARTIAL_CHUNK * 2, BIG_MAX])
def test_line_of_exactly_max_line_bytes_is_kept_whole(max_line: int) -> None:
    # LOGSHIP_MAX_LINE_BYTES: "Longest line kept whole; a longer one is cut into parts".
    line = b"w" * max_line
    got = records(assembler(max_line=max_line).feed(pieces(STDOUT, 1, line)))
    assert [r["message"] for r in got] == [line.decode()]
    assert "partial" not in got[0]


@pytest.mark.parametrize("multiple", [2, 3])
def test_line_of_a_multiple_of_max_has_no_empty_last_part(multiple: int) -> None:
    max_line = PARTIAL_CHUNK * 2
    line = b"k" * (max_line * multiple)
    got = records(assembler(max_line=max_line).feed(pieces(STDOUT, 1, line)))
    check_parts(got, line, max_line)
    assert len(got) == multiple


def test_single_long_message_over_max_is_cut_by_emit() -> None:
    # A payload without a valid timestamp never joins pieces; a huge one is still cut, not dropped.
    line = "é".encode() * 20000
    lines = assembler(max_line=PARTIAL_CHUNK)
    got = records(lines.feed([(STDOUT, b"garbage:" + line + b"\n")]))
    check_parts(got, b"garbage:" + line, PARTIAL_CHUNK)


# --- lines without newline -----------------------------------------------------------------------


def test_last_line_without_newline_is_emitted_at_once() -> None:
    got = messages(assembler().feed([out(1, b"a\n"), out(2, b"tail-at-exit")]))
    assert got == [("stdout", "a"), ("stdout", "tail-at-exit")]


def test_16384_piece_without_newline_is_held_until_flush() -> None:
    lines = assembler()
    piece = b"h" * PARTIAL_CHUNK
    assert messages(lines.feed([out(1, b"a\n"), out(2, piece), err(3, b"e\n")])) == [
        ("stdout", "a"), ("stderr", "e")]
    assert lines.marks()["stdout"] == Mark(ts(1), 1), "a held piece is never checkpointed"
    got = records(lines.flush())
    assert [(r["stream"], r["message"], r["timestamp"]) for r in got] == [("stdout", piece.decode(), ts(2).decode())]
    assert lines.marks()["stdout"] == Mark(ts(2), 1)
    assert lines.flush() == []


def test_held_piece_then_a_newer_line_are_two_lines() -> None:
    # A 16384-byte tail at exit, then the next run writes: no gluing across timestamps.
    piece = b"h" * PARTIAL_CHUNK
    got = messages(assembler().feed([out(1, piece), out(2, b"next run\n")]))
    assert got == [("stdout", piece.decode()), ("stdout", "next run")]


def test_two_frames_with_same_timestamp_first_a_16384_piece_are_joined() -> None:
    first = b"p" * PARTIAL_CHUNK
    got = messages(assembler().feed([out(1, first), out(1, b"end\n")]))
    assert got == [("stdout", first.decode() + "end")]


# --- resume and replays ------------------------------------------------------------------------------


def stream_frames() -> list[tuple[int, bytes]]:
    return [out(1, b"o1\n"), err(2, b"e2\n"), *pieces(STDOUT, 3, b"L" * 40000), out(4, b"o4\n"),
            err(5, b"e5\n"), out(6, b"o6\n")]


def test_resume_with_marks_emits_only_new_lines() -> None:
    first = assembler()
    before = messages(first.feed(stream_frames()))
    assert len(before) == 6
    marks = first.marks()
    assert marks == {"stdout": Mark(ts(6), 1), "stderr": Mark(ts(5), 1)}
    second = assembler(marks=marks)
    new = [err(7, b"e7\n"), out(8, b"o8\n"), *pieces(STDOUT, 9, b"N" * 20000)]
    got = messages(second.feed([*stream_frames(), *new]))
    assert got == [("stderr", "e7"), ("stdout", "o8"), ("stdout", "N" * 20000)]
    assert second.skipped == len(stream_frames())


def test_resume_when_the_mark_is_a_long_line() -> None:
    first = assembler()
    frames = [out(1, b"o1\n"), *pieces(STDOUT, 2, b"L" * 40000)]
    first.feed(frames)
    marks = first.marks()
    assert marks == {"stdout": Mark(ts(2), 3)}
    second = assembler(marks=marks)
    assert messages(second.feed([*frames, out(3, b"new\n")])) == [("stdout", "new")]


def test_resume_while_a_long_line_was_held_repeats_it_whole() -> None:
    first = assembler()
    long_line = pieces(STDOUT, 2, b"L" * 40000)
    assert messages(first.feed([out(1, b"o1\n"), *long_line[:2]])) == [("stdout", "o1")]
    second = assembler(marks=first.marks())
    got = messages(second.feed([out(1, b"o1\n"), *long_line, out(3, b"o3\n")]))
    assert got == [("stdout", "L" * 40000), ("stdout", "o3")]


def test_reconnect_of_the_same_assembler_skips_what_it_saw() -> None:
    lines = assembler()
    frames = [out(1, b"o1\n"), err(2, b"e2\n"), out(3, b"o3\n")]
    lines.feed(frames)
    lines.resume_from_seen()
    assert messages(lines.feed([*frames, out(4, b"o4\n")])) == [("stdout", "o4")]


@pytest.mark.parametrize("replay_from", [3, 5, 1])
def test_rotation_replay_yields_only_the_new_line(replay_from: int) -> None:
    lines = assembler()
    assert len(lines.feed([out(n, b"line %d\n" % n) for n in range(1, 6)])) == 5
    replay = [out(n, b"line %d\n" % n) for n in range(replay_from, 6)]
    assert messages(lines.feed([*replay, out(6, b"line 6\n")])) == [("stdout", "line 6")]
    assert lines.marks()["stdout"] == Mark(ts(6), 1)


def test_rotation_replay_of_a_long_line() -> None:
    lines = assembler()
    long_line = pieces(STDOUT, 2, b"R" * 40000)
    lines.feed([out(1, b"a\n"), *long_line])
    assert messages(lines.feed([out(1, b"a\n"), *long_line, out(3, b"new\n")])) == [("stdout", "new")]


def test_stderr_older_than_last_stdout_is_not_dropped() -> None:
    # dockerd: file order is not timestamp order across streams (up to ~18 ms back).
    frames = [out(5, b"o5\n"), err(3, b"e3\n"), out(6, b"o6\n"), err(4, b"e4\n"), err(7, b"e7\n")]
    got = messages(assembler().feed(frames))
    assert got == [("stdout", "o5"), ("stderr", "e3"), ("stdout", "o6"), ("stderr", "e4"), ("stderr", "e7")]


# --- since ---------------------------------------------------------------------------------------------


def epoch(timestamp: bytes) -> int:
    return calendar.timegm(time.strptime(timestamp[:19].decode(), "%Y-%m-%dT%H:%M:%S"))


def test_since_is_zero_without_marks() -> None:
    assert assembler().since() == "0"
    assert since_parameter([]) == "0"


def test_since_of_a_known_timestamp() -> None:
    known = b"2026-11-25T16:37:49.012718525Z"
    seconds = epoch(known)
    assert seconds == 1795624669  # engine-api.md §2: U = 1795624669.012718525
    assert RESUME_MARGIN_SECONDS == 1
    assert since_parameter([Mark(known, 1)]) == f"{seconds - 1}.012718525"
    assert assembler(marks={"stdout": Mark(known, 2)}).since() == "1795624668.012718525"


def test_since_uses_the_oldest_mark_of_both_streams() -> None:
    older, newer = b"2026-11-25T16:37:49.900000000Z", b"2026-11-25T16:37:50.000000001Z"
    lines = assembler(marks={"stdout": Mark(newer, 1), "stderr": Mark(older, 4)})
    assert lines.since() == f"{epoch(older) - 1}.900000000"


def test_since_follows_emitted_lines_not_held_pieces() -> None:
    lines = assembler()
    lines.feed([out(1, b"a\n"), out(2, b"h" * PARTIAL_CHUNK)])
    assert lines.since() == f"{epoch(ts(1)) - 1}.{ts(1)[20:29].decode()}"


# --- bad timestamps -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [b"garbage before the space\n", b"no-space-at-all\n", b" leading space\n", b"2026-11-25 16:37:09 wrong\n",
     b"2026-11-25T16:37:09.3052685741234Z too many digits\n"],
)
def test_bad_timestamp_keeps_the_message_and_counts(payload: bytes) -> None:
    lines = assembler()
    got = records(lines.feed([out(1, b"before\n"), (STDOUT, payload), out(2, b"after\n")]))
    assert [r["message"] for r in got] == ["before", payload.rstrip(b"\n").decode(), "after"]
    assert lines.bad_timestamps == 1
    assert got[1]["timestamp"] == ts(1).decode(), "the stream's last timestamp"


def test_bad_timestamp_as_first_frame_gets_a_current_timestamp() -> None:
    lines = assembler()
    (record,) = records(lines.feed([(STDOUT, b"oops\n")]))
    assert record["message"] == "oops"
    assert normalise_timestamp(record["timestamp"].encode()) == record["timestamp"].encode()
    assert lines.bad_timestamps == 1


def test_short_fraction_timestamp_is_normalised_in_records() -> None:
    (record,) = records(assembler().feed([(STDOUT, b"2026-11-25T16:37:49.01245274Z x\n")]))
    assert record["timestamp"] == "2026-11-25T16:37:49.012452740Z"


# --- pure helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"2026-11-25T16:37:09.305268574Z", b"2026-11-25T16:37:09.305268574Z"),
        (b"2026-11-25T16:37:49.01245274Z", b"2026-11-25T16:37:49.012452740Z"),
        (b"2026-11-25T16:37:49.1Z", b"2026-11-25T16:37:49.100000000Z"),
        (b"2026-11-25T16:37:49Z", b"2026-11-25T16:37:49.000000000Z"),
        (b"", None),
        (b"garbage", None),
        (b"2026-11-25T16:37:49.0127185251Z", None),
        (b"2026-11-25T16:37:49.012718525", None),
        (b"2026-11-25 16:37:49.012718525Z", None),
        (b"2026-11-25T16:37:49.01x718525Z", None),
        (b"2026-11-25T16:37:49.1.2Z", None),
        (b"26-11-25T16:37:49.012718525Z", None),
        (b"2026-11-25T16:37:49+01:00", None),
    ],
)
def test_normalise_timestamp(raw: bytes, expected: bytes | None) -> None:
    assert normalise_timestamp(raw) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0),
        (b"abc", 3),
        (b"a\xc3\xa9", 3),
        (b"a\xc3", 1),
        (b"a\xe2\x82\xac", 4),
        (b"a\xe2\x82", 1),
        (b"a\xe2", 1),
        (b"a\xf0\x9f\x98\x80", 5),
        (b"a\xf0\x9f\x98", 1),
        (b"a\xf0\x9f", 1),
        (b"a\xf0", 1),
        (b"\xc3", 1),  # never 0 for non-empty data
        (b"\xf0\x9f\x98", 3),
        (b"a\x80\x80\x80\x80", 5),  # stray continuation bytes: not a cut character
    ],
)
def test_complete_utf8_prefix(data: bytes, expected: int) -> None:
    assert complete_utf8_prefix(data) == expected


def test_has_seen_answers_as_the_skip_rule_drops_a_replayed_frame() -> None:
    lines = assembler()
    assert not lines.has_seen(STDOUT, ts(5))  # nothing seen yet
    lines.feed([out(5, b"a\n"), out(6, b"b\n"), err(4, b"c\n")])
    lines.resume_from_seen()
    assert lines.has_seen(STDOUT, ts(5)) and lines.has_seen(STDOUT, ts(6))
    assert not lines.has_seen(STDOUT, ts(7))
    assert lines.has_seen(STDERR, ts(4)) and not lines.has_seen(STDERR, ts(5))  # per stream
    assert not lines.has_seen(STDOUT, b"garbage")
    # What has_seen says of the first frame of a replay is what feed() does with it.
    assert lines.feed([out(6, b"b\n")]) == [] and lines.skipped == 1
    assert len(lines.feed([out(7, b"d\n")])) == 1
    trimmed = assembler()  # a timestamp with trailing zeros, as RFC3339Nano may write it, is read in full
    trimmed.feed([(STDOUT, b"2026-11-25T16:37:09.500000000Z a\n")])
    assert trimmed.has_seen(STDOUT, b"2026-11-25T16:37:09.5Z")
    assert not trimmed.has_seen(STDOUT, b"2026-11-25T16:37:09.6Z")


def test_lines_counted_grow_by_the_lines_of_a_chunk_until_they_are_taken() -> None:
    lines = assembler()
    assert lines.lines_counted() == 0
    lines.feed([out(5, b"a\n"), out(6, b"b\n"), err(4, b"c\n")])
    assert lines.lines_counted() == 3
    lines.feed([out(7, b"d\n")])
    assert lines.lines_counted() == 4
    assert lines.take_line_counts() == {"stdout": 3, "stderr": 1} and lines.lines_counted() == 0
