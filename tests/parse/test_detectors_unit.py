"""The built-in detectors and regex: mode on the corpus, line by line through the joiner."""

from __future__ import annotations

import re

import pytest

from logship.parse.detectors import AUTO, regex_detector
from logship.parse.joiner import Joiner
from tests.parse.helpers import TRACE_FILES, blocks, ordinary


def joined(lines: list[str], detector=AUTO, max_lines: int = 1000, max_bytes: int = 1 << 20) -> list[list[str]]:
    out: list[list[str]] = []
    joiner = Joiner(detector, max_lines, max_bytes, lambda stamp, end, lines: out.append(lines))
    for n, line in enumerate(lines):
        joiner.push(b"%d" % n, line, (b"", 0), 0.0)
    joiner.flush(0.0)
    return out


@pytest.mark.parametrize("name", TRACE_FILES)
def test_every_event_of_the_corpus_is_joined_exactly(name: str) -> None:
    expected = blocks(name)
    assert any(len(block) > 1 for block in expected)
    assert joined([line for block in expected for line in block]) == expected


def test_ordinary_lines_pass_through() -> None:
    lines = ordinary()
    assert joined(lines) == [[line] for line in lines]


@pytest.mark.parametrize("name", TRACE_FILES)
def test_events_between_ordinary_lines(name: str) -> None:
    lines = ordinary()
    expected = [[line] for line in lines[:5]] + blocks(name) + [[line] for line in lines[5:]]
    assert joined([line for block in expected for line in block]) == expected


def test_a_candidate_without_frames_is_a_line_of_its_own() -> None:
    assert joined(["ValueError: x", "next line"]) == [["ValueError: x"], ["next line"]]
    assert joined(["Traceback (most recent call last):"]) == [["Traceback (most recent call last):"]]


def test_chained_python_needs_the_chain_sentence() -> None:
    lines = ["Traceback (most recent call last):", '  File "a.py", line 1, in <module>', "KeyError: 'x'", "",
             "after a blank line"]
    assert joined(lines) == [lines[:3], [""], ["after a blank line"]]


def test_bounds_end_an_event() -> None:
    trace = ["java.lang.Error: x"] + [f"\tat a.B.c{i}(B.java:{i})" for i in range(5)]
    assert joined(trace, max_lines=3) == [trace[:3], [trace[3]], [trace[4]], [trace[5]]]
    assert joined(trace, max_bytes=40) == [trace[:2], *([line] for line in trace[2:])]


def test_regex_mode_joins_until_the_next_start() -> None:
    detector = regex_detector(re.compile(r"^\d{4}-\d\d-\d\d "))
    lines = ["preamble", "2026-12-07 12:00:00 start", "  more", "plain text", "2026-12-07 12:00:01 next", "x"]
    assert joined(lines, detector) == [["preamble"], lines[1:4], lines[4:]]
