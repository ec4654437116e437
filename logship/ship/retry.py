"""The retry policy of every sink, in one place.

A RETRY outcome means the batch may pass later; its records are safe in the disk buffer, so the policy
retries forever, until the batch gets a final outcome (DELIVERED or REJECTED) or the task is cancelled
at shutdown. Between attempts it waits:

- after an outcome carrying the store's ``Retry-After`` (``Outcome.after``): the whole sink pauses.
  No attempt of any batch of this policy (new or retried) starts until the pause has passed: the
  store's delay, never less than ``RetryConfig.initial`` (so that ``Retry-After: 0`` cannot turn into
  a hot loop) and never more than ``RetryConfig.maximum``, plus a random 0 to ``RETRY_AFTER_JITTER``
  (50 %) of it, so that a fleet of agents told the same delay does not come back in the same second.
  A later Retry-After may lengthen a pause, never shorten it;
- otherwise exponential backoff with full jitter: a uniform draw from ``[0, initial * 2**(n-1)]``,
  the window capped at ``RetryConfig.maximum`` (tenacity's ``wait_random_exponential``). Such a wait
  ends early when another batch of the same sink is delivered (``delivered()``): the store is back,
  so the batches that failed while it was away go again now rather than after their backoff (up to
  ``maximum``, a minute by default). A delivery never ends a pause: the store's explicit
  ``Retry-After`` is always honoured in full, by every batch.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_never, wait_random_exponential
from tenacity.wait import wait_base

from logship.settings.types import RetryConfig
from logship.ship.outcome import Outcome, Partial, Retry

# RFC 9110 §10.2.3: Retry-After = HTTP-date / delay-seconds, delay-seconds = 1*DIGIT. A fraction is
# not allowed by the RFC but some servers send one; it is harmless to accept.
_DELAY_SECONDS = re.compile(r"^\d+(?:\.\d+)?$")

# A pause after Retry-After lasts the (capped) delay plus a uniform draw from [0, RETRY_AFTER_JITTER] of it.
RETRY_AFTER_JITTER = 0.5


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header value, or None when it is unusable.

    Accepts delay-seconds (``"120"``) or an HTTP-date in any of the three forms RFC 9110 requires a
    recipient to read (IMF-fixdate, RFC 850, asctime; a date without zone is UTC). A date in the past
    means "now" (0.0). Garbage, negative numbers and empty values give None. No cap is applied here:
    the policy caps (``RetryPolicy``).
    """
    text = value.strip()
    if not text:
        return None
    if _DELAY_SECONDS.match(text):
        return float(text)
    if text[0] in "+-" or text[0].isdigit():
        return None  # a signed or malformed number, not a date
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def is_partial(outcome: Outcome) -> bool:
    """Whether the outcome concerns only some records of the batch (a ``Partial``)."""
    return isinstance(outcome, Partial)


def _needs_retry(outcome: Outcome) -> bool:
    # A Partial is settled by the caller, which retries only the retry items itself.
    match outcome:
        case Retry():
            return True
        case _:
            return False


class _WaitForOutcome(wait_base):
    """tenacity wait: the store's Retry-After when given, else full-jitter exponential backoff."""

    def __init__(self, config: RetryConfig) -> None:
        self._config = config
        self._backoff = wait_random_exponential(multiplier=config.initial, max=config.maximum)

    def __call__(self, retry_state: RetryCallState) -> float:
        attempt = retry_state.outcome
        outcome = attempt.result() if attempt is not None and not attempt.failed else None
        match outcome:
            case Retry(after=after) if after is not None:  # the store's Retry-After
                delay = min(max(after, self._config.initial), self._config.maximum)
                return delay * (1.0 + random.uniform(0.0, RETRY_AFTER_JITTER))
        return self._backoff(retry_state)


OnRetry = Callable[[Outcome, float], None]


class RetryPolicy:
    """Calls an attempt until its Outcome is final, waiting between RETRY outcomes (see module doc).

    One policy serves every batch of one sink: its pause (after a Retry-After) holds them all.
    ``on_retry(outcome, seconds)`` is called before each wait (metrics, logs). ``sleep`` and ``clock``
    (monotonic seconds) are injectable so tests can observe the waits without spending them.
    """

    def __init__(self, config: RetryConfig, on_retry: OnRetry | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._wait = _WaitForOutcome(config)
        self._on_retry = on_retry
        self._sleep = sleep
        self._clock = clock
        self._store_back = asyncio.Event()  # replaced by a fresh one each time it is set
        self._pause_until = 0.0  # clock() before which no attempt starts (a store's Retry-After)

    def delivered(self) -> None:
        """A batch went through: end the backoff waits of the others (not a pause: see ``pause``)."""
        self._store_back.set()
        self._store_back = asyncio.Event()

    def pause(self, seconds: float) -> None:
        """No attempt starts for ``seconds`` from now (a pause in progress may only get longer)."""
        self._pause_until = max(self._pause_until, self._clock() + seconds)

    @property
    def paused_for(self) -> float:
        """Seconds left of the current pause (0.0 when none)."""
        return max(self._pause_until - self._clock(), 0.0)

    async def _end_of_pause(self) -> None:
        """Return once no pause is in progress (one lengthened meanwhile is waited for too)."""
        while (left := self.paused_for) > 0:
            until = self._pause_until
            await self._sleep(left)
            if self._pause_until == until:
                return  # not lengthened: over (an injected sleep may not move the clock)

    async def _backoff(self, seconds: float) -> None:
        """``sleep(seconds)``, or less when ``delivered()`` is called meanwhile."""
        store_back = self._store_back
        sleeping = asyncio.ensure_future(self._sleep(seconds))
        waking = asyncio.ensure_future(store_back.wait())
        try:
            await asyncio.wait((sleeping, waking), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            waking.cancel()

    def wait_seconds(self, attempt: int, outcome: Outcome) -> float:
        """The wait after failed attempt number ``attempt`` (1-based) that ended with ``outcome``."""
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempt
        state.set_result(outcome)
        return self._wait(state)

    async def call(self, attempt: Callable[[], Awaitable[Outcome]], *, paused: bool = True) -> Outcome:
        """Run ``attempt`` until it returns a final outcome (or a partial one), and return that.

        With ``paused`` (requests to the store), every attempt, the first included, starts only once
        the sink's pause is over; ``paused=False`` is for attempts that are not requests to the store
        (writing dead letters). Exceptions raised by ``attempt`` propagate unchanged (they are bugs, not
        store answers); cancellation interrupts a wait at once.
        """
        honour = False  # the coming wait is the store's Retry-After: a pause of the whole sink

        def before_sleep(retry_state: RetryCallState) -> None:
            nonlocal honour
            outcome = retry_state.outcome.result() if retry_state.outcome is not None else None
            honour = paused and isinstance(outcome, Retry) and outcome.after is not None
            if honour and retry_state.next_action is not None:
                self.pause(retry_state.next_action.sleep)
            self._before_sleep(retry_state)

        async def sleep(seconds: float) -> None:
            if honour:
                return  # the pause is waited for before the next attempt
            await self._backoff(seconds)

        async def attempt_after_pause() -> Outcome:
            await self._end_of_pause()
            return await attempt()

        retrying = AsyncRetrying(
            retry=retry_if_result(_needs_retry),
            wait=self._wait,
            stop=stop_never,
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return await retrying(attempt_after_pause if paused else attempt)

    def _before_sleep(self, retry_state: RetryCallState) -> None:
        if self._on_retry is None or retry_state.outcome is None or retry_state.next_action is None:
            return
        self._on_retry(retry_state.outcome.result(), retry_state.next_action.sleep)
