"""The retry policy: Retry-After parsing, backoff bounds, and the retry loop."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from logship.config import RetryConfig
from logship.ship.outcome import DELIVERED, Outcome, OutcomeKind, partial, rejected, retry
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
def test_retry_after_is_honoured_and_capped(after: float, expected: float) -> None:
    policy = RetryPolicy(RetryConfig(initial=0.5, maximum=60.0))
    for attempt in (1, 5, 30):
        assert policy.wait_seconds(attempt, retry("http_429", after=after)) == expected


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
    assert sleeps[-1] == 0.03
    assert retried[0][0] == "http_503" and retried[-1] == ("http_429", 0.03)


@pytest.mark.parametrize("final", [
    rejected("http 400: bad"),
    rejected("http 413", split=True),
    partial(retry_items=(1,)),
    Outcome(OutcomeKind.RETRY, retry_items=(0,)),  # a partial RETRY: the caller settles it
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


async def test_a_delivery_ends_the_backoff_of_the_other_batches_but_not_a_retry_after() -> None:
    """The store is back: batches that failed while it was away go again at once, not after their backoff;
    a batch told to wait by the store (Retry-After) still waits."""
    async def sleep(seconds: float) -> None:  # every backoff lasts a minute; the Retry-After what it says
        await asyncio.sleep(0.6 if seconds == 0.6 else 60.0)

    policy = RetryPolicy(RetryConfig(initial=0.5, maximum=60.0), sleep=sleep)
    backoff = Script(retry("connect"), DELIVERED)
    told_to_wait = Script(retry("http_429", after=0.6), DELIVERED)
    started = asyncio.get_running_loop().time()
    waiting = [asyncio.create_task(policy.call(backoff)), asyncio.create_task(policy.call(told_to_wait))]
    await asyncio.sleep(0.05)
    assert not any(task.done() for task in waiting)
    policy.delivered()  # another batch of this sink went through
    assert await asyncio.wait_for(waiting[0], 1.0) == DELIVERED
    assert not waiting[1].done()
    assert await asyncio.wait_for(waiting[1], 2.0) == DELIVERED
    assert asyncio.get_running_loop().time() - started >= 0.6
