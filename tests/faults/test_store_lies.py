"""A store that answers 200 with a garbage body, and one that accepts connections and reads nothing
(issue 12, point 7): every line arrives once the store heals, none twice.

- The http sink's contract (``logship/sinks/http.py``, ``classify``): any 2xx means stored, whatever the
  body; the fake store keeps the lines of a 2xx, so a garbage body changes nothing: every line once.
- Elasticsearch is a store whose answer body matters (``errors`` and one item per document): a 200 whose
  body is not JSON must be retried, not counted as delivered; the documents it had indexed answer 409 on
  the retry (same ``_id``), which counts as delivered, so none is stored twice.
- A deaf store (a listener on the store's port that never reads): each request times out and is retried.

The scenarios are ``scenarios.store_mode`` and ``scenarios.elasticsearch_garbage``, rows of
``python -m bench faults`` too.
"""

from __future__ import annotations

import pytest

from tests.faults.conftest import check
from tests.faults.scenarios import Rig, elasticsearch_garbage, store_mode

pytestmark = pytest.mark.docker


def test_http_store_answering_200_with_a_garbage_body_every_line_once(
        rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    result = store_mode(rig, "garbage", seconds=3)
    check(result, capsys)
    assert result.details["store_faults"].get("garbage", 0) > 0
    assert rig.logship.stop() == 0


def test_a_deaf_store_then_healed_every_line_once(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    result = store_mode(rig, "deaf", seconds=8)
    check(result, capsys)
    assert result.details["retries"].get("timeout", 0) > 0, result.details
    assert rig.logship.stop() == 0


def test_elasticsearch_200_with_a_body_that_is_not_json_is_retried_not_lost(
        rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    result = elasticsearch_garbage(rig)
    check(result, capsys)
    assert result.details["answers_garbled"] > 0
    assert result.details["malformed_retries"] >= result.details["answers_garbled"]
    assert result.details["conflicts_409"] > 0  # the garbled batches came again and were found indexed
    assert rig.logship.stop() == 0
