"""The closed set of answers a sink gives about one batch: DELIVERED, RETRY(after) or REJECTED(reason).

Every sink's ``classify`` maps a store's response to one of these; the shipper alone decides what
to do with it (retry with backoff, split, dead-letter, acknowledge).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class OutcomeKind(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Outcome:
    """What happened to a batch.

    ``after``: for RETRY, the delay the store asked for (Retry-After), in seconds, or None.
    ``reason``: a short human-readable reason (status, store error), for logs and dead letters. For
    RETRY it is also the ``reason`` label of ``logship_retries_total``, so it must come from a small
    fixed set (``http_503``, ``connect``, ``timeout``…): details belong in ``detail``.
    ``split``: for REJECTED, the batch was too large (413) and may pass when split in halves.
    ``retry_items`` / ``rejected_items``: for a partially accepted batch, the indexes of the records
    to send again and of those rejected for good; the rest counts as delivered. A partial outcome
    (see ``partial``) is settled record by record, whatever its ``kind``; its ``after`` applies to the
    records sent again.
    ``dropped``: for DELIVERED, how many records the store says it dropped without saying which (OTLP
    partial success): counted as rejected, not retried.
    ``detail``: optional longer text (error message, body excerpt) for logs and ``Shipper.last_error``;
    never a metric label.
    """

    kind: OutcomeKind
    after: float | None = None
    reason: str = ""
    split: bool = False
    retry_items: tuple[int, ...] = field(default=())
    rejected_items: tuple[tuple[int, str], ...] = field(default=())
    detail: str = ""
    dropped: int = 0


DELIVERED = Outcome(OutcomeKind.DELIVERED)

# The reason of the outcome the shipper gives a batch whose sink raised in encode or send: a bug (or a
# record that triggers one), not a store's answer (see ``logship.ship.shipper``).
SINK_ERROR = "sink_error"


def retry(reason: str, after: float | None = None, detail: str = "") -> Outcome:
    """A temporary failure: send the same batch again, after ``after`` seconds if the store said.

    ``reason`` is a metric label (a short token from a fixed set); ``detail`` the human explanation.
    """
    return Outcome(OutcomeKind.RETRY, after=after, reason=reason, detail=detail)


def sink_error(exc: BaseException) -> Outcome:
    """The sink raised ``exc``: RETRY (a few times), reason ``SINK_ERROR``, the exception's type and
    message as ``detail``."""
    return Outcome(OutcomeKind.RETRY, reason=SINK_ERROR, detail=f"{type(exc).__name__}: {exc}")


def rejected(reason: str, split: bool = False) -> Outcome:
    """A final failure of the whole batch; ``split`` when it was refused for its size."""
    return Outcome(OutcomeKind.REJECTED, reason=reason, split=split)


def partial(retry_items: tuple[int, ...] = (), rejected_items: tuple[tuple[int, str], ...] = (),
            after: float | None = None) -> Outcome:
    """Part of the batch passed: send ``retry_items`` again (after ``after`` seconds if the store said),
    dead-letter ``rejected_items`` (index, reason); every other record counts as delivered."""
    return Outcome(OutcomeKind.DELIVERED, after=after, reason="partial", retry_items=tuple(retry_items),
                   rejected_items=tuple(rejected_items))
