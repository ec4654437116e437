"""MuxDecoder and RawDecoder: bodies as dockerd sends them, fed in every possible slicing."""

from __future__ import annotations

import random
import struct

import pytest

from logship.collect.frames import (
    MAX_FRAME,
    PARTIAL_CHUNK,
    STDERR,
    STDOUT,
    FramingLost,
    MuxDecoder,
    RawDecoder,
    first_entry,
)

TS = b"2026-11-25T16:37:09.305268574Z"
TS2 = b"2026-11-25T16:37:09.623247666Z"


def frame(stream: int, payload: bytes, padding: bytes = b"\0\0\0") -> bytes:
    """One multiplexed frame: [stream][0 0 0][len u32 BE] payload."""
    return bytes([stream]) + padding + struct.pack(">L", len(payload)) + payload


def entry(message: bytes, ts: bytes = TS) -> bytes:
    return ts + b" " + message


def feed_in_slices(decoder: MuxDecoder | RawDecoder, body: bytes, sizes: list[int]) -> list[tuple[int, bytes]]:
    frames: list[tuple[int, bytes]] = []
    pos = 0
    for size in sizes:
        frames += decoder.feed(body[pos:pos + size])
        pos += size
    frames += decoder.feed(body[pos:])
    return frames


def random_sizes(total: int, seed: int, largest: int) -> list[int]:
    rng = random.Random(seed)
    sizes = []
    while sum(sizes) < total:
        sizes.append(rng.randint(1, largest))
    return sizes


MUX_FRAMES = [
    (STDOUT, entry(b"out1\n")),
    (STDERR, entry(b"err1\n", TS2)),
    (STDOUT, entry(b"")),  # local driver: the empty last piece of a 16384-byte line
    (STDOUT, entry(b"x" * PARTIAL_CHUNK)),
    (STDERR, entry("héllo € 😀\n".encode())),
    (STDOUT, entry(b"noeol")),
]
MUX_BODY = b"".join(frame(stream, payload) for stream, payload in MUX_FRAMES)


# --- MuxDecoder ------------------------------------------------------------------------------------


def test_mux_whole_body_gives_every_frame_with_its_stream() -> None:
    decoder = MuxDecoder()
    assert decoder.feed(MUX_BODY) == MUX_FRAMES
    decoder.finish()
    assert not decoder.malformed


def test_mux_byte_by_byte_gives_the_same_frames() -> None:
    decoder = MuxDecoder()
    frames = feed_in_slices(decoder, MUX_BODY, [1] * len(MUX_BODY))
    assert frames == MUX_FRAMES
    decoder.finish()
    assert not decoder.malformed


@pytest.mark.parametrize("cut", range(1, len(frame(STDOUT, entry(b"out1\n"))) * 2 + 3))
def test_mux_split_at_every_boundary_of_the_first_frames(cut: int) -> None:
    decoder = MuxDecoder()
    frames = decoder.feed(MUX_BODY[:cut]) + decoder.feed(MUX_BODY[cut:])
    assert frames == MUX_FRAMES
    decoder.finish()
    assert not decoder.malformed


@pytest.mark.parametrize("seed", range(20))
def test_mux_random_slices_give_the_same_frames(seed: int) -> None:
    decoder = MuxDecoder()
    frames = feed_in_slices(decoder, MUX_BODY, random_sizes(len(MUX_BODY), seed, 5000))
    assert frames == MUX_FRAMES
    decoder.finish()
    assert not decoder.malformed


def test_mux_empty_feed_is_harmless() -> None:
    decoder = MuxDecoder()
    assert decoder.feed(b"") == []
    assert decoder.feed(frame(STDOUT, entry(b"a\n"))) == [(STDOUT, entry(b"a\n"))]
    assert decoder.feed(b"") == []


@pytest.mark.parametrize("stream", [0, 3, 4, 255])
def test_mux_unknown_stream_is_skipped_and_counted(stream: int) -> None:
    decoder = MuxDecoder()
    body = frame(STDOUT, entry(b"a\n")) + frame(stream, entry(b"stdin?\n")) + frame(STDERR, entry(b"b\n"))
    assert feed_in_slices(decoder, body, [1] * len(body)) == [(STDOUT, entry(b"a\n")), (STDERR, entry(b"b\n"))]
    assert decoder.malformed == {"unknown_stream": 1}


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (bytes([1, 0, 0, 1]) + struct.pack(">L", 5), "non-zero padding (last byte)"),
        (bytes([1, 1, 0, 0]) + struct.pack(">L", 5), "non-zero padding (first byte)"),
        (bytes([2, 0, 7, 0]) + struct.pack(">L", 5), "non-zero padding (middle byte)"),
        (bytes([1, 0, 0, 0]) + struct.pack(">L", MAX_FRAME + 1), "length over 4 MiB"),
        (bytes([1, 0, 0, 0]) + struct.pack(">L", 0xFFFFFFFF), "length 4 GiB"),
        (b"2026-11-", "a TTY body read as multiplexed"),
    ],
)
def test_mux_bad_header_raises_framing_lost_and_counts(header: bytes, why: str) -> None:
    decoder = MuxDecoder()
    assert decoder.feed(frame(STDOUT, entry(b"ok\n"))) == [(STDOUT, entry(b"ok\n"))]
    with pytest.raises(FramingLost):
        decoder.feed(header + b"hello")
    assert decoder.malformed == {"bad_header": 1}, why


def test_mux_bad_header_detected_when_it_arrives_byte_by_byte() -> None:
    decoder = MuxDecoder()
    bad = bytes([1, 0, 0, 9]) + struct.pack(">L", 3) + b"abc"
    for byte in bad[:7]:
        assert decoder.feed(bytes([byte])) == []
    with pytest.raises(FramingLost):
        decoder.feed(bad[7:8])
    assert decoder.malformed["bad_header"] == 1


def test_mux_length_of_exactly_4_mib_is_a_frame() -> None:
    decoder = MuxDecoder()
    header = bytes([1, 0, 0, 0]) + struct.pack(">L", MAX_FRAME)
    assert decoder.feed(header + b"a" * 10) == []  # waits for the payload, no error
    assert not decoder.malformed


@pytest.mark.parametrize(
    ("rest", "reason"),
    [
        (b"\x01", "truncated_header"),
        (b"\x01\0\0\0\0\0\0", "truncated_header"),
        (frame(STDOUT, entry(b"cut off\n"))[:8], "truncated_frame"),
        (frame(STDOUT, entry(b"cut off\n"))[:-1], "truncated_frame"),
    ],
)
def test_mux_finish_counts_what_was_left_incomplete(rest: bytes, reason: str) -> None:
    decoder = MuxDecoder()
    body = frame(STDOUT, entry(b"whole\n")) + rest
    assert feed_in_slices(decoder, body, [3] * (len(body) // 3)) == [(STDOUT, entry(b"whole\n"))]
    decoder.finish()
    assert decoder.malformed == {reason: 1}


def test_mux_finish_on_a_clean_end_counts_nothing_and_can_be_called_twice() -> None:
    decoder = MuxDecoder()
    decoder.feed(frame(STDOUT, entry(b"a\n")) + b"\x01\0")
    decoder.finish()
    decoder.finish()
    assert decoder.malformed == {"truncated_header": 1}


# --- RawDecoder (TTY) ------------------------------------------------------------------------------


def long_tty_entry(first: bytes, rest: bytes, ts: bytes = TS) -> bytes:
    """As dockerd sends a TTY line longer than 16 KiB: each 16384-byte piece gets its own prefix."""
    assert len(first) == PARTIAL_CHUNK
    return ts + b" " + first + ts + b" " + rest


RAW_CASES = [
    pytest.param(entry(b"out1\r\n") + entry(b"err1\r\n", TS2),
                 [(STDOUT, entry(b"out1\r\n")), (STDOUT, entry(b"err1\r\n", TS2))], b"", id="crlf-lines"),
    pytest.param(entry(b"progress 10%\rprogress 20%\r\n"),
                 [(STDOUT, entry(b"progress 10%\rprogress 20%\r\n"))], b"", id="lone-cr-is-not-a-break"),
    pytest.param(entry(b"a\r\n") + entry(b"tail-at-exit"),
                 [(STDOUT, entry(b"a\r\n"))], entry(b"tail-at-exit"), id="last-entry-without-newline"),
    pytest.param(long_tty_entry(b"a" * PARTIAL_CHUNK, b"bbb\r\n") + entry(b"short\r\n", TS2),
                 [(STDOUT, entry(b"a" * PARTIAL_CHUNK)), (STDOUT, entry(b"bbb\r\n")),
                  (STDOUT, entry(b"short\r\n", TS2))], b"", id="long-line-cut-at-embedded-ts"),
    pytest.param(entry(b"a" * (PARTIAL_CHUNK - 1) + b"\r") + entry(b"\n"),
                 [(STDOUT, entry(b"a" * (PARTIAL_CHUNK - 1) + b"\r")), (STDOUT, entry(b"\n"))], b"",
                 id="16383-chars-crlf-split-between-cr-and-lf"),
    pytest.param(entry(b"a" * PARTIAL_CHUNK) + entry(b"b" * PARTIAL_CHUNK) + entry(b"c" * 7232 + b"\r\n"),
                 [(STDOUT, entry(b"a" * PARTIAL_CHUNK)), (STDOUT, entry(b"b" * PARTIAL_CHUNK)),
                  (STDOUT, entry(b"c" * 7232 + b"\r\n"))], b"", id="40000-chars-three-pieces"),
]


@pytest.mark.parametrize(("body", "frames", "rest"), RAW_CASES)
def test_raw_whole_body(body: bytes, frames: list, rest: bytes) -> None:
    decoder = RawDecoder()
    got = decoder.feed(body)
    assert got == frames
    assert decoder.finish() == ([(STDOUT, rest)] if rest else [])
    assert not decoder.malformed


@pytest.mark.parametrize(("body", "frames", "rest"), RAW_CASES)
def test_raw_byte_by_byte_and_random_slices(body: bytes, frames: list, rest: bytes) -> None:
    if len(body) < 1000:
        decoder = RawDecoder()
        assert feed_in_slices(decoder, body, [1] * len(body)) == frames
        assert decoder.finish() == ([(STDOUT, rest)] if rest else [])
    for seed in range(5):
        decoder = RawDecoder()
        assert feed_in_slices(decoder, body, random_sizes(len(body), seed, 3000)) == frames
        assert decoder.finish() == ([(STDOUT, rest)] if rest else [])


@pytest.mark.parametrize("cut", [*range(1, 40), *range(PARTIAL_CHUNK + 20, PARTIAL_CHUNK + 75)])
def test_raw_long_entry_split_anywhere_near_the_embedded_timestamp(cut: int) -> None:
    body = long_tty_entry(b"a" * PARTIAL_CHUNK, b"rest\r\n")
    decoder = RawDecoder()
    frames = decoder.feed(body[:cut]) + decoder.feed(body[cut:])
    assert frames == [(STDOUT, entry(b"a" * PARTIAL_CHUNK)), (STDOUT, entry(b"rest\r\n"))]


def test_raw_cut_is_exactly_after_16384_message_bytes() -> None:
    piece = bytes(range(256)).replace(b"\n", b".").replace(b" ", b"_") * (PARTIAL_CHUNK // 256)
    body = long_tty_entry(piece, b"end\r\n")
    first, second = RawDecoder().feed(body)
    assert first == (STDOUT, TS + b" " + piece)
    assert len(first[1]) == len(TS) + 1 + PARTIAL_CHUNK
    assert second == (STDOUT, TS + b" end\r\n")


def test_raw_long_entry_without_matching_timestamp_is_not_cut() -> None:
    # The bytes after 16384 are another timestamp (not this entry's): not a piece boundary.
    body = TS + b" " + b"a" * PARTIAL_CHUNK + TS2 + b" b\r\n"
    assert RawDecoder().feed(body) == [(STDOUT, body)]


def test_raw_output_without_newline_is_released_piece_by_piece() -> None:
    # A TTY progress bar redraws with \r and never writes \n: dockerd logs it in 16384-byte entries.
    # Each piece is certain once the next piece's timestamp follows it, so memory stays bounded
    # (design.md: "Everything bounded") and the pieces reach the assembler, which cuts at max_line_bytes.
    piece = b"\rprogress 42%" * (PARTIAL_CHUNK // 13) + b"\r" * (PARTIAL_CHUNK % 13)
    assert len(piece) == PARTIAL_CHUNK
    decoder = RawDecoder()
    frames = []
    for _ in range(100):
        frames += decoder.feed(TS + b" " + piece)
    assert len(frames) >= 99
    assert frames[0] == (STDOUT, TS + b" " + piece)


def test_raw_finish_returns_last_entry_without_newline_and_cuts_it() -> None:
    decoder = RawDecoder()
    assert decoder.feed(entry(b"one\r\n") + entry(b"two")) == [(STDOUT, entry(b"one\r\n"))]
    assert decoder.finish() == [(STDOUT, entry(b"two"))]
    assert decoder.finish() == []

    decoder = RawDecoder()  # 20000 chars, no newline, container exits: 16384 + 3616
    # The first piece is certain as soon as the next piece's timestamp follows it.
    assert decoder.feed(long_tty_entry(b"c" * PARTIAL_CHUNK, b"c" * 3616)) == [(STDOUT, entry(b"c" * PARTIAL_CHUNK))]
    assert decoder.finish() == [(STDOUT, entry(b"c" * 3616))]


def test_first_entry_gives_the_stream_and_timestamp_of_a_body_without_consuming_it() -> None:
    body = frame(STDERR, entry(b"a line\n")) + frame(STDOUT, entry(b"next\n", TS2))
    assert first_entry(body, tty=False) == (STDERR, TS)
    assert first_entry(entry(b"a tty line\r\n") + entry(b"x\r\n", TS2), tty=True) == (STDOUT, TS)
    decoder = MuxDecoder()
    assert decoder.feed(body) == [(STDERR, entry(b"a line\n")), (STDOUT, entry(b"next\n", TS2))]


@pytest.mark.parametrize("body", [
    b"", b"\x01\0\0\0", frame(STDOUT, entry(b"x"))[:20],  # too short to tell
    frame(STDOUT, b"no-timestamp-here"),  # no space after a timestamp
    b"\x05\0\0\0\0\0\0\x20" + entry(b"x"),  # not a stream
    b"\x01\0\x07\0\0\0\0\x20" + entry(b"x"),  # not a header
])
def test_first_entry_is_none_when_the_body_cannot_tell(body: bytes) -> None:
    assert first_entry(body, tty=False) is None
