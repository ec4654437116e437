"""The acknowledgement window alone: pure bookkeeping, no files, no event loop (issue 13.4)."""

from __future__ import annotations

from logship.buffer.cursor import Cursor, ReadChunk
from logship.buffer.segment import HEADER_SIZE

SIZE = 10  # every record here is 10 bytes: a frame is HEADER_SIZE + 10


def read(cursor: Cursor, count: int) -> ReadChunk:
    """What BufferReader does for ``count`` records of the cursor's segment: move the read position, issue."""
    start, start_index = (cursor.seq, cursor.offset), cursor.index
    cursor.offset += count * (HEADER_SIZE + SIZE)
    cursor.index += count
    return cursor.issue([b"r" * SIZE] * count, count * SIZE, start, start_index)


def position(cursor: Cursor) -> tuple[int, int, int]:
    return cursor.acked_seq, cursor.acked_offset, cursor.acked_index


def test_acknowledgements_in_any_order_advance_over_the_contiguous_prefix() -> None:
    cursor = Cursor()
    cursor.start_at(3, 0, 100)
    first, second, third = read(cursor, 2), read(cursor, 3), read(cursor, 1)
    assert (second.start, second.start_index) == (first.end, first.end_index)  # contiguous
    assert not cursor.ack(third)  # waits behind the others
    assert not cursor.ack(second)
    assert position(cursor) == (3, 0, 100)
    assert cursor.ack(first)  # the prefix is complete: all three at once
    assert position(cursor) == (3, 6 * (HEADER_SIZE + SIZE), 106)
    assert not cursor.inflight


def test_an_acknowledged_chunk_waiting_behind_an_older_one_keeps_no_records() -> None:
    cursor = Cursor()
    older, newer = read(cursor, 1), read(cursor, 5)
    cursor.ack(newer)
    assert newer.records == [] and len(older.records) == 1  # memory stays flat while the older is retried
    assert cursor.ack(older)
    assert cursor.acked_index == 6


def test_twice_empty_and_before_rewind_acknowledgements_do_nothing() -> None:
    cursor = Cursor()
    chunk = read(cursor, 2)
    assert cursor.ack(chunk)
    assert not cursor.ack(chunk)  # twice
    assert not cursor.ack(cursor.empty())  # an empty chunk (epoch 0 is never a cursor's)
    stale = read(cursor, 3)
    cursor.rewind()
    assert (cursor.index, cursor.offset) == (2, 2 * (HEADER_SIZE + SIZE))  # back to the acknowledged position
    assert not cursor.ack(stale)  # read before the rewind: read again instead
    assert cursor.acked_index == 2
    again = read(cursor, 3)
    assert (again.start_index, again.end_index) == (stale.start_index, stale.end_index)
    assert cursor.ack(again) and cursor.acked_index == 5


def test_epochs_are_unique_across_cursors() -> None:
    one, other = Cursor(), Cursor()
    chunk = read(one, 1)
    assert not other.ack(chunk)
    assert other.acked_index == 0


def test_frames_without_records_are_acknowledged_at_once_or_with_the_last_chunk_in_flight() -> None:
    cursor = Cursor()
    start, start_index = (cursor.seq, cursor.offset), cursor.index
    assert not cursor.advance_silently(start, start_index)  # nothing passed over: nothing moves
    cursor.offset, cursor.index = 2 * (HEADER_SIZE + SIZE), 2  # two bad records passed over
    assert cursor.advance_silently(start, start_index)  # nothing in flight: moves now
    assert position(cursor) == (0, 2 * (HEADER_SIZE + SIZE), 2)

    chunk = read(cursor, 1)
    start, start_index = (cursor.seq, cursor.offset), cursor.index
    cursor.offset += HEADER_SIZE + SIZE  # one more bad record
    cursor.index += 1
    assert not cursor.advance_silently(start, start_index)  # a chunk in flight: never ahead of its ack
    assert cursor.acked_index == 2
    assert cursor.ack(chunk)
    assert position(cursor) == (0, 4 * (HEADER_SIZE + SIZE), 4)


def test_entering_the_next_segment_then_acknowledging_moves_the_position_there() -> None:
    cursor = Cursor()
    chunk = read(cursor, 4)
    cursor.enter(1, 4)  # the end of a sealed segment: BufferReader steps over the boundary before issuing
    chunk.end, chunk.end_index = (cursor.seq, cursor.offset), cursor.index
    assert cursor.ack(chunk)
    assert position(cursor) == (1, 0, 4)


def test_skip_to_after_a_drop_forgets_what_is_gone() -> None:
    cursor = Cursor()
    gone = read(cursor, 3)
    cursor.enter(1, 3)  # segment 0 holds records 0-2
    kept = read(cursor, 3)
    assert not cursor.skip_to(1, 3)  # segment 0 (records 0-2) dropped; the read position is past it
    assert position(cursor) == (1, 0, 3)
    assert list(cursor.inflight) == [kept]
    assert not cursor.ack(gone)  # a late ack of dropped records is harmless
    assert cursor.ack(kept) and cursor.acked_index == 6

    behind = Cursor()
    read(behind, 1)
    assert behind.skip_to(2, 10)  # the read position is behind the drop: the reader enters segment 2
    assert position(behind) == (2, 0, 10) and not behind.inflight


def test_give_up_to_moves_the_acknowledged_position_by_the_acknowledgement_path() -> None:
    cursor = Cursor()
    cursor.start_at(0, HEADER_SIZE + SIZE, 1)
    in_flight = read(cursor, 2)
    given_up = cursor.give_up_to(2, 20)
    assert (given_up.start_index, given_up.end_index) == (1, 20)
    assert (cursor.seq, cursor.offset, cursor.index) == (2, 0, 20)
    assert not cursor.ack(in_flight)  # forgotten as by rewind
    assert cursor.ack(given_up)
    assert position(cursor) == (2, 0, 20)
