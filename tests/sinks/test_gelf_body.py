"""GELF's one pass (issue 15.1): a plain record written from its bytes, and a batch of them written at once
from its columns, give the messages the parsing way writes, whatever the message (spaces at an end, long,
multi-line, non-ASCII, escaped) and the time."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from logship.record import Reader
from logship.sinks.base import Batch
from logship.sinks.gelf.encode import _MILLIS_TEXT, _Encoder, messages
from tests.sinks.records import host_records, parsed_batch, records, sample_batch

MESSAGES = ["plain", 'quoted "x" \\ back', " lead", "trail ", "tab\tin", "end\u00a0", "x" * 250, "x" * 251,
            "é" * 125, "é" * 126, "two\nlines", "日本 \U0001F600", "\n"]


@pytest.mark.parametrize("stamp", ["2026-11-25T16:32:42.123456789Z", "2026-11-25T16:32:42.000000000Z",
                                   "1960-11-25T16:32:42.999999999Z"])
def test_plain_messages_equal_the_parsing_way(stamp: str) -> None:
    recs = [*records([("stdout", stamp, message + "\n") for message in MESSAGES]), *sample_batch().records,
            *parsed_batch().records]
    one_by_one = _Encoder()
    assert messages(Batch(recs, 0)) == [one_by_one.encode(record) for record in recs]


FRACTIONS = ["123456789", "000000000", "100000000", "120000000", "001000000", "999999999"]


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("second", ["2026-11-25T16:32:42", "1970-01-01T00:00:00", "1960-11-25T16:32:42",
                                    "9999-12-31T23:59:59"])
@pytest.mark.parametrize("replicas", [1, 3])
def test_a_batch_of_one_container_is_written_at_once_as_record_by_record(message: str, second: str,
                                                                        replicas: int) -> None:
    # One container's stdout and stderr (or a host's batch: three containers' in runs), every fraction the
    # millisecond text has a case for: a batch the whole-batch path takes when every message is its own
    # short_message (and declines otherwise).
    recs = host_records([("stderr" if n % 3 == 1 else "stdout", f"{second}.{fraction}Z", f"{message} {n}\n")
                         for n, fraction in enumerate(FRACTIONS * 2)], replicas, run=5)
    one_by_one = _Encoder()
    assert messages(Batch(recs, 0)) == [one_by_one.encode(record) for record in recs]


@pytest.mark.parametrize("message", MESSAGES)
def test_a_hosts_batch_in_long_runs_is_written_at_once_as_record_by_record(message: str) -> None:
    # Three containers' reads of 40 lines one after the other (Reader.columns finds the runs).
    recs = host_records([("stdout", f"2026-11-25T16:32:{40 + n // 40}.{n % 40 * 25:03d}{n:06d}Z", f"{message} {n}\n")
                         for n in range(120)], 3, run=40)
    assert Reader().columns(recs, runs=True) is not None
    one_by_one = _Encoder()
    assert messages(Batch(recs, 0)) == [one_by_one.encode(record) for record in recs]


@given(st.integers(0, 253402300799), st.integers(0, 999))  # every second up to year 9999, every millisecond
def test_the_millisecond_text_is_how_orjson_writes_the_timestamp(second: int, millis: int) -> None:
    assert b"%d.%b" % (second, _MILLIS_TEXT[b"%03d" % millis]) == orjson.dumps((second * 1000 + millis) / 1000)
