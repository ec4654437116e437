"""The read linger of following streams (``logship.collect.linger``): every stream's linger ends at the same
tick, so a host's streams are read in one wake-up of the event loop rather than each in its own."""

from __future__ import annotations

import asyncio

import pytest

from logship.collect.linger import SLOW_STREAM_TICKS, NextLinger, linger, may_leave_in_socket, next_linger, until_tick


@pytest.mark.parametrize(("seconds", "now", "expected"), [
    (0.25, 100.0, 0.25),  # on a tick: a whole linger, never none
    (0.25, 100.1, 0.15),
    (0.25, 100.249, 0.001),
    (1.0, 7.5, 0.5),
    (0.0, 3.3, 0.0),  # no linger
])
def test_a_linger_lasts_until_the_next_tick(seconds: float, now: float, expected: float) -> None:
    assert until_tick(seconds, now) == pytest.approx(expected)


def test_a_linger_ends_on_a_tick_of_the_clock_whenever_it_starts() -> None:
    for step in range(1000):
        now = 12345.0 + step * 0.00731
        delay = until_tick(0.25, now)
        assert 0 < delay <= 0.25
        ticks = (now + delay) / 0.25
        assert ticks == pytest.approx(round(ticks))


async def test_streams_that_start_lingering_at_different_times_stop_together() -> None:
    loop = asyncio.get_running_loop()
    woke: list[float] = []

    async def stream(start_after: float) -> None:
        await asyncio.sleep(start_after)
        await linger(0.3)
        woke.append(loop.time())

    started = loop.time()
    # Started 0, 40 and 90 ms in: at most one tick falls among them, so at least two share a tick.
    await asyncio.gather(*(stream(delay) for delay in (0.0, 0.04, 0.09)))
    assert len(woke) == 3
    by_tick: dict[int, list[float]] = {}
    for at in woke:
        by_tick.setdefault(round(at / 0.3), []).append(at)
    # Each woke on a tick, within a linger of starting; those on the same tick in the same turn of the
    # event loop (a few ms at most between them, however busy the machine).
    assert all(abs(at - tick * 0.3) < 0.1 for tick, ats in by_tick.items() for at in ats)
    assert max(woke) - started < 0.3 + 0.09 + 0.1
    assert max(map(len, by_tick.values())) >= 2
    assert all(max(ats) - min(ats) < 0.01 for ats in by_tick.values())


def test_a_linger_leaves_lines_in_the_socket_only_while_dockerd_could_not_block_on_them() -> None:
    """dockerd blocks once ~278 small writes wait in its send buffer: a paused socket is kept for a
    stream whose next linger would gather fewer than 128 lines and less than 16 KiB, whatever the lines'
    size, judged by what the last linger gathered scaled to a whole one."""
    line = 8 + 31 + 60 + 1  # a frame of a 60-character line
    assert may_leave_in_socket(line * 50, 50, 0.5, 0.5)  # a stream of 100 lines/s over a 500 ms linger
    assert not may_leave_in_socket(line * 128, 128, 0.5, 0.5)  # short lines: under 16 KiB, as many writes
    assert not may_leave_in_socket(16392, 1, 0.5, 0.5)  # one long line
    assert may_leave_in_socket(0, 0, 0.5, 0.5)
    # A first linger of 20 ms after a pause gathered 10 lines: 250 in a whole one, too many to leave.
    assert not may_leave_in_socket(line * 10, 10, 0.02, 0.5)
    assert may_leave_in_socket(line * 10, 10, 0.25, 0.5)
    assert not may_leave_in_socket(0, 0, 0.0, 0.5)  # no linger at all: nothing to judge by


def test_only_a_linger_that_gathered_little_leaves_the_next_in_the_socket() -> None:
    """A stream starts reading its socket during lingers; a linger that gathered little (a slow stream)
    leaves the next one's lines in the socket; a busy read ends that at once, so a small read of a fast
    writer (between its bursts, after a rotation) never pauses its socket on a stale answer."""
    line = 8 + 31 + 100 + 1
    plan = NextLinger()  # a stream's start
    assert plan == NextLinger(unread=False, ticks=1)
    plan = next_linger(plan, False, True, line * 3, 3, 0.0, 0.25)  # its first read, small
    assert not plan.unread  # no linger has shown the stream slow yet
    plan = next_linger(plan, True, True, line * 20, 20, 0.25, 0.25)  # a linger gathered 20
    assert plan.unread
    plan = next_linger(plan, True, True, line * 20, 20, 0.25, 0.25)
    assert plan.unread
    plan = next_linger(plan, True, False, 65536, 470, 0.25, 0.25)  # the stream sped up
    assert plan == NextLinger()
    plan = next_linger(plan, False, True, line * 5, 5, 0.0, 0.25)  # a small read between bursts
    assert plan == NextLinger()
    busy = next_linger(NextLinger(True, SLOW_STREAM_TICKS), False, False, 65536, 470, 0.0, 0.25)
    assert busy == NextLinger()  # a busy read, not after a linger


def test_a_stream_shown_slow_twice_in_a_row_lingers_longer() -> None:
    """A linger in the socket that gathered little enough for ``SLOW_STREAM_TICKS`` ticks makes the next
    one that long; one slow linger is not enough, and a linger that gathered more goes back to one tick
    (or to reading the socket). A fast writer's follower (the rotation test's, 10,000 lines/s) never
    lingers long, however its reads fall."""
    line = 8 + 31 + 60 + 1
    period = 0.25
    slow = (line * 25, 25)  # 100 lines/s: 25 lines a tick
    plan = next_linger(NextLinger(), True, True, *slow, period, period)
    assert plan == NextLinger(True, 1)  # the first linger that showed it slow: in the socket, one tick
    plan = next_linger(plan, True, True, *slow, period, period)
    assert plan == NextLinger(True, SLOW_STREAM_TICKS)
    plan = next_linger(plan, True, True, line * 50, 50, period * SLOW_STREAM_TICKS, period)
    assert plan == NextLinger(True, SLOW_STREAM_TICKS)  # 50 lines in two ticks: still slow
    plan = next_linger(plan, True, True, line * 140, 140, period * SLOW_STREAM_TICKS, period)
    assert plan == NextLinger(True, 1)  # 140 lines in two ticks: too many for two, 70 a tick in the socket
    plan = next_linger(plan, True, True, line * 60, 60, period, period)
    assert plan == NextLinger(True, SLOW_STREAM_TICKS)  # 60 in one tick, in the socket: two ticks hold 120
    plan = next_linger(plan, True, True, line * 140, 140, period, period)
    assert plan == NextLinger()  # 140 in one tick: read the socket
    plan = next_linger(plan, True, False, 16384, 150, period, period)
    assert plan == NextLinger()
    # A linger that was short (the stream's first, or one that started between ticks) is scaled up.
    assert next_linger(NextLinger(True, 1), True, True, line * 12, 12, 0.02, period) == NextLinger()  # 150 a tick
    # A writer of 10,000 lines/s in bursts of 100: whatever its reads after lingers, never a long one.
    fast = NextLinger()
    for size, lines, after in [(line * 3, 3, False), (line * 2500, 2500, True), (line * 100, 100, False),
                               (line * 40, 40, True), (line * 2400, 2400, True)]:
        fast = next_linger(fast, after, size < 16384, size, lines, period, period)
        assert fast.ticks == 1
