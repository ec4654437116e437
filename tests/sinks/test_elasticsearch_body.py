"""The Elasticsearch bulk body's one pass (issue 15.1): every record, plain or not, gets the action and
document the module docstring defines, whichever way it was read; and the answer of a bulk that stored
everything is taken from its start, without reading its items."""

from __future__ import annotations

import orjson
import pytest

from logship.record import Columns, Reader
from logship.sinks.base import Batch
from logship.sinks.elasticsearch.encode import bulk_lines, document_id
from tests.sinks.records import METADATA, host_records, parsed, parsed_batch, records, sample_batch


def _mixed() -> list[bytes]:
    other = {**METADATA, "container": {**METADATA["container"], "id": "other"}}
    plain = records([("stdout", f"2026-11-25T16:32:42.{n:09d}Z", f'line {n} "q" \\ é 日本\n') for n in range(1, 6)])
    plain += records([("stderr", "2026-11-25T16:32:43.000000001Z", "\n")], other)
    return [plain[0], parsed(plain[1], level="error"), parsed(plain[2], attributes={"a": 1}), plain[3], plain[4],
            plain[5], *sample_batch().records, *parsed_batch().records,
            plain[0].replace(b',"stream"', b',"partial":{"ordinal":2,"last":true},"stream"'),
            b'{"timestamp":"2026-11-25T16:32:44.000000001Z","stream":"stdout","message":"whole"}',
            b'{"stream":"stdout","timestamp":"2026-11-25T16:32:44.000000002Z","message":"other order"}']


@pytest.mark.parametrize("index", ["logs-docker-default", "docker-%Y.%m.%d"])
def test_every_record_gets_its_id_and_its_document(index: str) -> None:
    recs = _mixed()
    lines = bulk_lines(Batch(recs, 0), index).split(b"\n")
    assert lines[-1] == b"" and len(lines) == 2 * len(recs) + 1
    for record, action, document in zip(recs, lines[0::2], lines[1::2], strict=False):
        fields = orjson.loads(record)
        part = fields.get("partial")
        expected_id = document_id(fields["container"]["id"] if "container" in fields else "", fields["stream"],
                                  fields["timestamp"], part["ordinal"] if part else None, fields["message"])
        expected_index = index if "%" not in index else "docker-2026.11.25"
        assert orjson.loads(action) == {"create": {"_index": expected_index, "_id": expected_id}}
        renamed = {"@timestamp": fields["timestamp"], **{k: v for k, v in fields.items() if k != "timestamp"}}
        assert list(orjson.loads(document).items()) == list(renamed.items())


@pytest.mark.parametrize("index", ["logs-docker-default", "docker-%Y.%m.%d-%H%M%S"])
def test_a_batch_of_one_container_is_written_at_once_as_record_by_record(
        index: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # One container's stdout and stderr, plain lines across seconds (a dated index changes with them):
    # the whole-batch way (Reader.columns) gives the body the loop per record gives.
    recs = records([("stderr" if n % 3 == 1 else "stdout", f"2026-11-25T16:32:{40 + n // 4:02d}.{n:09d}Z",
                     f'line {n} "q" \\ é 日本\n') for n in range(12)])
    assert Reader().columns(recs) is not None
    at_once = bulk_lines(Batch(recs, 0), index)
    with monkeypatch.context() as patched:
        patched.setattr(Reader, "columns", lambda self, records, runs=False: None)
        patched.setattr(Columns, "of", classmethod(lambda cls, plains: None))  # nor from the split: the loop
        assert at_once == bulk_lines(Batch(recs, 0), index)


@pytest.mark.parametrize("index", ["logs-docker-default", "docker-%Y.%m.%d-%H%M%S"])
def test_a_hosts_batch_is_written_at_once_as_record_by_record(index: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Three containers' stdout and stderr in runs (a host's batch, which Reader.columns leaves to the split
    # loop): Reader.parts still gives columns, and the whole-batch way gives the loop's body.
    recs = host_records([("stderr" if n % 3 == 1 else "stdout", f"2026-11-25T16:32:{40 + n // 4:02d}.{n:09d}Z",
                          f'line {n} "q" \\ é 日本\n') for n in range(12)], 3, run=4)
    assert Reader().columns(recs) is None and isinstance(Reader().parts(recs, levels=True), Columns)
    at_once = bulk_lines(Batch(recs, 0), index)
    with monkeypatch.context() as patched:
        patched.setattr(Columns, "of", classmethod(lambda cls, plains: None))
        assert at_once == bulk_lines(Batch(recs, 0), index)


@pytest.mark.parametrize("index", ["logs-docker-default", "docker-%Y.%m.%d-%H%M%S"])
def test_a_hosts_batch_in_long_runs_is_written_at_once_as_record_by_record(
        index: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Three containers' reads of 40 lines one after the other: Reader.columns finds the runs for parts.
    recs = host_records([("stdout", f"2026-11-25T16:32:{40 + n // 40:02d}.{n:09d}Z", f'line {n} "q" \\ é 日本\n')
                         for n in range(120)], 3, run=40)
    assert Reader().columns(recs, runs=True) is not None
    at_once = bulk_lines(Batch(recs, 0), index)
    with monkeypatch.context() as patched:
        patched.setattr(Reader, "columns", lambda self, records, runs=False: None)
        patched.setattr(Columns, "of", classmethod(lambda cls, plains: None))
        assert at_once == bulk_lines(Batch(recs, 0), index)


@pytest.mark.parametrize("body", [
    b'{"errors":false,"items":[' + b",".join([b'{"create":{"status":201}}'] * 5000) + b"]}",
    b'{"errors":false,"items":[{"create":{"status":201}},{"create":{"sta',  # cut short: errors said enough
    b' {\n  "errors" : false }',
])
def test_an_answer_that_stored_everything_is_delivered_without_reading_its_items(body: bytes) -> None:
    from logship.ship.outcome import DELIVERED
    from logship.sinks.elasticsearch.classify import classify

    assert classify(200, {}, body, 5000) == DELIVERED


def test_an_answer_with_errors_is_still_read_item_by_item() -> None:
    from logship.sinks.elasticsearch.classify import classify

    body = b'{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429}}]}'
    outcome = classify(200, {}, body, 2)
    assert (outcome.reason, outcome.retry_items, outcome.rejected_items) == ("partial", (1,), ())


def test_ids_in_one_pass_are_each_digests_own() -> None:
    """``_ids`` base64-encodes the batch's digests together: each is still its digest's own ``_id``."""
    from hashlib import blake2b

    from logship.sinks.elasticsearch.encode import _id_of, _ids

    digests = [blake2b(b"%d" % n, digest_size=16).digest() for n in range(300)]
    digests += [b"\xff" * 16, b"\0" * 16, b"\xfb\xef\xbe" * 5 + b"\xfb"]  # every base64 character's edge
    assert _ids(digests) == [_id_of(digest) for digest in digests]
