"""The flow-control policy alone: what the tail keeps and when appends wait, from the readers' activity (issue 13.4)."""

from __future__ import annotations

import time

from logship.buffer import flow
from logship.buffer.cursor import Cursor
from logship.buffer.flow import FlowControl

GROUP = 100  # records per append
RECORD = 1000  # framed bytes per record


def append(policy: FlowControl, index: int, oldest: int = 0) -> tuple[int, int]:
    return policy.after_append(index, GROUP, GROUP * RECORD, oldest)


def test_without_readers_the_tail_keeps_only_the_newest_append() -> None:
    policy = FlowControl()
    assert append(policy, 500) == (flow.RECENT_BYTES, 500)
    assert not policy.hold_back


def test_a_reading_sink_that_lags_past_half_the_tail_holds_appends_back_until_it_reads() -> None:
    policy = FlowControl()
    cursor = Cursor()
    sink = policy.track(cursor)
    policy.taken(sink)  # it has just read: "reading"
    lag_records = flow.RECENT_BYTES // 2 // RECORD  # the append below leaves it just past half the tail
    assert append(policy, lag_records) == (flow.RECENT_BYTES, 0)
    assert policy.hold_back
    policy.taken(sink)
    assert not policy.hold_back  # any read lets the next append go on
    assert append(policy, 0) == (flow.RECENT_BYTES, 0) and not policy.hold_back  # within half: no wait


def test_a_sink_far_behind_catches_up_from_the_file_without_holding_anything_back() -> None:
    policy = FlowControl()
    cursor = Cursor()
    policy.taken(policy.track(cursor))
    far = flow.CATCH_UP_LAG_BYTES // RECORD
    limit, slowest = append(policy, far, oldest=far)  # its position is older than the tail
    assert (limit, slowest) == (flow.RECENT_IDLE_BYTES, 0)
    assert not policy.hold_back


def test_a_sink_whose_store_fails_or_that_is_idle_gets_the_small_tail_and_holds_nothing_back() -> None:
    policy = FlowControl()
    cursor = Cursor()
    sink = policy.track(cursor)
    policy.taken(sink)
    sink.store_failing = True  # BufferReader.store_failed()
    assert append(policy, 5000) == (flow.RECENT_IDLE_BYTES, 0) and not policy.hold_back
    sink.store_failing = False
    sink.last_read = time.monotonic() - 2 * flow.RECENT_IDLE_SECONDS  # not read for a while
    assert append(policy, 5000) == (flow.RECENT_IDLE_BYTES, 0) and not policy.hold_back
    sink.waiting = True  # waiting for records is reading
    assert append(policy, 0) == (flow.RECENT_BYTES, 0)


def test_the_slowest_reader_decides() -> None:
    policy = FlowControl()
    fast, slow = Cursor(), Cursor()
    fast.index, slow.index = 900, 300
    for cursor in (fast, slow):
        policy.taken(policy.track(cursor))
    assert append(policy, 1000, oldest=200)[1] == 300
