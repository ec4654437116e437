"""What a sink says about one batch: a closed set of four answers, ``Outcome``.

- ``Delivered``: the store kept the batch. ``dropped`` counts records it says it dropped without
  saying which (OTLP partial success): counted as rejected, not retried. ``reason`` is a note for the
  sink's own log (``partial_success``, ``warning``…), never a metric label.
- ``Retry``: a temporary failure; the same records go again, after ``after`` seconds when the store
  asked (Retry-After), else after the policy's backoff. ``reason`` is a ``RetryReason`` and the only
  ``reason`` label of ``logship_retries_total``; ``detail`` says what happened, for a person.
- ``Rejected``: a final failure of the whole batch; ``reason`` (prose: status, store error) goes with
  each dead letter; ``split``: refused for its size (413), halves may pass.
- ``Partial``: the store settled records one by one: ``retry_items`` go again (after ``after``),
  ``rejected_items`` (index, reason) are dead-lettered, every other index counts as delivered.

Invariants:
- Every sink's ``send`` returns one of these (``Outcome``) and never raises for a store's answer; the
  shipper alone decides what to do (``logship.ship.shipper``, ``logship.ship.retry``), with ``match``.
- A ``Retry`` is never final: the batch stays unacknowledged and is sent again. ``Delivered``,
  ``Rejected`` and a settled ``Partial`` are final; only then are the batch's records acknowledged.
- Metric labels come from ``RetryReason`` only (a closed enum, HTTP statuses included): a path, an
  address or a store's message belongs in ``detail``.
- Every variant reads the same attributes (``kind``, ``reason``, ``after``, ``split``, ``retry_items``,
  ``rejected_items``, ``detail``, ``dropped``), neutral where they do not apply: for reports (``/readyz``)
  and tests. Code that acts on an outcome matches its variant.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

# ClickHouse's exception codes that mean "try again later" (``logship.sinks.clickhouse.classify``); each one
# is a retry reason ``code_<n>``.
CLICKHOUSE_TRANSIENT_CODES: dict[int, str] = {
    159: "TIMEOUT_EXCEEDED", 201: "QUOTA_EXCEEDED (QUOTA_EXPIRED in old servers)",
    202: "TOO_MANY_SIMULTANEOUS_QUERIES", 203: "NO_FREE_CONNECTION", 209: "SOCKET_TIMEOUT", 210: "NETWORK_ERROR",
    241: "MEMORY_LIMIT_EXCEEDED", 242: "TABLE_IS_READ_ONLY", 252: "TOO_MANY_PARTS",
    319: "UNKNOWN_STATUS_OF_INSERT", 394: "QUERY_WAS_CANCELLED", 425: "SYSTEM_ERROR", 439: "CANNOT_SCHEDULE_TASK",
    999: "KEEPER_EXCEPTION",
}


class OutcomeKind(enum.Enum):
    """The summary of an outcome for reports (``/readyz``): a ``Partial`` is reported as delivered."""

    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


class RetryReason(enum.StrEnum):
    """Why a batch is sent again: the ``reason`` label of ``logship_retries_total`` (a closed set).

    Besides the named members: ``http_<status>`` for every status 100 to 599 (``RetryReason.http``) and
    ``code_<n>`` for ClickHouse's transient codes (``RetryReason.clickhouse``).
    """

    _ignore_ = ["status", "code"]

    CONNECT = "connect"  # no connection (refused, reset, not resolved)
    TIMEOUT = "timeout"  # no answer in time
    TLS = "tls"  # the handshake failed
    WRITE = "write"  # a connection or file took part of the batch, then failed
    AUTH = "auth"  # credentials refused (a store that says so other than by status)
    CONFIG = "config"  # the store refuses the request as configured (schema, setting)
    UNKNOWN_TABLE = "unknown_table"
    MALFORMED = "malformed"  # an answer that cannot be read: sending again is safe
    PARTIAL = "partial"  # the retry items of a Partial
    SINK_ERROR = "sink_error"  # the sink raised: a bug, or a record that triggers one
    DEAD_LETTER = "dead_letter"  # dead letters could not be written
    ERROR = "error"  # a message not sent for a reason not known (unreachable by design)
    for status in range(100, 600):
        vars()[f"HTTP_{status}"] = f"http_{status}"
    for code in CLICKHOUSE_TRANSIENT_CODES:
        vars()[f"CODE_{code}"] = f"code_{code}"

    @classmethod
    def http(cls, status: int) -> RetryReason:
        """``http_<status>``; ValueError outside 100..599."""
        return cls(f"http_{status}")

    @classmethod
    def clickhouse(cls, code: int) -> RetryReason:
        """``code_<code>`` for a code of ``CLICKHOUSE_TRANSIENT_CODES``; ValueError for another."""
        return cls(f"code_{code}")


class _Reading:
    """The attributes every outcome can be read by, with their neutral values (see the module docstring)."""

    __slots__ = ()
    kind: ClassVar[OutcomeKind]
    reason: str = ""
    after: float | None = None
    split: bool = False
    retry_items: tuple[int, ...] = ()
    rejected_items: tuple[tuple[int, str], ...] = ()
    detail: str = ""
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class Delivered(_Reading):
    """The store kept the batch (``dropped`` of its records excepted, see the module docstring)."""

    kind: ClassVar[OutcomeKind] = OutcomeKind.DELIVERED
    reason: str = ""
    detail: str = ""
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class Retry(_Reading):
    """Send the same records again, after ``after`` seconds when the store asked."""

    kind: ClassVar[OutcomeKind] = OutcomeKind.RETRY
    reason: RetryReason
    after: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Rejected(_Reading):
    """The store refused the batch for good; ``split``: for its size."""

    kind: ClassVar[OutcomeKind] = OutcomeKind.REJECTED
    reason: str
    split: bool = False
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Partial(_Reading):
    """Part of the batch passed: send ``retry_items`` again, dead-letter ``rejected_items``."""

    kind: ClassVar[OutcomeKind] = OutcomeKind.DELIVERED
    retry_items: tuple[int, ...] = ()
    rejected_items: tuple[tuple[int, str], ...] = ()
    after: float | None = None
    reason: ClassVar[str] = "partial"  # type: ignore[misc]


Outcome = Delivered | Retry | Rejected | Partial

DELIVERED = Delivered()

# The reason of the outcome the shipper gives a batch whose sink raised in encode or send: a bug (or a
# record that triggers one), not a store's answer (see ``logship.ship.shipper``).
SINK_ERROR = RetryReason.SINK_ERROR


def retry(reason: RetryReason | str, after: float | None = None, detail: str = "") -> Retry:
    """A temporary failure: send the same batch again, after ``after`` seconds if the store said.

    ``reason`` must be a ``RetryReason`` (or its value; ValueError for another text); ``detail`` the
    human explanation.
    """
    return Retry(RetryReason(reason), after=after, detail=detail)


def sink_error(exc: BaseException) -> Retry:
    """The sink raised ``exc``: RETRY (a few times), reason ``SINK_ERROR``, the exception's type and
    message as ``detail``."""
    return Retry(RetryReason.SINK_ERROR, detail=f"{type(exc).__name__}: {exc}")


def rejected(reason: str, split: bool = False) -> Rejected:
    """A final failure of the whole batch; ``split`` when it was refused for its size."""
    return Rejected(reason, split=split)


def partial(retry_items: tuple[int, ...] = (), rejected_items: tuple[tuple[int, str], ...] = (),
            after: float | None = None) -> Partial:
    """Part of the batch passed: send ``retry_items`` again (after ``after`` seconds if the store said),
    dead-letter ``rejected_items`` (index, reason); every other record counts as delivered."""
    return Partial(tuple(retry_items), tuple(rejected_items), after)
