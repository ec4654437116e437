"""Property tests (hypothesis) of the joiner through the real LineAssembler: for any interleaving of stack
traces, ordinary lines and long lines (split by dockerd at 16 KiB) on stdout and stderr, fed in any chunks,
with store failures, restarts from the checkpoint and timeouts anywhere, what is stored re-splits into
exactly the lines written, each once, in order; without timeouts every event is one record, exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logship.collect.checkpoint import BufferedPositions, CheckpointStore
from logship.collect.frames import STDERR, STDOUT, MuxDecoder
from tests.parse.helpers import META, STREAMS, assembler, events, frames, ordinary, split_back

EVENTS = events()
ORDINARY = ordinary()
LONG_TRACE = ["Traceback (most recent call last):", '  File "/app/x.py", line 3, in <module>',
              "ValueError: " + "v" * 40_000]

item = st.one_of(
    st.sampled_from(EVENTS),
    st.sampled_from(ORDINARY).map(lambda line: [line]),
    st.integers(16_000, 50_000).map(lambda n: [("long " * (n // 5 + 1))[:n]]),
    st.just(LONG_TRACE),
)
# What happens after a chunk: its records are stored (and the checkpoint file saved, or not yet), or not
# stored (the append failed); logship is killed and restarts from the later of its checkpoint file and the
# buffer's last records (CheckpointStore.catch_up, as the agent does at start); or held events time out.
ACTIONS = ("store", "store", "save", "fail", "restart", "timeout")
CONTAINER = META["container"]["id"]


def written(items: list[tuple[int, list[str]]]) -> list[tuple[int, str]]:
    return [(sid, line) for sid, block in items for line in block]


def store_everything(body: bytes, cuts: list[int], actions: list[str]) -> tuple[list[bytes], bool]:
    """Feed ``body`` in chunks ending at ``cuts``, as the tailer does; returns what was stored and whether
    any timeout fired."""
    target = assembler()
    decoder = MuxDecoder()
    stored: list[bytes] = []
    checkpoints = CheckpointStore(Path("/nonexistent/checkpoints.json"))  # in memory: never loaded nor written
    saved: dict[str, Any] = {}
    timed_out = False
    start = 0
    for cut, action in zip([*cuts, len(body)], actions, strict=False):
        before = target.state()
        records = decoder.feed_records(body[start:cut], target)
        start = cut
        if action == "fail":  # not stored: the tailer restores and reads again from the last stored position
            target.restore(before)
            target.resume_from_seen()  # as Tailer._prepare does before it opens the stream again
            decoder = MuxDecoder()
            start = 0
            continue
        stored += records
        if action == "save":
            saved = target.marks()
        elif action == "restart":  # kill -9: what was held is gone; a new process resumes
            checkpoints = CheckpointStore(Path("/nonexistent/checkpoints.json"))
            checkpoints.advance(CONTAINER, dict(saved))
            positions = BufferedPositions()
            for record in stored:
                positions.visit(record)
            checkpoints.catch_up(positions)
            target = assembler(marks=checkpoints.get(CONTAINER))
            decoder = MuxDecoder()
            start = 0
        elif action == "timeout":
            timed_out |= bool(target.deadline())
            stored += target.expire(float("inf"))
    if start < len(body):
        stored += decoder.feed_records(body[start:], target)
    stored += target.flush()
    return stored, timed_out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(items=st.lists(st.tuples(st.sampled_from((STDOUT, STDERR)), item), max_size=25),
       data=st.data())
def test_any_interleaving_re_splits_into_what_was_written(items: list[tuple[int, list[str]]], data: Any) -> None:
    lines = written(items)
    body = frames(lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, max(len(body) - 1, 0)), max_size=8), label="cuts"))
    actions = data.draw(st.lists(st.sampled_from(ACTIONS), min_size=len(cuts) + 1, max_size=len(cuts) + 1),
                        label="actions")
    stored, timed_out = store_everything(body, cuts, actions)
    records = [orjson.loads(record) for record in stored]
    for sid, name in STREAMS.items():
        expected = [block for s, block in items if s == sid]
        got = split_back(records, name)
        assert [line for block in got for line in block] == [line for block in expected for line in block]
        if not timed_out:
            assert got == expected
    for record in records:
        if (record.get("log") or {}).get("lines"):
            assert record["log"]["lines"] == record["message"].count("\n") + 1


@settings(max_examples=100, deadline=None)
@given(st.permutations(ORDINARY), st.integers(1, 4096))
def test_ordinary_lines_are_never_joined_in_any_order(lines: list[str], chunk: int) -> None:
    from tests.parse.helpers import run

    records = run([(STDOUT, line) for line in lines], chunk=chunk)
    assert [record["message"] for record in records] == lines
    assert not any("lines" in (record.get("log") or {}) for record in records)
