"""The ``gelf`` sink, the classify step: pure, the store's answers → Outcome.

The wire format and the answers are described in ``logship.sinks.gelf``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from logship.ship.outcome import DELIVERED, Outcome, Rejected, Retry, partial, retry
from logship.sinks._http import body_excerpt, classify_status, retry_after, status_said

# --- classify -----------------------------------------------------------------------------------


def classify(status: int, headers: Mapping[str, str], body: bytes, retry_status: frozenset[int]) -> Outcome:
    """The Outcome of Graylog's answer to one message POSTed to the GELF HTTP input."""
    if 200 <= status < 300:
        return DELIVERED
    said = status_said(status, body_excerpt(body))
    if status == 413 and status in retry_status:
        # Unlike the other HTTP sinks, a 413 listed in LOGSHIP_GELF_RETRY_STATUS is retried, not split.
        return retry("http_413", after=retry_after(headers), detail=said)
    return classify_status(status, headers, said, retry_status)


def combine(outcomes: Sequence[Outcome]) -> Outcome:
    """The outcome of a batch from the outcomes of its messages (in order; see the module docstring)."""
    retries = [index for index, outcome in enumerate(outcomes) if isinstance(outcome, Retry)]
    refused = [(index, outcome.reason or "rejected") for index, outcome in enumerate(outcomes)
               if isinstance(outcome, Rejected)]
    if not retries and not refused:
        return DELIVERED
    afters = [wait for index in retries if (wait := outcomes[index].after) is not None]
    after = max(afters) if afters else None
    if len(retries) == len(outcomes):
        first = outcomes[retries[0]]
        assert isinstance(first, Retry)
        return Retry(first.reason, after=after, detail=first.detail)
    return partial(tuple(retries), tuple(refused), after=after)
