"""How lines are understood, globally (environment) and per container (labels).

Environment (declared here, registered by ``logship.config``; a bad value stops start-up with the
variable, the value and what is allowed):

``LOGSHIP_PARSE`` (auto|json|logfmt|none), ``LOGSHIP_MULTILINE`` (auto|off|regex:<pattern>),
``LOGSHIP_MULTILINE_TIMEOUT``, ``LOGSHIP_MULTILINE_MAX_LINES``, ``LOGSHIP_MULTILINE_MAX_BYTES``,
``LOGSHIP_LEVEL_KEY``, ``LOGSHIP_MESSAGE_KEY``, ``LOGSHIP_DROP``, ``LOGSHIP_REDACT``.

Labels of a container (compose ``labels:``, ``docker run --label``, ``docker service create
--container-label``) override them for that container: ``logship.parse``, ``logship.multiline``,
``logship.multiline.timeout``, ``logship.level_key``, ``logship.message_key``, ``logship.drop``. A
label with a bad value is reported (``for_labels`` returns the problem; the tailer logs it once and
counts it) and that setting keeps the global value: the container is shipped, never stopped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from logship.parse.detectors import AUTO, Detector, regex_detector
from logship.parse.redact import Redactor, parse_redact
from logship.parse.structured import DEFAULT_LEVEL_KEYS, DEFAULT_MESSAGE_KEYS
from logship.settings.forms import parse_duration, parse_list, parse_regex, parse_size

PARSE_MODES = ("auto", "json", "logfmt", "none")
MULTILINE_FORMS = "auto, off or regex:<a regular expression matching the first line of an event>"


@dataclass(frozen=True)
class ParseSettings:
    """The parsing of one container's lines.

    ``parse``: ``auto`` (JSON lines, and a level from a plain line's leading token), ``json`` (JSON lines
    only: other lines as they are), ``logfmt`` (logfmt lines, and leading levels) or ``none`` (lines as
    they are, no level). ``multiline``: ``AUTO``, a regex detector or None (off).
    ``timeout``/``max_lines``/``max_bytes`` end a held event. ``drop``: events matching it are not
    shipped (counted). ``redact``: applied to every line first.
    """

    parse: str = "auto"
    multiline: Detector | None = AUTO
    multiline_text: str = "auto"
    timeout: float = 1.0
    max_lines: int = 1000
    max_bytes: int = 512 * 1024
    message_keys: tuple[str, ...] = DEFAULT_MESSAGE_KEYS
    level_keys: tuple[str, ...] = DEFAULT_LEVEL_KEYS
    drop: re.Pattern[str] | None = None
    redact: Redactor | None = None

    @property
    def active(self) -> bool:
        """Whether the lines need this stage at all (False: records are made as without it)."""
        return self.parse != "none" or self.multiline is not None or self.drop is not None or self.redact is not None


def _parse_mode(text: str) -> str:
    value = text.strip().lower()
    if value not in PARSE_MODES:
        raise ValueError("one of " + ", ".join(PARSE_MODES))
    return value


def _multiline(text: str) -> tuple[Detector | None, str]:
    value = text.strip()
    if value.lower() == "auto":
        return AUTO, "auto"
    if value.lower() == "off":
        return None, "off"
    if value.startswith("regex:") and value[len("regex:"):]:
        return regex_detector(parse_regex(value[len("regex:"):])), value
    raise ValueError(MULTILINE_FORMS)


def _keys(text: str) -> tuple[str, ...]:

    keys = parse_list(text)
    if not keys:
        raise ValueError("a comma list of keys, such as msg,message")
    return keys


def _timeout(text: str) -> float:

    value = parse_duration(text)
    if value <= 0:
        raise ValueError("a duration greater than zero, such as 500ms or 5s")
    return value


def _max_lines(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 2:
        raise ValueError("a whole number of at least 2")
    return int(text)


def _max_bytes(text: str) -> int:

    value = parse_size(text)
    if value < 1024:
        raise ValueError("a size of at least 1KiB")
    return value


def _drop(text: str) -> re.Pattern[str] | None:

    return parse_regex(text) if text else None


def _redact(text: str) -> Redactor | None:

    return parse_redact(text, parse_regex)


# name, parser, default, help: logship.config makes them Variables (section "parse").
VARIABLES: tuple[tuple[str, Callable[[str], Any], str | None, str], ...] = (
    ("LOGSHIP_PARSE", _parse_mode, "auto",
     "Structured lines: `auto` (JSON objects, and a level from a plain line's leading token), `json` (JSON "
     "objects only), `logfmt` (logfmt lines, and leading levels), or `none`. "
     "Per container: label `logship.parse`."),
    ("LOGSHIP_MULTILINE", _multiline, "auto",
     "Multiline events: `auto` (stack traces of the JVM, Python, Go, Node.js, Ruby, .NET, PHP), `off`, or "
     "`regex:<pattern>` (a line it matches starts an event). Per container: label `logship.multiline`."),
    ("LOGSHIP_MULTILINE_TIMEOUT", _timeout, "1s",
     "An event waiting for more lines is shipped after this long. Label `logship.multiline.timeout`."),
    ("LOGSHIP_MULTILINE_MAX_LINES", _max_lines, "1000", "Most lines in one joined event."),
    ("LOGSHIP_MULTILINE_MAX_BYTES", _max_bytes, "512KiB", "Most bytes in one joined event."),
    ("LOGSHIP_MESSAGE_KEY", _keys, ",".join(DEFAULT_MESSAGE_KEYS),
     "Keys of a JSON/logfmt line holding the message, first found wins. Label `logship.message_key`."),
    ("LOGSHIP_LEVEL_KEY", _keys, ",".join(DEFAULT_LEVEL_KEYS),
     "Keys holding the level (a dotted key is also looked up nested). Label `logship.level_key`."),
    ("LOGSHIP_DROP", _drop, "",
     "Events matching this regular expression are not shipped (counted in logship_lines_filtered_total). "
     "Label `logship.drop`."),
    ("LOGSHIP_REDACT", _redact, "",
     "Secrets replaced by [REDACTED] before the buffer: a comma list of bearer, password, aws, card (or all), "
     "then optionally regex:<pattern> (the rest of the value)."),
)


def from_values(values: Mapping[str, Any]) -> ParseSettings:
    """The global settings from the parsed variables."""
    detector, text = values["LOGSHIP_MULTILINE"]
    return ParseSettings(parse=values["LOGSHIP_PARSE"], multiline=detector, multiline_text=text,
                         timeout=values["LOGSHIP_MULTILINE_TIMEOUT"], max_lines=values["LOGSHIP_MULTILINE_MAX_LINES"],
                         max_bytes=values["LOGSHIP_MULTILINE_MAX_BYTES"], message_keys=values["LOGSHIP_MESSAGE_KEY"],
                         level_keys=values["LOGSHIP_LEVEL_KEY"], drop=values["LOGSHIP_DROP"],
                         redact=values["LOGSHIP_REDACT"])


# label → (parser, how it changes the settings)
LABELS: dict[str, tuple[Callable[[str], Any], Callable[[ParseSettings, Any], ParseSettings]]] = {
    "logship.parse": (_parse_mode, lambda s, v: replace(s, parse=v)),
    "logship.multiline": (_multiline, lambda s, v: replace(s, multiline=v[0], multiline_text=v[1])),
    "logship.multiline.timeout": (_timeout, lambda s, v: replace(s, timeout=v)),
    "logship.level_key": (_keys, lambda s, v: replace(s, level_keys=v)),
    "logship.message_key": (_keys, lambda s, v: replace(s, message_keys=v)),
    "logship.drop": (_drop, lambda s, v: replace(s, drop=v)),
}


def for_labels(base: ParseSettings, labels: Mapping[str, str]) -> tuple[ParseSettings, list[tuple[str, str]]]:
    """The settings of a container with ``labels``, and its bad labels as (label, problem sentence)."""
    settings = base
    problems = []
    for label, (parse, apply) in LABELS.items():
        text = labels.get(label)
        if text is None:
            continue
        try:
            value = parse(text)
        except ValueError as exc:
            problems.append((label, f"label {label}={text!r}: expected {exc}; using the default"))
            continue
        settings = apply(settings, value)
    return settings, problems
