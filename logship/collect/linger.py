"""Letting a following stream's lines gather before they are read (``LOGSHIP_READ_LINGER``): one read,
one decode and one buffer write for many lines instead of a wake-up per line dockerd writes."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

# Reads smaller than this are a trickle (a following stream), larger ones a backlog: no linger.
LINGER_BELOW_BYTES = 16384
# dockerd writes every followed line to the socket on its own, and the kernel counts each write against
# dockerd's send buffer with its overhead: ~278 writes of a small frame fill the default 208 KiB (measured
# on a unix socket pair here, for 60- and 190-byte writes alike). A paused socket blocks dockerd's
# follower past that (and a blocked follower can fall behind json-file rotation), so the socket is left
# unread during a linger only while a linger gathers less than these: under half of that many lines.
LEAVE_IN_SOCKET_BELOW_BYTES = 16384
LEAVE_IN_SOCKET_BELOW_LINES = 128


def may_leave_in_socket(size: int, lines: int, gathered_for: float, period: float) -> bool:
    """Whether the next linger (a whole ``period``, ``until_tick``'s longest) may leave its lines in the
    socket (see above), judged by what a linger of ``gathered_for`` seconds gathered (``size`` bytes
    holding ``lines`` lines, as the assembler counted them), scaled to the period: a stream's first
    linger after a pause may be short, and its few lines say little."""
    if gathered_for <= 0 or period <= 0:
        return False
    scale = period / gathered_for
    return size * scale < LEAVE_IN_SOCKET_BELOW_BYTES and lines * scale < LEAVE_IN_SOCKET_BELOW_LINES


# A stream that two lingers in a row have shown slow (each gathering little enough to stay in the socket)
# lingers this many ticks: half the wake-ups where most of a host's streams trickle (steady, measured:
# 0.75x the CPU of one-tick lingers). Only then: a fast writer's follower that lingered two ticks after a
# small read between bursts fell behind json-file rotation and lost lines (stop 22, 500 ms for all).
SLOW_STREAM_TICKS = 2


class NextLinger(NamedTuple):
    """How a following stream's next linger goes, decided after each read (``next_linger``).

    ``unread``: its lines are left in the socket (``linger_unread``); ``ticks``: it lasts until the next
    multiple of ``ticks`` periods (1, or ``SLOW_STREAM_TICKS`` for a stream shown slow twice in a row).
    Invariant: ``ticks > 1`` only with ``unread`` (a long linger is for a stream proven slow)."""

    unread: bool = False
    ticks: int = 1


def next_linger(previous: NextLinger, after_linger: bool, trickle: bool, size: int, lines: int,
                gathered_for: float, period: float) -> NextLinger:
    """How a stream's next linger goes, after a read of ``size`` bytes and ``lines`` lines (``previous``:
    what was decided before; a stream starts with ``NextLinger()``, reading its socket, one tick).

    Its lines stay in the socket only on evidence that the stream is slow: a linger that gathered little
    (``may_leave_in_socket``). A read that was not a trickle (a busy stream, whose lines would block
    dockerd within milliseconds) ends that until a linger shows it slow again; so does a stream's start:
    a stale answer let a fast writer's follower block for a whole linger at its first small read and fall
    behind json-file rotation. It lingers ``SLOW_STREAM_TICKS`` ticks only when the linger just ended was
    already in the socket and gathered little enough for that many: two lingers of evidence."""
    if not after_linger:
        return previous if previous.unread and trickle else NextLinger()
    if not may_leave_in_socket(size, lines, gathered_for, period):
        return NextLinger()
    long = previous.unread and may_leave_in_socket(size, lines, gathered_for, period * SLOW_STREAM_TICKS)
    return NextLinger(True, SLOW_STREAM_TICKS if long else 1)


def until_tick(seconds: float, now: float) -> float:
    """The time from ``now`` to the next multiple of ``seconds`` (on the event loop's clock).

    Every following stream lingers until the same tick instead of ``seconds`` after its own last read, so
    a host's streams are read one after the other in one wake-up of the event loop, not each in its own:
    the same reads, with the loop, the selector and the pipeline's code warm for all of them."""
    return seconds - now % seconds if seconds > 0 else 0.0


async def linger(seconds: float) -> float:
    """Sleep until the next tick of ``seconds`` (``until_tick``); how long that was."""
    delay = until_tick(seconds, asyncio.get_running_loop().time())
    await asyncio.sleep(delay)
    return delay


async def linger_unread(response: Any, seconds: float) -> float:
    """``linger`` without reading the response's socket (data waits in the kernel meanwhile)."""
    connection = getattr(response, "connection", None)
    transport = getattr(connection, "transport", None)
    if transport is None or not transport.is_reading():
        return await linger(seconds)
    transport.pause_reading()
    try:
        return await linger(seconds)
    finally:
        transport.resume_reading()
