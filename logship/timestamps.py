"""Record timestamps read as numbers: the one parser every sink and the shipper use.

Accepted forms (anything else is "not a timestamp", None, and each caller has its own fallback):

- Docker's fixed form ``2026-11-25T16:32:42.123456789Z``: RFC 3339 in UTC with nine fraction digits,
  what dockerd sends with ``timestamps=1`` and the collector writes into every record;
- trimmed fractions ``…42.1Z`` and ``…42Z`` (Go's RFC3339Nano drops trailing zeros); digits past the
  ninth are dropped (truncated, never rounded);
- an offset ``+01:00`` or ``-0530`` (converted to UTC), ``Z`` or ``z``, or none at all (taken as UTC);
- ``t`` or a space for ``T``, ``,`` for the decimal point, spaces before the zone and around the text.

The calendar date must exist (``2026-02-30`` is not a timestamp); hours, minutes and seconds are
added up as they are (a leap second ``:60`` is the next minute's first).

Why a cache: the sinks' hot loops read one timestamp per record, tens of thousands a second, and the
records of a batch share few distinct seconds. The Unix seconds of the first 19 characters (the date
and time of day) of Docker's form are cached, so that a record costs a dictionary look-up and the
reading of its fraction. The cache is bounded (cleared when it holds 4,096 seconds) and shared by the
threads that encode large batches (a look-up and a store are atomic; a race costs a recomputation).
"""

from __future__ import annotations

import datetime
import re
import time

from logship.record import timestamp_text

_FORM = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?\s*([Zz]|[+-]\d\d:?\d\d)?")
_EPOCH_DAY = datetime.date(1970, 1, 1).toordinal()
_SECONDS: dict[str, int] = {}  # "2026-11-25T16:32:42" → its Unix seconds (UTC)
_SECONDS_MAX = 4096
_DOCKER_LENGTH = 30  # 2026-11-25T16:32:42.123456789Z


def split_seconds(text: str) -> tuple[int, int] | None:
    """(Unix seconds, nanoseconds 0..999,999,999) of a timestamp, or None when it is not one."""
    # Fast path: Docker's fixed form, "2026-11-25T16:32:42.123456789Z", whose second was seen before (only
    # a valid "YYYY-MM-DDTHH:MM:SS" is ever cached, so a hit vouches for the first 19 characters).
    if len(text) == _DOCKER_LENGTH and text[29] == "Z" and text[19] == ".":
        seconds = _SECONDS.get(text[:19])
        fraction = text[20:29]
        if seconds is not None and fraction.isdecimal():
            return seconds, int(fraction)
    return _split(text)


def _split(text: str) -> tuple[int, int] | None:
    # Docker's form, the fraction trimmed or not, with the seconds cached; any other form is parsed whole.
    if len(text) >= 20 and text[-1] == "Z" and text[10] == "T":
        fraction = text[20:-1]
        if (text[19] == "." and fraction.isdecimal()) or len(text) == 20:
            prefix = text[:19]
            seconds = _SECONDS.get(prefix)
            if seconds is None:
                whole = _parse(prefix)  # the date and time of day alone: UTC
                if whole is None:
                    return None
                seconds = whole[0]
                if len(_SECONDS) >= _SECONDS_MAX:
                    _SECONDS.clear()
                _SECONDS[prefix] = seconds
            return seconds, int(fraction[:9].ljust(9, "0")) if fraction else 0
    return _parse(text)


def _parse(text: str) -> tuple[int, int] | None:
    match = _FORM.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        days = datetime.date(int(year), int(month), int(day)).toordinal() - _EPOCH_DAY
    except ValueError:
        return None
    seconds = days * 86400 + int(hour) * 3600 + int(minute) * 60 + int(second)
    if zone is not None and zone not in "Zz":
        offset = int(zone[1:3]) * 3600 + int(zone[-2:]) * 60
        seconds -= offset if zone[0] == "+" else -offset
    return seconds, int(fraction[:9].ljust(9, "0")) if fraction else 0


def unix_ns(text: str) -> int | None:
    """Nanoseconds since the epoch, exact (never through a float), or None when ``text`` is not a timestamp."""
    parts = split_seconds(text)
    return None if parts is None else parts[0] * 1_000_000_000 + parts[1]


def unix_millis(text: str) -> int | None:
    """Milliseconds since the epoch (truncated), or None when ``text`` is not a timestamp."""
    parts = split_seconds(text)
    return None if parts is None else parts[0] * 1000 + parts[1] // 1_000_000


def utc_second(text: str) -> datetime.datetime | None:
    """The UTC time to the second (the fraction dropped), or None when ``text`` is not a timestamp or its
    UTC time is outside years 1..9999."""
    parts = split_seconds(text)
    if parts is None:
        return None
    try:
        return datetime.datetime.fromtimestamp(parts[0], datetime.UTC)
    except (ValueError, OverflowError, OSError):
        return None


def record_time_ns(value: object) -> int:
    """A record's ``timestamp`` field in nanoseconds; now when it is missing or unreadable (never happens
    with records built by the collector, but a store needs a time)."""
    if isinstance(value, str):
        parts = split_seconds(value)
        if parts is not None:
            return parts[0] * 1_000_000_000 + parts[1]
    return time.time_ns()


_SECONDS_OF_BYTES: dict[bytes, int] = {}  # b"2026-11-25T16:32:42" → its Unix seconds, as _SECONDS


def split_docker(stamp: bytes) -> tuple[int, int]:
    """(Unix seconds, nanoseconds) of a record's timestamp bytes (``Reader.plain``'s): Docker's form read
    from a cache of its seconds; any other text as ``record_time_ns`` reads it (now when unreadable)."""
    seconds = _SECONDS_OF_BYTES.get(stamp[:19])
    if seconds is not None and stamp[19:20] == b"." and stamp[29:] == b"Z" and stamp[20:29].isdigit():
        return seconds, int(stamp[20:29])
    parts = split_seconds(stamp.decode("utf-8", "replace"))
    if parts is None:
        return divmod(time.time_ns(), 1_000_000_000)
    if len(stamp) == _DOCKER_LENGTH and stamp[19:20] == b"." and stamp[29:] == b"Z":
        if len(_SECONDS_OF_BYTES) >= _SECONDS_MAX:
            _SECONDS_OF_BYTES.clear()
        _SECONDS_OF_BYTES[stamp[:19]] = parts[0]
    return parts


def docker_second(stamp: bytes) -> int | None:
    """The Unix seconds of a timestamp in Docker's form (30 bytes: ``.`` then nine digits then ``Z``) whose
    date and time exist; None for any other text (the sinks cache a second only when this vouches for it)."""
    if len(stamp) != _DOCKER_LENGTH or stamp[19] != 0x2E or stamp[29] != 0x5A or not stamp[20:29].isdigit():
        return None
    seconds = _SECONDS_OF_BYTES.get(stamp[:19])
    if seconds is None:
        parts = split_seconds(stamp.decode("utf-8", "replace"))
        if parts is None:
            return None
        seconds = parts[0]
    return seconds


def docker_ns(stamp: bytes) -> int:
    """``split_docker`` in nanoseconds since the epoch."""
    seconds, nanos = split_docker(stamp)
    return seconds * 1_000_000_000 + nanos


def record_seconds(record: bytes) -> float:
    """Unix time of a record's timestamp, read from its bytes (the collector writes it first); 0.0 when
    it has none."""
    text = timestamp_text(record)
    parts = split_seconds(text) if text is not None else None
    return 0.0 if parts is None else parts[0] + parts[1] / 1e9


def rfc3339_micros(text: str) -> str | None:
    """``text`` as RFC 3339 with at most six fraction digits (truncated, never rounded), its own offset
    kept, ``T`` and ``Z`` upper case and ``:`` in the offset (RFC 5424's TIMESTAMP); None when it is not
    a timestamp."""
    if split_seconds(text) is None:
        return None
    if len(text) == _DOCKER_LENGTH and text[19] == "." and text[29] == "Z":
        return text[:26] + "Z"
    match = _FORM.fullmatch(text.strip())
    assert match is not None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    whole = f"{year}-{month}-{day}T{hour}:{minute}:{second}"
    if zone is None or zone in "Zz":
        zone = "Z"
    elif len(zone) == 5:
        zone = f"{zone[:3]}:{zone[3:]}"
    return whole + (f".{fraction[:6]}" if fraction else "") + zone
