"""Dead-letter lines: the record as a JSON object when it is one, else as a string."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from logship.ship.deadletter import DeadLetterFile, dead_letter_line


@pytest.mark.parametrize(("record", "embedded"), [
    (b'{"message":"a","n":1.5}', {"message": "a", "n": 1.5}),
    (b"[1, 2]", "[1, 2]"),             # JSON, but not an object
    (b'"text"', '"text"'),
    (b"plain text", "plain text"),
    (b'{"cut": "in the mid', '{"cut": "in the mid'),
    (b"bad \xff utf-8", "bad \ufffd utf-8"),
])
def test_dead_letter_line(record: bytes, embedded: object) -> None:
    line = dead_letter_line("http", "http 400: bad", record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert orjson.loads(line) == {"reason": "http 400: bad", "sink": "http", "record": embedded}


def test_dead_letter_file_appends(tmp_path: Path) -> None:
    file = DeadLetterFile(tmp_path / "dead-letter" / "http.ndjson", "http")
    assert file.write([]) == 0
    assert not file.path.exists()
    assert file.write([(b'{"a":1}', "one"), (b"x\ny", "two")]) == 2
    assert file.write([(b'{"b":2}', "three")]) == 1
    lines = [orjson.loads(line) for line in file.path.read_bytes().splitlines()]
    assert [(line["reason"], line["record"]) for line in lines] == [
        ("one", {"a": 1}), ("two", "x\ny"), ("three", {"b": 2})]
