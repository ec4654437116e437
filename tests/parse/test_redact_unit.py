"""Redaction: the built-in patterns and user regexes, and LOGSHIP_REDACT's form."""

from __future__ import annotations

import re

import orjson
import pytest

from logship.parse.redact import MASK, parse_redact


def redactor(text: str):
    made = parse_redact(text, re.compile)
    assert made is not None
    return made


@pytest.mark.parametrize(("line", "expected"), [
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc-_def", f"Authorization: Bearer {MASK}"),
    ("login user=bob password=hunter2 ok", f"login user=bob password={MASK} ok"),
    ('{"user":"bob","password":"hunter2"}', f'{{"user":"bob","password":"{MASK}"}}'),
    ("key AKIAIOSFODNN7EXAMPLE used", f"key {MASK} used"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", f"aws_secret_access_key={MASK}"),
    ("paid with 4111 1111 1111 1111 today", f"paid with {MASK} today"),
    ("card 4111-1111-1111-1111", f"card {MASK}"),
    # Not secrets: a number that fails the Luhn check, an order id, prose.
    ("order 4111111111111112 shipped", "order 4111111111111112 shipped"),
    ("the password policy changed", "the password policy changed"),
])
def test_builtin(line: str, expected: str) -> None:
    assert redactor("all")(line) == expected


def test_redacted_json_stays_json() -> None:
    line = '{"msg":"login","password":"p@ss word","token":"Bearer abcdefghijkl"}'
    redacted = orjson.loads(redactor("all")(line))
    assert redacted == {"msg": "login", "password": MASK + " word", "token": f"Bearer {MASK}"}


def test_user_regex_with_a_secret_group_and_commas() -> None:
    made = redactor("bearer,regex:session=(?P<secret>[0-9a-f]{8}),?")
    assert made("id session=deadbeef, Bearer abcdefghijk") == f"id session={MASK}, Bearer {MASK}"
    assert made.names == ("bearer", "regex")


def test_only_named_patterns() -> None:
    assert redactor("card")("password=x 4111111111111111") == f"password=x {MASK}"


def test_bad_values() -> None:
    assert parse_redact("", re.compile) is None
    with pytest.raises(ValueError, match="bearer, password, aws, card, all"):
        parse_redact("emails", re.compile)
