"""Configuration: LOGSHIP_PARSE and friends stop start-up when bad; labels refine per container."""

from __future__ import annotations

import pytest

from logship.config import ConfigError, load
from logship.parse.detectors import AUTO
from logship.parse.settings import ParseSettings, for_labels


def test_defaults_are_auto() -> None:
    settings = load({}).parse
    assert settings.parse == "auto" and settings.multiline is AUTO and settings.timeout == 1.0
    assert settings.drop is None and settings.redact is None and settings.active


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("LOGSHIP_PARSE", "xml", "one of auto, json, logfmt, none"),
    ("LOGSHIP_MULTILINE", "on", "auto, off or regex:"),
    ("LOGSHIP_MULTILINE", "regex:(", "a valid regular expression"),
    ("LOGSHIP_MULTILINE_TIMEOUT", "soon", "a duration such as 500ms"),
    ("LOGSHIP_MULTILINE_TIMEOUT", "0s", "greater than zero"),
    ("LOGSHIP_MULTILINE_MAX_LINES", "1", "at least 2"),
    ("LOGSHIP_MULTILINE_MAX_BYTES", "10", "at least 1KiB"),
    ("LOGSHIP_DROP", "[", "a valid regular expression"),
    ("LOGSHIP_REDACT", "emails", "bearer, password, aws, card"),
    ("LOGSHIP_LEVEL_KEY", " , ", "a comma list of keys"),
])
def test_bad_env_values_name_variable_value_and_what_is_allowed(name: str, value: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load({name: value})
    [problem] = raised.value.problems
    assert problem.startswith(f"{name}={value!r}: expected") and allowed in problem


def test_env_values() -> None:
    settings = load({"LOGSHIP_PARSE": "logfmt", "LOGSHIP_MULTILINE": r"regex:^\d{4}-",
                     "LOGSHIP_MULTILINE_TIMEOUT": "5s", "LOGSHIP_DROP": "GET /health", "LOGSHIP_REDACT": "bearer,card",
                     "LOGSHIP_LEVEL_KEY": "sev",
                     "LOGSHIP_MESSAGE_KEY": "body,text"}).parse
    assert settings.parse == "logfmt" and settings.multiline is not AUTO and settings.multiline is not None
    assert settings.timeout == 5.0 and settings.drop is not None and settings.drop.pattern == "GET /health"
    assert settings.redact is not None and settings.redact.names == ("bearer", "card")
    assert settings.level_keys == ("sev",) and settings.message_keys == ("body", "text")
    off = load({"LOGSHIP_PARSE": "none", "LOGSHIP_MULTILINE": "off"}).parse
    assert off.multiline is None and not off.active


def test_labels_refine_the_container() -> None:
    settings, problems = for_labels(ParseSettings(), {
        "logship.parse": "logfmt", "logship.multiline": "off", "logship.multiline.timeout": "3s",
        "logship.level_key": "sev", "logship.message_key": "body", "logship.drop": "^GET /health", "team": "x"})
    assert problems == []
    assert (settings.parse, settings.multiline, settings.timeout) == ("logfmt", None, 3.0)
    assert settings.level_keys == ("sev",) and settings.message_keys == ("body",)
    assert settings.drop is not None and settings.drop.search("GET /health 200")


def test_a_bad_label_keeps_the_global_setting_and_says_why() -> None:
    base = ParseSettings(timeout=2.0)
    settings, problems = for_labels(base, {"logship.parse": "yaml", "logship.multiline.timeout": "-1",
                                           "logship.drop": "(", "logship.multiline": "regex:x"})
    assert settings.parse == "auto" and settings.timeout == 2.0 and settings.drop is None
    assert settings.multiline_text == "regex:x"  # the good label still applies
    assert [label for label, _ in problems] == ["logship.parse", "logship.multiline.timeout", "logship.drop"]
    assert problems[0][1] == "label logship.parse='yaml': expected one of auto, json, logfmt, none; using the default"
