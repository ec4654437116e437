"""The OTLP sink's hand-written protobuf equals what opentelemetry-proto's classes serialise (issue 15.1)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from logship.record import Reader
from logship.sinks.base import Batch
from logship.sinks.otlp.encode import _whole_batch, export_request
from logship.sinks.otlp.protobuf import any_value, key_values
from tests.sinks.otlp_reference import reference_request, set_value
from tests.sinks.records import (
    METADATA,
    host_records,
    one_container,
    parsed,
    parsed_batch,
    records,
    runs_of_lines,
    sample_batch,
)

VALUES: list[Any] = ["", "text", "é 日本 \U0001F600", True, False, 0, 1, -1, 2**63 - 1, -(2**63), 0.0, -2.5, 1e300,
                     [], [None], ["a", 1, 2.5, True, None, ["nested", []], {"k": "v"}], {"an": "object"}]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_any_value_and_key_value_equal_the_message_classes(value: Any) -> None:
    message = AnyValue()
    set_value(message, value)
    assert any_value(value) == message.SerializeToString()
    pair = KeyValue(key="k")
    set_value(pair.value, value)
    assert key_values(b"\x0a", (("k", value),)) == b"\x0a" + bytes([pair.ByteSize()]) + pair.SerializeToString()


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1])
def test_an_int_out_of_int64_raises_as_the_classes_do(value: int) -> None:
    with pytest.raises(ValueError):
        set_value(AnyValue(), value)
    with pytest.raises(ValueError):
        any_value(value)


def _mixed() -> list[bytes]:
    """Every kind of record but one without a time (it gets "now", which differs between two encodings)."""
    other = {**METADATA, "container": {**METADATA["container"], "id": "other"}, "env": "prod"}
    plain = records([("stdout", f"2026-11-25T16:32:42.{n:09d}Z", f'line {n} "q" \\ é\n') for n in range(1, 6)])
    plain += records([("stderr", "2026-11-25T16:32:43.000000001Z", "\n")], other)
    cut = records([("stdout", "2026-11-25T16:32:45.000000001Z", "x" * 40 + "\n")])
    return [plain[0], parsed(plain[1], level="error"), parsed(plain[2], level="info", attributes={"a": {"b": [1]}}),
            parsed(plain[3], lines=2), plain[4], plain[5], *parsed_batch().records, *cut, plain[0],
            cut[0].replace(b',"stream"', b',"partial":{"ordinal":1,"last":false},"stream"'),
            b'{"timestamp":"2026-11-25T16:32:44.000000001Z","stream":"stdout","message":"whole","n":[1,2]}',
            b'{"timestamp":"2026-11-25T16:32:46Z","stream":"stdout","message":7}']


@pytest.mark.parametrize("observed", [0, 1_764_000_000_123_456_789])
@pytest.mark.parametrize("recs", [
    pytest.param(lambda: sample_batch().records, id="sample"),
    pytest.param(lambda: parsed_batch().records, id="parsed"),
    pytest.param(_mixed, id="mixed"),
    pytest.param(one_container, id="one-container"),
    pytest.param(lambda: [*one_container(), *parsed_batch().records], id="one-container-and-parsed"),
    pytest.param(lambda: records([("stdout", "2026-11-25T16:32:42.000000001Z", "x" * 20000 + "\n")]),
                 id="a-16-KiB-line"),
])
def test_the_request_equals_the_message_classes_byte_for_byte(recs, observed: int) -> None:
    batch = Batch(recs(), 0)
    assert export_request(batch, observed) == reference_request(batch, observed)


def test_one_containers_batch_is_written_at_once_as_record_by_record() -> None:
    """A batch of one container's plain records takes the whole-batch way (``_whole_batch``) with the bytes
    of the loop; a batch with a timestamp not Docker's is declined, for the loop."""
    recs = one_container()
    observed_pb = b"\x59" + (1_764_000_000_123_456_789).to_bytes(8, "little")
    whole = _whole_batch(Reader().columns(recs), observed_pb)
    assert whole is not None and whole == reference_request(Batch(recs, 0), 1_764_000_000_123_456_789)
    unlike_docker = [recs[0].replace(b'.000000005Z"', b'.00000000aZ"'), *recs[1:]]
    assert _whole_batch(Reader().columns(unlike_docker), observed_pb) is None


@pytest.mark.parametrize(("replicas", "run"), [(3, 40), (4, 33), (16, 40)])
def test_a_hosts_batch_in_long_runs_is_written_at_once_as_the_message_classes_write_it(replicas: int,
                                                                                       run: int) -> None:
    """A host's batch of plain records as its buffer holds it (each container's reads in runs, a run of
    stderr among them, equal times across containers) takes the whole-batch way: a ResourceLogs per
    container in the order of their first records, each one's log records in batch order, byte for byte
    what opentelemetry-proto's classes give."""
    lines = runs_of_lines(run)
    recs = host_records(lines, replicas, run)
    assert len(recs) == replicas * len(lines)
    columns = Reader().columns(recs, runs=True)
    assert columns is not None
    observed = 1_764_000_000_123_456_789
    expected = reference_request(Batch(recs, 0), observed)
    assert _whole_batch(columns, b"\x59" + observed.to_bytes(8, "little")) == expected
    assert export_request(Batch(recs, 0), observed) == expected
