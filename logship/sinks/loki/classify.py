"""The ``loki`` sink, the classify step: pure, the store's answers → Outcome.

The wire format and the answers are described in ``logship.sinks.loki``.
"""

from __future__ import annotations

from collections.abc import Mapping

from logship.ship.outcome import DELIVERED, Outcome, rejected
from logship.sinks._http import body_excerpt, classify_status, status_said

# --- classify ---------------------------------------------------------------------------------


def classify(status: int, headers: Mapping[str, str], body: bytes, retry_status: frozenset[int]) -> Outcome:
    """The Outcome of one answer of Loki (rows in the module docstring)."""
    excerpt = body_excerpt(body)
    said = status_said(status, excerpt)
    if 200 <= status < 300:
        if "ingestion blocked" in excerpt:
            return rejected(f"{said} (Loki stored nothing: ingestion is blocked for this tenant)")
        return DELIVERED
    if status == 400 and status not in retry_status:
        reason = f"http 400 (not retried: Loki may have stored the valid entries of this batch): {excerpt}"
        if "structured metadata" in excerpt and "disallowed" in excerpt:
            reason += " [hint: LOGSHIP_LOKI_STRUCTURED_METADATA=false, or allow_structured_metadata in Loki]"
        return rejected(reason)
    hint = "; set LOGSHIP_LOKI_TENANT_ID (X-Scope-OrgID)" if "org id" in excerpt.lower() else ""
    return classify_status(status, headers, said, retry_status, retriable=status == 429 or 500 <= status < 600,
                           credentials_hint=hint)
