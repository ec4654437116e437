"""The ClickHouse insert body's one pass (issue 15.1): each line, plain or not, is the row its schema's
builder makes of the whole record, whichever way the record was read."""

from __future__ import annotations

import orjson
import pytest

from logship.record import decode
from logship.sinks.base import Batch
from logship.sinks.clickhouse.encode import ROW_BUILDERS, encode
from tests.sinks.records import METADATA, parsed, parsed_batch, records, sample_batch


def _mixed() -> list[bytes]:
    other = {**METADATA, "container": {**METADATA["container"], "id": "other"}}
    plain = records([("stdout", f"2026-11-25T16:32:42.{n:09d}Z", f'line {n} "q" \\ é 日本\n') for n in range(6)])
    plain += records([("stderr", "2026-11-25T16:32:43.000000001Z", "\n")], other)
    return [*plain, parsed(plain[1], level="error"), parsed(plain[2], attributes={"a": 1}), *sample_batch().records,
            *parsed_batch().records, plain[0].replace(b',"stream"', b',"partial":{"ordinal":2,"last":true},"stream"'),
            b'{"timestamp":"2026-11-25T16:32:44.000000001Z","stream":"stdout","message":"whole"}']


@pytest.mark.parametrize("schema", sorted(ROW_BUILDERS))
def test_every_line_is_the_row_of_its_record(schema: str) -> None:
    recs = _mixed()
    lines = encode(Batch(recs, 0), schema).split(b"\n")
    assert lines[-1] == b"" and len(lines) == len(recs) + 1
    for record, line in zip(recs, lines, strict=False):
        assert orjson.loads(line) == orjson.loads(orjson.dumps(ROW_BUILDERS[schema](decode(record)[0]))), line
