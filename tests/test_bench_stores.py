"""``bench.stores.found``: the stores' fakes find the bench's lines in a body, whatever the encoding, and
find exactly what the regular expression finds (its fast way is a literal search; the expression is the
definition)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bench import stores
from bench.workload import message

# Pieces a body is made of: whole bench lines, their parts and lookalikes, and bytes of every encoding.
_PIECES = st.one_of(
    st.builds(lambda index, number: message(index, number).encode(), st.integers(0, 9999), st.integers(0, 10**9 - 1)),
    st.just(stores._PAD16),
    st.just(b"12"),
    st.just(b'","message":"'),
    st.binary(max_size=24),
    st.text(alphabet='0123456789 x\n"', max_size=30).map(str.encode),
)


@given(st.lists(_PIECES, max_size=10), st.integers(0, 20))
def test_found_is_what_the_expression_finds(pieces: list[bytes], cut: int) -> None:
    data = b"".join(pieces)[cut:]  # a stream's read can start anywhere in a line
    numbers = stores.LINE.findall(data)
    kept, count, end = stores.found(data)
    assert count == len(numbers)
    assert kept.count(b'"message":"') == count
    assert [record.split(b'"message":"')[1][:-2] for record in kept.splitlines()] == numbers
    if numbers:
        tail = numbers[-1] + stores._PAD16
        assert end == data.rfind(tail) + len(tail)


def test_every_line_of_a_json_body_is_found() -> None:
    lines = [message(index, number) for index in range(4) for number in range(500)]
    body = b"\n".join(b'{"create":{"_index":"logs","_id":"a1b2"}}\n{"@timestamp":"2026-11-25T16:32:42.000000001Z",'
                      b'"container":{"id":"0123456789abcdef"},"message":"%s"}' % line.encode() for line in lines)
    kept, count, _ = stores.found(body)
    assert count == len(lines)
    assert kept.splitlines()[-1].endswith(b'"message":"0003 000000499"}')
