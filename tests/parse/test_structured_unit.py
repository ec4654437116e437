"""JSON and logfmt lines: message, level, bounded attributes, nothing lost (corpus and properties)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logship.parse import levels
from logship.parse.structured import (
    DEFAULT_LEVEL_KEYS,
    DEFAULT_MESSAGE_KEYS,
    MAX_BYTES,
    MAX_DEPTH,
    MAX_KEYS,
    parse_json,
    parse_logfmt,
)
from tests.parse.helpers import jsonl

KEYS = (DEFAULT_MESSAGE_KEYS, DEFAULT_LEVEL_KEYS)


def understood(line: str, logfmt: bool = False) -> tuple[str, str | None, Any]:
    parsed = parse_logfmt(line, *KEYS) if logfmt else parse_json(line, *KEYS) if line[:1] == "{" else None
    if parsed is None:
        return line, levels.leading(line), None
    return parsed.message, parsed.level, orjson.loads(parsed.attributes) if parsed.attributes else None


@pytest.mark.parametrize("row", jsonl("structured"), ids=lambda row: row["line"][:40])
def test_json_corpus(row: dict[str, Any]) -> None:
    assert understood(row["line"]) == (row["message"], row["level"], row["attributes"])


@pytest.mark.parametrize("row", jsonl("logfmt"), ids=lambda row: row["line"][:40])
def test_logfmt_corpus(row: dict[str, Any]) -> None:
    assert understood(row["line"], logfmt=True) == (row["message"], row["level"], row["attributes"])


def test_what_does_not_fit_stays_in_the_message() -> None:
    many = {"msg": "hello", **{f"k{i}": i for i in range(MAX_KEYS + 10)}}
    parsed = parse_json(orjson.dumps(many).decode(), *KEYS)
    assert parsed is not None and parsed.message == orjson.dumps(many).decode()
    assert len(orjson.loads(parsed.attributes or b"{}")) == MAX_KEYS
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(MAX_DEPTH + 1):
        deep = {"d": deep}
    line = orjson.dumps({"msg": "x", "ok": 1, "deep": deep}).decode()
    parsed = parse_json(line, *KEYS)
    assert parsed is not None and parsed.message == line and orjson.loads(parsed.attributes or b"") == {"ok": 1}
    big = orjson.dumps({"msg": "x", "blob": "b" * MAX_BYTES, "small": 2}).decode()
    parsed = parse_json(big, *KEYS)
    assert parsed is not None and parsed.message == big and orjson.loads(parsed.attributes or b"") == {"small": 2}


def test_own_keys() -> None:
    parsed = parse_json('{"text":"a","sev":"E","body":"hello"}', ("body",), ("sev",))
    assert parsed is not None and (parsed.message, parsed.level) == ("hello", "error")
    assert orjson.loads(parsed.attributes or b"") == {"text": "a"}


def test_nested_level_key() -> None:
    parsed = parse_json('{"log":{"level":"warn","logger":"x"},"message":"m"}', *KEYS)
    assert parsed is not None and parsed.level == "warn"
    assert orjson.loads(parsed.attributes or b"") == {"log": {"logger": "x"}}


def test_unknown_level_value_stays_an_attribute() -> None:
    parsed = parse_json('{"msg":"m","level":"loud"}', *KEYS)
    assert parsed is not None and parsed.level is None and orjson.loads(parsed.attributes or b"") == {"level": "loud"}


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=12)
key = st.text(min_size=1, max_size=10)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(key, values, max_size=12))
def test_json_nothing_lost(obj: dict[str, Any]) -> None:
    """Every key of the line is the message, the level, an attribute, or the whole line is the message."""
    line = orjson.dumps(obj).decode()
    parsed = parse_json(line, *KEYS)
    assert parsed is not None
    attributes = orjson.loads(parsed.attributes) if parsed.attributes else {}
    assert b',"stream":"' not in (parsed.attributes or b"")
    renamed = {("stream" if k.lstrip("_") == "stream" and k not in obj else k): v for k, v in attributes.items()}
    for k, v in renamed.items():
        if k in obj and not isinstance(v, dict):
            assert obj[k] == v
    taken = set(obj) - set(renamed)
    message_key = next((k for k in DEFAULT_MESSAGE_KEYS if k in obj), None)
    if parsed.message != line:
        assert message_key is not None
        value = obj[message_key]
        assert parsed.message == (value if isinstance(value, str) else orjson.dumps(value).decode())
        for k in taken - {message_key}:
            assert k in DEFAULT_LEVEL_KEYS and levels.normalise(obj[k]) == parsed.level


logfmt_keys = st.from_regex(r"[a-z][a-z0-9_.]{0,8}", fullmatch=True)
logfmt_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=15)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(logfmt_keys, logfmt_values, min_size=1, max_size=8))
def test_logfmt_round_trip(fields: dict[str, str]) -> None:
    """A logfmt line (values quoted as go-logfmt does) parses back into exactly its fields."""
    def encode(value: str) -> str:
        if value and not any(c in value for c in ' ="\\'):
            return value
        return orjson.dumps(value).decode()

    line = " ".join(f"{k}={encode(v)}" for k, v in fields.items())
    parsed = parse_logfmt(line, (), ())
    assert parsed is not None and parsed.message == line
    assert (orjson.loads(parsed.attributes) if parsed.attributes else {}) == {
        ("_stream" if k == "stream" and i else k): v for i, (k, v) in enumerate(fields.items())}
