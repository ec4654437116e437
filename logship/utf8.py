"""Cutting UTF-8 bytes: at most so many bytes, never inside a character (stores limit lines and messages
in bytes, and a cut character would be an invalid byte sequence on their side).

Re-exported by ``logship.record``, which the sinks read records through.
"""

from __future__ import annotations


def is_utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8."""
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def utf8_boundary(data: bytes, start: int, limit: int) -> int:
    """The end of the longest piece ``data[start:end]`` of at most ``limit`` bytes that does not end
    inside a UTF-8 character (``len(data)`` when the rest fits; ``start`` when no character fits)."""
    end = start + limit
    if end >= len(data):
        return len(data)
    while end > start and data[end] & 0xC0 == 0x80:  # a continuation byte: the character started before
        end -= 1
    return end


def cut_utf8(data: bytes, limit: int) -> bytes:
    """``data`` cut to at most ``limit`` bytes, never inside a UTF-8 character."""
    return data if len(data) <= limit else data[:utf8_boundary(data, 0, limit)]


def split_utf8(data: bytes, limit: int) -> list[bytes]:
    """``data`` in pieces of at most ``limit`` bytes, never inside a UTF-8 character (bytes that are not
    UTF-8 at all are cut at ``limit``)."""
    pieces = []
    start = 0
    while len(data) - start > limit:
        end = utf8_boundary(data, start, limit)
        if end == start:
            end = start + limit
        pieces.append(data[start:end])
        start = end
    pieces.append(data[start:])
    return pieces


def complete_utf8_prefix(data: bytes) -> int:
    """Length of ``data`` without a UTF-8 character cut off at its end (never 0 for non-empty data)."""
    start = len(data) - 1
    while start > 0 and len(data) - start < 4 and data[start] & 0xC0 == 0x80:
        start -= 1
    if start < 0:
        return 0
    lead = data[start]
    width = 4 if lead >= 0xF0 else 3 if lead >= 0xE0 else 2 if lead >= 0xC0 else 1
    if start + width > len(data) and start > 0:
        return start
    return len(data)
