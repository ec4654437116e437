"""Exponential backoff with jitter for the loops that retry forever: reconnects and restarts.

Sinks' retries go through tenacity in ``logship.ship.retry`` (they honour Retry-After); these loops
only need the next delay, doubling up to a cap, with jitter so that many tailers do not retry in step.
"""

from __future__ import annotations

import random


class Backoff:
    """Delays ``initial``, ``2 * initial``, … up to ``maximum``, each scaled by a random factor in [0.5, 1]."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self._current = initial

    def next(self) -> float:
        """The delay before the next attempt (and double the one after it)."""
        delay = self._current * random.uniform(0.5, 1.0)
        self._current = min(self._current * 2, self._maximum)
        return delay

    def reset(self) -> None:
        """An attempt succeeded: start again from ``initial``."""
        self._current = self._initial
