"""Value forms of environment variables: each parser takes the text and returns the value, or raises
ValueError whose message says what is allowed (``config.load`` turns it into ``NAME='value': expected …``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$")
_SIZE_UNITS = {
    None: 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "KB": 1000, "MB": 1000**2, "GB": 1000**3,
}
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


def parse_duration(text: str) -> float:
    """``"500ms"`` → 0.5 seconds. Raises ValueError naming the allowed form."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError("a duration such as 500ms, 5s, 2m or 1h")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def parse_size(text: str) -> int:
    """``"64MiB"`` → 67108864 bytes. Raises ValueError naming the allowed form."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError("a size such as 512KiB, 64MiB or 1GiB (or a number of bytes)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2)]


def parse_bool(text: str) -> bool:
    """true/yes/on/1 or false/no/off/0, in any case."""
    lowered = text.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise ValueError("true or false")


def parse_list(text: str) -> tuple[str, ...]:
    """``"a, b,,c"`` → ("a", "b", "c"): a comma list, blanks dropped."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_key_values(text: str) -> tuple[tuple[str, str], ...]:
    """``"a=1,b=2"`` → (("a", "1"), ("b", "2"))."""
    pairs = []
    for item in parse_list(text):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError("a comma list of key=value")
        pairs.append((key.strip(), value.strip()))
    return tuple(pairs)


def parse_label_selectors(text: str) -> tuple[tuple[str, str | None], ...]:
    """``"team,env=prod"`` → (("team", None), ("env", "prod")): a bare key matches any value."""
    selectors = []
    for item in parse_list(text):
        key, sep, value = item.partition("=")
        if not key.strip():
            raise ValueError("a comma list of label keys or key=value")
        selectors.append((key.strip(), value.strip() if sep else None))
    return tuple(selectors)


def parse_regex(text: str) -> re.Pattern[str]:
    """The compiled regular expression."""
    try:
        return re.compile(text)
    except re.error as exc:
        raise ValueError(f"a valid regular expression ({exc})") from None


def parse_listen(text: str) -> tuple[str, int]:
    """``"0.0.0.0:9880"`` → ("0.0.0.0", 9880); brackets around an IPv6 host are dropped."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("host:port, such as 0.0.0.0:9880 (port 0 picks a free one)")
    return host.strip("[]") or "0.0.0.0", int(port)


def choice(*allowed: str) -> Callable[[str], str]:
    """A parser of one of ``allowed`` (any case, given back in lower case)."""
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError("one of " + ", ".join(allowed))
        return value

    return parse


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError("a whole number of at least 1")
    return int(text)


def positive(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse``, refusing a value of zero or less."""
    def parse_positive(text: str) -> Any:
        value = parse(text)
        if value <= 0:
            raise ValueError("a value greater than zero")
        return value

    return parse_positive


def at_least_16kib(text: str) -> int:
    """A size of at least 16 KiB (a line of dockerd's is up to 16 KiB)."""
    value = parse_size(text)
    if value < 16384:
        raise ValueError("a size of at least 16KiB (dockerd splits lines into 16 KiB pieces)")
    return value



def status_codes(text: str) -> frozenset[int]:
    """A comma list of HTTP statuses (100 to 599)."""
    codes = parse_list(text)
    if not all(code.isdigit() and 100 <= int(code) <= 599 for code in codes):
        raise ValueError("a comma list of HTTP status codes, such as 408,429,500,502,503,504")
    return frozenset(int(code) for code in codes)


def url(text: str) -> str:
    """An http:// or https:// URL."""
    if not re.match(r"^https?://[^/\s]+", text.strip()):
        raise ValueError("an http:// or https:// URL")
    return text.strip()


def docker_host(text: str) -> str:
    """DOCKER_HOST as the docker CLI reads it: unix://, tcp://, http(s)://."""
    if not re.match(r"^(unix://.+|tcp://[^/\s]+|https?://[^/\s]+)$", text.strip()):
        raise ValueError("unix:///path/to/docker.sock or tcp://host:port")
    return text.strip()


def extra_fields(text: str) -> tuple[tuple[str, str], ...]:
    """key=value pairs whose keys are not one of the per-line fields."""
    pairs = parse_key_values(text)
    reserved = [key for key, _ in pairs if key.split(".")[0] in ("timestamp", "message", "stream", "partial")]
    if reserved:
        raise ValueError("key=value pairs whose keys are not the per-line fields timestamp, message, stream or "
                         "partial")
    return pairs


def non_negative_duration(text: str) -> float:
    """A duration, or 0 (off)."""
    if text.strip() in ("0", "0s", "0ms"):
        return 0.0
    return parse_duration(text)


def non_empty(text: str) -> str:
    """A text that is not blank (a path, a name)."""
    if not text.strip():
        raise ValueError("a non-empty path")
    return text.strip()



def stream_address(*schemes: str, allowed: str) -> Callable[[str], tuple[str, str, int]]:
    """A parser of ``scheme://host:port`` for one of ``schemes`` (an IPv6 host in brackets) into (scheme,
    host, port); ``allowed`` says what is allowed when the text is not that."""
    form = re.compile(rf"({'|'.join(map(re.escape, schemes))})://([^:/\s]+|\[[0-9a-fA-F:]+\]):(\d{{1,5}})")

    def parse(text: str) -> tuple[str, str, int]:
        match = form.fullmatch(text.strip())
        if not match or not 0 < int(match.group(3)) < 65536:
            raise ValueError(allowed)
        return match.group(1), match.group(2).strip("[]"), int(match.group(3))

    return parse
