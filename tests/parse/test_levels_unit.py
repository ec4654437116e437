"""Level normalisation: parsed fields and the leading token of plain lines."""

from __future__ import annotations

import pytest

from logship.parse.levels import leading, normalise


@pytest.mark.parametrize(("value", "level"), [
    ("error", "error"), ("ERROR", "error"), ("Warning", "warn"), ("warn", "warn"), ("WRN", "warn"),
    ("information", "info"), ("notice", "info"), ("debug", "debug"), ("TRACE", "trace"), ("verbose", "trace"),
    ("critical", "fatal"), ("panic", "fatal"), ("fatal", "fatal"), ("severe", "error"),
    (30, "info"), (50, "error"), (60, "fatal"), (10, "trace"),
    ("loud", None), (35, None), (None, None), (True, None), (["error"], None),
])
def test_parsed_values(value: object, level: str | None) -> None:
    assert normalise(value) == level


@pytest.mark.parametrize(("line", "level"), [
    ("ERROR something broke", "error"),
    ("ERROR:root:conversion failed", "error"),  # Python's default logging format
    ("WARN  disk almost full", "warn"),
    ("[warn] disk almost full", "warn"),
    ("[Error] upstream timed out", "error"),
    ("<debug> cache", "debug"),
    ("E1207 12:00:00.123456 1 main.go:12] failed", "error"),  # glog
    ("I1207 12:00:00.123456 1 main.go:12] started", "info"),
    ("level=warn msg=slow", "warn"),
    ('level="error" msg=x', "error"),
    ("2026-12-07T12:00:00.123Z ERROR db down", "error"),
    ("2026-12-07 12:00:00,123 INFO started", "info"),
    ("FATAL", "fatal"),
    # Not a leading level: mixed case without brackets, a word further in, part of a longer word.
    ("Error budget remaining", None),
    ("GET /error 404", None),
    ("an ERROR in the middle", None),
    ("ERRORS: 0", None),
    ("INFORMATION_SCHEMA tables", None),
    ("", None),
])
def test_leading_token(line: str, level: str | None) -> None:
    assert leading(line) == level
