"""The closed outcome type (issue 13.3): four variants, retry reasons from one enum."""

from __future__ import annotations

import re
import typing

import pytest

from logship.ship.outcome import (
    CLICKHOUSE_TRANSIENT_CODES,
    DELIVERED,
    Delivered,
    Outcome,
    OutcomeKind,
    Partial,
    Rejected,
    Retry,
    RetryReason,
    partial,
    rejected,
    retry,
)
from logship.sinks.clickhouse.classify import TRANSIENT_CODES


def test_outcome_is_four_variants() -> None:
    assert set(typing.get_args(Outcome)) == {Delivered, Retry, Rejected, Partial}


@pytest.mark.parametrize("text", ["write /var/lib/logship/output/containers.ndjson: No space left on device",
                                  "stdout: Broken pipe", "http_600", "http_99", "code_1", "Connect", ""])
def test_a_retry_reason_outside_the_enum_is_refused(text: str) -> None:
    # Before issue 13.3 any text became the logship_retries_total label: a path, a message.
    with pytest.raises(ValueError):
        retry(text)


def test_retry_reasons_are_short_tokens_of_a_bounded_set() -> None:
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", reason.value) for reason in RetryReason)
    assert len(RetryReason) < 600  # 500 HTTP statuses, ClickHouse's transient codes, a dozen names
    assert RetryReason.http(503) == "http_503" and retry("http_503").reason is RetryReason.HTTP_503
    assert {RetryReason.clickhouse(code) for code in TRANSIENT_CODES} <= set(RetryReason)
    assert set(CLICKHOUSE_TRANSIENT_CODES) == TRANSIENT_CODES


@pytest.mark.parametrize(("outcome", "kind", "final"), [
    (DELIVERED, OutcomeKind.DELIVERED, True),
    (Delivered(reason="partial_success", dropped=2), OutcomeKind.DELIVERED, True),
    (retry("connect", detail="refused"), OutcomeKind.RETRY, False),
    (rejected("http 400: bad", split=True), OutcomeKind.REJECTED, True),
    (partial(retry_items=(1,), rejected_items=((0, "bad"),), after=2.0), OutcomeKind.DELIVERED, False),
])
def test_every_variant_reads_the_same_attributes(outcome: Outcome, kind: OutcomeKind, final: bool) -> None:
    assert outcome.kind is kind
    for name, neutral in (("after", None), ("split", False), ("retry_items", ()), ("rejected_items", ()),
                          ("detail", ""), ("dropped", 0)):
        value = getattr(outcome, name)
        assert value == neutral or name in {field.name for field in outcome.__dataclass_fields__.values()}
    match outcome:
        case Retry(reason=reason):
            assert isinstance(reason, RetryReason) and not final
        case Partial(retry_items=items):
            assert items and not final
        case Delivered() | Rejected():
            assert final
