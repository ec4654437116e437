"""GELF's one pass (issue 15.1): a plain record written from its bytes is the message the parsing way
writes, whatever its message (spaces at an end, long, multi-line, non-ASCII, escaped)."""

from __future__ import annotations

import pytest

from logship.sinks.base import Batch
from logship.sinks.gelf.encode import _Encoder, messages
from tests.sinks.records import parsed_batch, records, sample_batch

MESSAGES = ["plain", 'quoted "x" \\ back', " lead", "trail ", "tab\tin", "end\u00a0", "x" * 250, "x" * 251,
            "é" * 125, "é" * 126, "two\nlines", "日本 \U0001F600", "\n"]


@pytest.mark.parametrize("stamp", ["2026-11-25T16:32:42.123456789Z", "2026-11-25T16:32:42.000000000Z",
                                   "1960-11-25T16:32:42.999999999Z"])
def test_plain_messages_equal_the_parsing_way(stamp: str) -> None:
    recs = [*records([("stdout", stamp, message + "\n") for message in MESSAGES]), *sample_batch().records,
            *parsed_batch().records]
    one_by_one = _Encoder()
    assert messages(Batch(recs, 0)) == [one_by_one.encode(record) for record in recs]
