"""The reconnect/restart backoff: doubling, capped, jittered into [0.5, 1] of the step, reset on success."""

from __future__ import annotations

from logship.backoff import Backoff


def test_doubles_up_to_the_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(0.5, 3.0)
    steps = [0.5, 1.0, 2.0, 3.0, 3.0]
    for step in steps:
        assert step * 0.5 <= backoff.next() <= step
    backoff.reset()
    assert 0.25 <= backoff.next() <= 0.5
