"""The ``elasticsearch`` sink, the classify step: pure, the store's answers → Outcome.

The wire format and the answers are described in ``logship.sinks.elasticsearch``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from logship.ship.outcome import DELIVERED, Outcome, partial, retry
from logship.sinks._http import body_excerpt, classify_status, status_said

_REASON_CHARS = 300
RETRY_ITEM_STATUSES = frozenset({401, 402, 403, 429})


# --- classify -----------------------------------------------------------------------------------


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_CHARS else text[:_REASON_CHARS] + "…"


def error_text(error: Any) -> str:
    """``type: reason`` of an ES error object (its ``caused_by`` too), or the error as text."""
    if isinstance(error, dict):
        kind, reason = error.get("type"), error.get("reason")
        text = f"{kind}: {reason}" if kind and reason else str(kind or reason or error)
        cause = error.get("caused_by")
        if isinstance(cause, dict) and (cause.get("type") or cause.get("reason")):
            text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
        return _shorten(text)
    return _shorten(str(error))


def _request_error(status: int, body: bytes) -> str:
    """``http 400: type: reason`` from ES's ``{"error": {...}, "status": 400}``, else a body excerpt."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and answer.get("error"):
        return f"http {status}: {error_text(answer['error'])}"
    return status_said(status, body_excerpt(body))


def classify(status: int, headers: Mapping[str, str], body: bytes, count: int,
             retry_status: frozenset[int] = frozenset()) -> Outcome:
    """The Outcome of ES's answer to a ``_bulk`` request of ``count`` documents (module docstring)."""
    if 200 <= status < 300:
        return _classify_items(body, count)
    return classify_status(status, headers, _request_error(status, body), retry_status,
                           retriable=status in (402, 429) or status >= 500)


def _malformed(detail: str, body: bytes) -> Outcome:
    return retry("malformed", detail=f"{detail}; sending again is safe (create with the same _id answers 409 for "
                                     f"what was indexed): {body_excerpt(body)}")


# How ES (and OpenSearch) start the answer of a bulk request that stored every document, with this sink's
# filter_path: `errors` first, then one item per document that nobody needs to read.
_ALL_STORED = re.compile(rb'\s*\{\s*"errors"\s*:\s*false\s*[,}]')


def _classify_items(body: bytes, count: int) -> Outcome:
    if _ALL_STORED.match(body, 0, 64):
        # errors: false. Parsing the 5,000 items of a large batch's answer cost about as much as encoding it.
        return DELIVERED
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _malformed("the bulk answer is not JSON", body)
    if not isinstance(answer, dict) or not isinstance(answer.get("errors"), bool):
        return _malformed("the bulk answer has no `errors`", body)
    if not answer["errors"]:
        return DELIVERED
    items = answer.get("items")
    if not isinstance(items, list) or len(items) != count:
        got = len(items) if isinstance(items, list) else "no"
        return _malformed(f"the bulk answer has {got} items for {count} documents", body)
    retry_items: list[int] = []
    rejected_items: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        result = next(iter(item.values()), None) if isinstance(item, dict) and len(item) == 1 else None
        if not isinstance(result, dict):
            return _malformed(f"item {index} of the bulk answer has no status", body)
        item_status = result.get("status")
        if not isinstance(item_status, int):
            return _malformed(f"item {index} of the bulk answer has no status", body)
        if item_status < 300 or item_status == 409:
            continue  # 409 on create: the document is there already (an attempt whose answer was lost)
        if item_status in RETRY_ITEM_STATUSES or item_status >= 500:
            retry_items.append(index)
        else:
            rejected_items.append((index, error_text(result.get("error") or f"status {item_status}")))
    if not retry_items and not rejected_items:
        return DELIVERED
    if len(retry_items) == count:
        # Nothing passed (every item rejected for load, say): a plain retry, labelled like a whole-request one.
        first = items[retry_items[0]]
        status = next(iter(first.values()))["status"]
        return retry(f"http_{status}", detail=f"every item answered {status}, such as "
                                              f"{error_text(next(iter(first.values())).get('error'))}")
    return partial(tuple(retry_items), tuple(rejected_items))
