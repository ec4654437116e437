"""logship.timestamps: the bytes reader of the sinks' fast path agrees with the text parser (issue 15.1)."""

from __future__ import annotations

import pytest

from logship.timestamps import docker_ns, record_time_ns, split_docker, split_seconds


@pytest.mark.parametrize("stamp", [
    "2026-11-25T16:32:42.123456789Z",
    "2026-11-25T16:32:42.000000000Z",
    "1970-01-01T00:00:00.000000001Z",
    "2026-11-25T16:32:42Z",
    "2026-11-25T16:32:42.5+01:00",
    "2026-11-25 16:32:42,25Z",
])
def test_docker_bytes_read_as_the_text_parser_reads_them(stamp: str) -> None:
    for _ in range(2):  # the second time from the cache of seconds
        assert split_docker(stamp.encode()) == split_seconds(stamp)
        assert docker_ns(stamp.encode()) == record_time_ns(stamp)


@pytest.mark.parametrize("stamp", [b"2026-02-30T16:32:42.123456789Z", b"soon", b"2026-11-25T16:32:42.12345678xZ"])
def test_unreadable_bytes_are_now_and_never_cached(stamp: bytes) -> None:
    import time

    before = time.time_ns()
    for _ in range(2):
        assert before <= docker_ns(stamp) <= time.time_ns()


@pytest.mark.parametrize(("stamp", "seconds"), [
    (b"2026-11-25T16:32:42.123456789Z", 1795624362),
    (b"1970-01-01T00:00:00.000000000Z", 0),
    (b"2026-02-30T16:32:42.123456789Z", None),  # no such day
    (b"2026-11-25T16:32:42Z", None),  # not Docker's form
    (b"2026-11-25T16:32:42.12345678xZ", None),
    (b"2026-11-25T16:32:42.123456789+", None),
])
def test_docker_second_vouches_only_for_real_times_in_dockers_form(stamp: bytes, seconds: int | None) -> None:
    from logship.timestamps import docker_second

    assert docker_second(stamp) == seconds
