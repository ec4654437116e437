"""Syslog's one pass (issue 15.1): the octet-counted stream written from plain records' bytes is the
framing of the messages the parsing way writes, at every message limit."""

from __future__ import annotations

import dataclasses

import pytest

from logship.config import load
from logship.sinks.base import Batch
from logship.sinks.syslog.encode import encode, encode_messages, frame
from tests.sinks.records import parsed, parsed_batch, records, sample_batch

CONFIG = load({"LOGSHIP_SINK": "syslog", "LOGSHIP_SYSLOG_ADDRESS": "tcp://127.0.0.1:9"}).sink_configs["syslog"]


@pytest.mark.parametrize("limit", [8000, 300, 120, 60])
def test_the_stream_frames_the_parsing_ways_messages(limit: int) -> None:
    lines = [("stdout", "2026-11-25T16:32:42.123456789Z", 'quoted "x" \\ é 日本\n'),
             ("stderr", "2026-11-25T16:32:42.000000000Z", "\n"),
             ("stdout", "1960-11-25T16:32:42.999999999Z", "before 1970\n"),
             ("stdout", "2026-02-30T16:32:42.000000001Z", "no such day\n"),
             ("stdout", "2026-11-25T16:32:43.000000001Z", "é" * 200 + "\n")]
    recs = [*records(lines), *sample_batch().records, *parsed_batch().records,
            parsed(records(lines[:1])[0], level="warn")]
    config = dataclasses.replace(CONFIG, max_message_bytes=limit)
    batch = Batch(recs, 0)
    assert encode(batch, config) == b"".join(frame(message) for message in encode_messages(
        batch, config.facility, limit))
