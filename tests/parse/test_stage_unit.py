"""The parse stage inside LineAssembler: records as record.py documents them, marks while an event is held,
store failures, timeouts, drop and redact, the position of a joined event, and parsing off."""

from __future__ import annotations

import re

import orjson

from logship.collect.checkpoint import BufferedPositions
from logship.collect.frames import STDERR, STDOUT, MuxDecoder
from logship.collect.lines import LineAssembler
from logship.collect.positions import Mark, record_position
from logship.parse.detectors import regex_detector
from logship.parse.redact import parse_redact
from logship.parse.settings import ParseSettings
from logship.parse.stage import just_before
from logship.record import Reader
from tests.parse.helpers import META, assembler, frames, run, stamp

TRACE = ["Traceback (most recent call last):", '  File "/app/x.py", line 3, in <module>', "ValueError: boom"]


def test_records_carry_level_lines_end_and_attributes_as_record_py_documents() -> None:
    lines = [(STDOUT, "GET / 200"), *((STDERR, line) for line in TRACE),
             (STDOUT, '{"level":"warn","msg":"slow","ms":12,"stream":"x","n":1}'), (STDOUT, "[error] boom")]
    raw_records = []
    target = assembler()
    raw_records += MuxDecoder().feed_records(frames(lines), target)
    raw_records += target.flush()
    records = [orjson.loads(r) for r in raw_records]
    plain, slow, error, trace = records
    assert plain == {"timestamp": stamp(0).decode(), "message": "GET / 200", "stream": "stdout", **META}
    assert slow["message"] == "slow" and slow["log"] == {"level": "warn"}
    assert slow["attributes"] == {"ms": 12, "_stream": "x", "n": 1}
    assert error["log"] == {"level": "error"} and "attributes" not in error
    assert trace["message"] == "\n".join(TRACE) and trace["timestamp"] == stamp(1).decode()
    assert trace["log"] == {"level": "error", "lines": 3, "end": stamp(3).decode()} and trace["stream"] == "stderr"
    reader = Reader()
    lines_read = [reader.read(r) for r in raw_records]
    assert [(line.level, line.lines, line.attributes) for line in lines_read] == [
        (None, None, None), ("warn", None, {"ms": 12, "_stream": "x", "n": 1}), ("error", None, None),
        ("error", 3, None)]
    assert all(line.stream in ("stdout", "stderr") for line in lines_read)


def test_off_makes_the_same_bytes_as_no_stage() -> None:
    lines = [(STDOUT, line) for line in (*TRACE, '{"level":"warn"}', "ERROR x", "plain")]
    plain = LineAssembler(META, {}, 1 << 20)
    off = LineAssembler(META, {}, 1 << 20, ParseSettings(parse="none", multiline=None))
    assert MuxDecoder().feed_records(frames(lines), off) == MuxDecoder().feed_records(frames(lines), plain)


def test_the_mark_stays_before_a_held_event_until_it_is_emitted() -> None:
    target = assembler(marks={"stdout": Mark(stamp(0), 1)})
    decoder = MuxDecoder()
    body = frames([(STDOUT, line) for line in ("before", *TRACE)], first=1)
    records = decoder.feed_records(body, target)
    assert [orjson.loads(r)["message"] for r in records] == ["before"]
    assert target.marks() == {"stdout": Mark(stamp(1), 1)}  # not past "before": the trace is held
    assert target.deadline() is not None
    assert target.expire(target.deadline() - 0.001) == []
    [event] = target.expire(target.deadline())
    assert orjson.loads(event)["log"]["lines"] == 3
    assert target.marks() == {"stdout": Mark(stamp(4), 1)} and target.deadline() is None


def test_an_event_held_from_the_first_line_marks_just_before_it() -> None:
    target = assembler()
    MuxDecoder().feed_records(frames([(STDOUT, TRACE[0])]), target)
    assert target.marks() == {"stdout": Mark(just_before(stamp(0)), 1)}
    assert just_before(b"2026-12-07T12:00:00.000000000Z") == b"2026-12-07T11:59:59.999999999Z"


def test_a_failed_store_takes_the_held_event_back_too() -> None:
    target = assembler()
    decoder = MuxDecoder()
    decoder.feed_records(frames([(STDOUT, line) for line in TRACE[:2]]), target)
    before = target.state()
    out = decoder.feed_records(frames([(STDOUT, TRACE[2]), (STDOUT, "next")], first=2), target)
    assert [orjson.loads(r)["message"] for r in out] == ["\n".join(TRACE), "next"]
    target.restore(before)
    target.resume_from_seen()
    again = MuxDecoder().feed_records(frames([(STDOUT, line) for line in (*TRACE, "next")]), target)
    assert again == out


def test_a_joined_event_positions_the_stream_at_its_last_line() -> None:
    target = assembler()
    records = MuxDecoder().feed_records(frames([(STDOUT, line) for line in (*TRACE, "after")]), target)
    cid, stream, position, ends_line = record_position(records[0])
    assert (cid, stream, position, ends_line) == ("c0ffee", "stdout", stamp(2), True)
    positions = BufferedPositions()
    positions.visit(records[0])
    assert positions.marks == {"c0ffee": {"stdout": Mark(stamp(2), 1)}}
    # A parsed line whose attributes hold look-alikes of log.end and of a part marker is positioned by its own time.
    [tricky] = MuxDecoder().feed_records(frames([(STDOUT, '{"msg":"m","a":1,"log":{"end":"2099-01-01T00:00:00.'
                                                            '000000000Z"},"partial":{"ordinal":1,"last":false}}')],
                                                 first=9), assembler())
    assert record_position(tricky) == ("c0ffee", "stdout", stamp(9), True)


def test_drop_counts_and_redact_applies_before_the_record() -> None:
    settings = ParseSettings(drop=re.compile(r"GET /health"), redact=parse_redact("password", re.compile))
    records = run([(STDOUT, "GET /health 200"), (STDOUT, "login password=hunter2"), (STDOUT, "GET /health 200"),
                   *((STDOUT, line) for line in TRACE)], settings)
    assert [r["message"] for r in records] == ["login password=[REDACTED]", "\n".join(TRACE)]
    target = assembler(settings)
    MuxDecoder().feed_records(frames([(STDOUT, "GET /health 200")] * 1), target)
    assert target.take_filtered() == 1 and target.take_filtered() == 0


def test_logfmt_and_regex_modes() -> None:
    settings = ParseSettings(parse="logfmt", multiline=regex_detector(re.compile(r"^\[\d+\]")))
    records = run([(STDOUT, "level=info msg=hi user=1"), (STDOUT, "[1] start"), (STDOUT, "  more"),
                   (STDOUT, "[2] next")], settings)
    assert records[0]["message"] == "hi" and records[0]["attributes"] == {"user": "1"}
    assert records[1]["message"] == "[1] start\n  more" and records[1]["log"] == {"lines": 2,
                                                                                  "end": stamp(2).decode()}
    assert records[2]["message"] == "[2] next"


def test_a_cut_line_ends_a_held_event_and_is_not_parsed() -> None:
    target = LineAssembler(META, {}, 16384, ParseSettings())
    long_line = '{"level":"error","msg":"' + "x" * 40_000 + '"}'
    raw = MuxDecoder().feed_records(frames([(STDOUT, TRACE[0]), (STDOUT, TRACE[1]), (STDOUT, long_line)]), target)
    records = [orjson.loads(r) for r in raw]
    assert records[0]["message"] == "\n".join(TRACE[:2])
    assert all("partial" in r and "log" not in r for r in records[1:])
    assert "".join(r["message"] for r in records[1:]) == long_line


def test_json_mode_parses_json_lines_only() -> None:
    lines = [(STDOUT, '{"level":"warn","msg":"m"}'), (STDOUT, "ERROR plain"), *((STDOUT, line) for line in TRACE)]
    records = run(lines, ParseSettings(parse="json"))
    assert [(r["message"], r.get("log")) for r in records] == [
        ("m", {"level": "warn"}), ("ERROR plain", None),
        ("\n".join(TRACE), {"level": "error", "lines": 3, "end": stamp(4).decode()})]
