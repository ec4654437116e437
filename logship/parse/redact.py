"""Redaction: secrets replaced by ``[REDACTED]`` in a line before it becomes a record.

Built-in patterns (``LOGSHIP_REDACT`` names them; ``all`` is every one):

- ``bearer``: the token after ``Bearer `` (``Authorization: Bearer eyJ…``);
- ``password``: the value after ``password``, ``passwd``, ``pwd`` or ``secret`` and ``=`` or ``:``,
  quoted or not (``password=hunter2``, ``"password": "hunter2"``); the key is kept;
- ``aws``: AWS access key ids (``AKIA…``/``ASIA…``) and the value of ``aws_secret_access_key``;
- ``card``: card numbers (13 to 19 digits, spaces or dashes allowed) that pass the Luhn check.

User patterns (``regex:<pattern>``): every match is replaced. A pattern with a group named ``secret``
replaces only that group. Redaction runs on the line's text before parsing, so a JSON line's values
are redacted too and the line stays JSON (no pattern eats a quote).
"""

from __future__ import annotations

import re
from collections.abc import Callable

MASK = "[REDACTED]"

BUILTIN: dict[str, re.Pattern[str]] = {
    "bearer": re.compile(r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9\-._~+/]{8,}=*)"),
    "password": re.compile(r"(?i)\b(?:password|passwd|pwd|secret)\"?\s*[=:]\s*\"?(?P<secret>[^\s\"&,;]+)"),
    "aws": re.compile(r"\b(?P<secret>(?:AKIA|ASIA)[0-9A-Z]{16})\b"
                      r"|(?i:aws_secret_access_key)\"?\s*[=:]\s*\"?(?P<secret2>[A-Za-z0-9/+=]{40})"),
    "card": re.compile(r"(?<![\d-])(?P<card>\d(?:[ -]?\d){12,18})(?![\d-])"),
}


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _replace(match: re.Match[str]) -> str:
    groups = match.groupdict()
    if "card" in groups:
        card = groups["card"]
        digits = card.replace(" ", "").replace("-", "")
        return MASK if card is not None and _luhn(digits) else match.group(0)
    for name in ("secret", "secret2"):
        if groups.get(name) is not None:
            start, end = match.span(name)
            whole = match.group(0)
            base = match.start()
            return whole[:start - base] + MASK + whole[end - base:]
    return MASK


class Redactor:
    """Applies a set of patterns to a line."""

    __slots__ = ("_patterns", "names")

    def __init__(self, patterns: tuple[re.Pattern[str], ...], names: tuple[str, ...]) -> None:
        self._patterns = patterns
        self.names = names

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced by ``MASK``."""
        for pattern in self._patterns:
            text = pattern.sub(_replace, text)
        return text


def parse_redact(text: str, compile_regex: Callable[[str], re.Pattern[str]]) -> Redactor | None:
    """``LOGSHIP_REDACT``: a comma list of built-in names (or ``all``), then optionally ``regex:<pattern>``
    (the rest of the value, commas included). Empty: None. Raises ValueError naming what is allowed."""
    text = text.strip()
    if not text:
        return None
    names: list[str] = []
    patterns: list[re.Pattern[str]] = []
    rest = text
    while rest:
        if rest.startswith("regex:"):
            patterns.append(compile_regex(rest[len("regex:"):]))
            names.append("regex")
            break
        item, _, rest = rest.partition(",")
        rest = rest.lstrip()
        item = item.strip().lower()
        if item == "all":
            chosen = list(BUILTIN)
        elif item in BUILTIN:
            chosen = [item]
        else:
            raise ValueError("a comma list of " + ", ".join((*BUILTIN, "all")) + ", then optionally regex:<pattern>")
        for name in chosen:
            if name not in names:
                names.append(name)
                patterns.append(BUILTIN[name])
    return Redactor(tuple(patterns), tuple(names))
