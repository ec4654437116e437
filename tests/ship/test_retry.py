"""The retry policy: Retry-After parsing, backoff bounds, and the retry loop."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from logship.config import RetryConfig
from logship.ship.outcome import DELIVERED, Outcome, partial, rejected, retry
from logship.ship.retry import RetryPolicy, parse_retry_after

NOW = datetime(2026, 11, 25, 16, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "expected"), [
    # delay-seconds
    ("120", 120.0),
    ("0", 0.0),
    (" 7 ", 7.0),
    ("1.5", 1.5),  # not RFC, but sent by some servers
    ("99999999999999999999", 1e20),
    # HTTP-date, the three forms RFC 9110 §5.6.7 requires a recipient to read
    ("Wed, 25 Nov 2026 16:00:30 GMT", 30.0),
    ("Wednesday, 25-Nov-26 16:01:00 GMT", 60.0),
    ("Wed Nov 25 16:00:10 2026", 10.0),
    ("Wed, 25 Nov 2026 15:59:00 GMT", 0.0),  # in the past: now
    # garbage and negatives
    ("", None),
    ("   ", None),
    ("-1", None),
    ("-0", None),
    ("+5", None),
    ("5s", None),
    ("1e3", None),
    ("nan", None),
    ("inf", None),
    ("soon", None),
    ("Wed, 32 Nov 2026 16:00:30 GMT", None),
    ("Wed, 25 Foo 2026 16:00:30 GMT", None),
])
def test_parse_retry_after(value: str, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_parse_retry_after_naive_now_is_utc() -> None:
    assert parse_retry_after("Wed, 25 Nov 2026 16:00:05 GMT", now=NOW.replace(tzinfo=None)) == 5.0


def test_parse_retry_after_defaults_to_the_clock() -> None:
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0
    assert parse_retry_after("Fri, 01 Jan 9999 00:00:00 GMT") > 1e9


def test_backoff_grows_then_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # the top of each jitter window
    policy = RetryPolicy(RetryConfig(initial=0.5, maximum=10.0))
    waits = [policy.wait_seconds(attempt, retry("http_503")) for attempt in range(1, 9)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert policy.wait_seconds(10_000, retry("http_503")) == 10.0  # no overflow after a long outage


def test_backoff_has_full_jitter() -> None:
    policy = RetryPolicy(RetryConfig(initial=0.5, maximum=10.0))
    waits = [policy.wait_seconds(3, retry("connect")) for _ in range(300)]
    assert all(0.0 <= wait <= 2.0 for wait in waits)
    assert min(waits) < 0.5 < 1.5 < max(waits)  # spread over the whole window, from zero


@pytest.mark.parametrize(("after", "expected"), [
    (2.0, 2.0),     # honoured as is, whatever the attempt
    (1000.0, 60.0),  # capped at maximum
    (0.0, 0.5),     # never below initial: Retry-After 0 must not become a hot loop
])
def test_retry_after_is_honoured_and_capped_plus_up_to_half_of_it(after: float, expected: float) -> None:
    policy = RetryPolicy(RetryConfig(initial=0.5, maximum=60.0))
    for attempt in (1, 5, 30):
        waits = [policy.wait_seconds(attempt, retry("http_429", after=after)) for _ in range(200)]
        assert all(expected <= wait <= expected * 1.5 for wait in waits)
        # Jitter: a fleet told the same delay spreads over the next half of it.
        assert min(waits) < expected * 1.1 and max(waits) > expected * 1.4


class Script:
    """An attempt that returns the given outcomes in turn."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> Outcome:
        self.calls += 1
        return self.outcomes.pop(0)


async def test_call_retries_until_a_final_outcome() -> None:
    sleeps: list[float] = []
    retried: list[tuple[str, float]] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    policy = RetryPolicy(RetryConfig(initial=0.01, maximum=0.05),
                         on_retry=lambda outcome, wait: retried.append((outcome.reason, wait)), sleep=sleep)
    script = Script(*[retry("http_503")] * 50, retry("http_429", after=0.03), DELIVERED)
    assert await policy.call(script) == DELIVERED
    assert script.calls == 52  # never gives up: the records are safe on disk
    assert len(sleeps) == 51 and all(0 <= wait <= 0.05 for wait in sleeps)
    assert 0.02 < sleeps[-1] <= 0.045  # the pause, waited before the next attempt
    assert retried[0][0] == "http_503" and retried[-1][0] == "http_429"
    assert 0.03 <= retried[-1][1] <= 0.045


@pytest.mark.parametrize("final", [
    rejected("http 400: bad"),
    rejected("http 413", split=True),
    partial(retry_items=(1,)),
    partial(rejected_items=((0, "bad"),)),  # a Partial that retries nothing: the caller settles it
])
async def test_call_returns_final_and_partial_outcomes_at_once(final: Outcome) -> None:
    policy = RetryPolicy(RetryConfig(initial=10.0, maximum=10.0))
    script = Script(final)
    assert await policy.call(script) == final
    assert script.calls == 1


async def test_call_lets_exceptions_through() -> None:
    async def broken() -> Outcome:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await RetryPolicy(RetryConfig(initial=0.01, maximum=0.01)).call(broken)


async def test_call_is_cancelled_during_a_wait() -> None:
    policy = RetryPolicy(RetryConfig(initial=30.0, maximum=30.0))
    script = Script(*[retry("http_503", after=30.0)] * 3)
    task = asyncio.create_task(policy.call(script))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert script.calls == 1


async def test_a_delivery_ends_the_backoff_of_the_other_batches() -> None:
    """The store is back: batches that failed while it was away go again at once, not after their backoff
    (a Retry-After pause is another matter: see the next tests)."""
    async def sleep(seconds: float) -> None:  # every backoff lasts a minute
        await asyncio.sleep(60.0)

    policy = RetryPolicy(RetryConfig(initial=0.5, maximum=60.0), sleep=sleep)
    backoff = Script(retry("connect"), DELIVERED)
    waiting = asyncio.create_task(policy.call(backoff))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    policy.delivered()  # another batch of this sink went through
    assert await asyncio.wait_for(waiting, 1.0) == DELIVERED


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock on, waking the sleeps that are over."""
        self.now += seconds
        for until, future in self._sleepers:
            if until <= self.now and not future.done():
                future.set_result(None)

    async def sleep(self, seconds: float) -> None:
        """Return once the clock has moved ``seconds`` on."""
        entry = (self.now + seconds, asyncio.get_running_loop().create_future())
        if seconds <= 0:
            return
        self._sleepers.append(entry)
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)


async def test_retry_after_pauses_every_batch_of_the_sink_even_after_a_delivery(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12, point 4: a 429 with Retry-After holds back the other batches' attempts too (new ones and
    those in backoff), and a delivery of another in-flight batch does not end that pause."""
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # the longest jitter: 2 s * 1.5
    clock = Clock()
    sent_at: dict[str, list[float]] = {"told": [], "backoff": [], "new": []}

    class Attempts:
        def __init__(self, name: str, *outcomes: Outcome) -> None:
            self.name, self.outcomes = name, list(outcomes)

        async def __call__(self) -> Outcome:
            sent_at[self.name].append(clock.now)
            return self.outcomes.pop(0)

    policy = RetryPolicy(RetryConfig(initial=0.5, maximum=60.0), sleep=clock.sleep, clock=clock)
    backoff = asyncio.create_task(policy.call(Attempts("backoff", retry("connect"), DELIVERED)))
    await asyncio.sleep(0.01)  # in backoff (half a second, on the clock that does not move yet)
    told = asyncio.create_task(policy.call(Attempts("told", retry("http_429", after=2.0), DELIVERED)))
    await asyncio.sleep(0.01)
    assert policy.paused_for == 3.0
    new = asyncio.create_task(policy.call(Attempts("new", DELIVERED)))
    await asyncio.sleep(0.01)
    policy.delivered()  # another batch, already in flight, went through
    await asyncio.sleep(0.01)
    assert sent_at == {"told": [1000.0], "backoff": [1000.0], "new": []}  # nobody starts during the pause
    clock.advance(2.5)
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in (told, backoff, new))
    clock.advance(0.5)
    assert await asyncio.wait_for(asyncio.gather(told, backoff, new), 1.0) == [DELIVERED] * 3
    assert sent_at == {"told": [1000.0, 1003.0], "backoff": [1000.0, 1003.0], "new": [1003.0]}


async def test_a_later_retry_after_lengthens_a_pause_never_shortens_it() -> None:
    clock = Clock()
    policy = RetryPolicy(RetryConfig(initial=0.5, maximum=60.0), clock=clock)
    policy.pause(10.0)
    policy.pause(2.0)
    assert policy.paused_for == 10.0
    policy.pause(20.0)
    assert policy.paused_for == 20.0
    clock.advance(25)
    assert policy.paused_for == 0.0


async def test_retry_after_is_capped_by_the_maximum_plus_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    clock = Clock()
    policy = RetryPolicy(RetryConfig(initial=0.5, maximum=5.0), sleep=clock.sleep, clock=clock)
    task = asyncio.create_task(policy.call(Script(retry("http_503", after=3600.0), DELIVERED)))
    await asyncio.sleep(0.01)
    assert policy.paused_for == 7.5  # LOGSHIP_RETRY_MAX (5 s) plus half of it
    clock.advance(7.5)
    assert await asyncio.wait_for(task, 1.0) == DELIVERED


async def test_unpaused_calls_ignore_the_pause() -> None:
    """Writing dead letters is not a request to the store: a pause does not hold it back."""
    clock = Clock()
    policy = RetryPolicy(RetryConfig(initial=0.5, maximum=60.0), clock=clock)
    policy.pause(60.0)
    assert await asyncio.wait_for(policy.call(Script(DELIVERED), paused=False), 1.0) == DELIVERED
