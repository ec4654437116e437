"""Windows: how much of its log a tailer asks for next (``logship.collect.window``)."""

from __future__ import annotations

from logship.collect.window import FIRST, GROWTH, WIDEST, Windows


def test_reads_start_with_the_first_window_and_widen_after_each_miss_up_to_the_whole_log() -> None:
    windows = Windows()
    widths = []
    for _ in range(6):
        tail = windows.next(follow=False)
        widths.append(tail)
        if tail is not None:
            windows.missed(follow=False, tail=tail)
    assert widths == [FIRST, FIRST * GROWTH, FIRST * GROWTH**2, WIDEST, None, None]
    windows.read_to_the_end()  # a read that reached the end: the next one starts small again
    assert windows.next(follow=False) == FIRST


def test_a_follow_stream_that_missed_makes_the_next_one_read_without_a_window_once() -> None:
    windows = Windows(5)
    assert windows.next(follow=True) == 5
    windows.missed(follow=True, tail=5)
    assert windows.next(follow=False) == 5  # the catch-up it makes starts small
    assert windows.next(follow=True) is None
    assert windows.next(follow=True) == 5  # only once: a later follow stream (after a stop) tries again
