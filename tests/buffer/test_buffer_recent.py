"""Readers that keep up take records from memory; one that falls behind reads the file; the same records either way."""

from __future__ import annotations

import asyncio
import random
import time

from logship.buffer import flow
from tests.buffer.buffer_helpers import Opener, record


async def test_caught_up_and_lagging_readers_see_every_record_once_in_order(open_buffer: Opener,
                                                                            monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(flow, "RECENT_BYTES", 64 * 1024)  # a small memory tail: both paths are taken
    monkeypatch.setattr(flow, "CATCH_UP_WAIT_SECONDS", 0.001)  # the slow reader reads between appends only
    buffer = await open_buffer(sinks=("fast", "slow"), max_bytes=64 * 1024 * 1024, segment_bytes=256 * 1024)
    fast, slow = buffer.reader("fast"), buffer.reader("slow")
    rng = random.Random(7)
    written: list[bytes] = []
    seen: dict[str, list[bytes]] = {"fast": [], "slow": []}
    for round_ in range(400):
        group = [record(len(written) + i, size=rng.randint(20, 900)) for i in range(rng.randint(1, 30))]
        written.extend(group)
        await buffer.append(group)
        # The fast reader reads after every append (memory); the slow one every 40 appends, with odd limits
        # that stop it inside a group (then the file).
        for reader, every in ((fast, 1), (slow, 40)):
            if round_ % every == 0:
                while True:
                    chunk = reader.read(rng.randint(1, 50), rng.randint(100, 20_000))
                    if not chunk.records:
                        break
                    seen[reader.sink].extend(chunk.records)
                    reader.ack(chunk)
    for reader in (fast, slow):
        while chunk := reader.read(1000, 1 << 20):
            if not chunk.records:
                break
            seen[reader.sink].extend(chunk.records)
            reader.ack(chunk)
    assert seen["fast"] == written
    assert seen["slow"] == written
    assert buffer.stats()["records_pending"] == {"fast": 0, "slow": 0}


async def test_a_reader_stopped_inside_an_append_by_its_limits_stays_in_memory(open_buffer: Opener) -> None:
    """Batch limits rarely fall on append boundaries: the next read resumes inside the group, from memory."""
    buffer = await open_buffer(sinks=("only",), max_bytes=64 * 1024 * 1024, segment_bytes=1024 * 1024)
    reader = buffer.reader("only")
    written: list[bytes] = []
    seen: list[bytes] = []
    for round_ in range(60):
        group = [record(len(written) + i, size=100 + round_) for i in range(37)]
        written.extend(group)
        await buffer.append(group)
        # 10 records or ~2,000 bytes a read: every read but a few stops inside a group.
        while (chunk := reader.read(10, 2_000)).records:
            seen.extend(chunk.records)
            reader.ack(chunk)
    assert seen == written
    assert reader._frames.file is None, "the segment file was read back although every record was in memory"


async def test_the_memory_tail_stays_small_while_a_sink_is_not_reading(open_buffer: Opener, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A sink that is down stops reading: the appends it has not read are not all kept in memory."""
    monkeypatch.setattr(flow, "RECENT_IDLE_SECONDS", 0.0)  # "not reading" from the first append on
    buffer = await open_buffer(sinks=("down",), max_bytes=256 * 1024 * 1024, segment_bytes=8 * 1024 * 1024)
    reader = buffer.reader("down")
    written: list[bytes] = []
    for _ in range(400):  # ~20 MiB, none of it read
        group = [record(len(written) + i, size=500) for i in range(100)]
        written.extend(group)
        await buffer.append(group)
    group_bytes = 100 * (500 + 8)
    assert buffer._tail.bytes <= flow.RECENT_IDLE_BYTES + group_bytes
    # The sink comes back: everything is read, from the file and then from memory, once and in order.
    seen: list[bytes] = []
    while (chunk := reader.read(2000, 4 << 20)).records:
        seen.extend(chunk.records)
        reader.ack(chunk)
    assert seen == written


async def test_appends_wait_a_little_for_a_reading_sink_that_falls_behind(open_buffer: Opener, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Flow control: a reader that reads but lags half the memory tail holds appends back until it reads
    (so it keeps reading from memory); a sink that is not reading holds nothing back."""
    monkeypatch.setattr(flow, "RECENT_BYTES", 256 * 1024)
    monkeypatch.setattr(flow, "CATCH_UP_WAIT_SECONDS", 5.0)  # long: a wait that times out fails the test
    buffer = await open_buffer(sinks=("busy",), max_bytes=64 * 1024 * 1024, segment_bytes=4 * 1024 * 1024)
    reader = buffer.reader("busy")
    groups = [[record(g * 10 + i, size=2000) for i in range(10)] for g in range(20)]  # 20 x ~20 KiB
    await buffer.append(groups[0])
    seen = list(reader.read(1000, 1 << 20).records)  # the sink has read: it is "reading" now
    for group in groups[1:8]:  # the 7th leaves it ~140 KiB behind: past half the tail
        await asyncio.wait_for(buffer.append(group), 1.0)
    # The next append waits for the reader, before writing anything: cancelled there, it wrote nothing.
    cancelled = asyncio.create_task(buffer.append([b"never written"]))
    await asyncio.sleep(0.2)
    assert not cancelled.done()
    cancelled.cancel()
    blocked = asyncio.create_task(buffer.append(groups[8]))
    await asyncio.sleep(0.2)
    assert not blocked.done()
    seen += reader.read(25, 1 << 20).records  # one read (not even all of it) lets the append go on
    await asyncio.wait_for(blocked, 1.0)
    while (chunk := reader.read(1000, 1 << 20)).records:
        seen += chunk.records
    assert seen == [r for group in groups[:9] for r in group]
    assert reader._frames.file is None  # all of it from memory

    # The same sink stops reading (down): once it has been idle a while, appends no longer wait.
    monkeypatch.setattr(flow, "RECENT_IDLE_SECONDS", 0.05)
    await asyncio.sleep(0.1)
    started = time.monotonic()
    for group in groups[9:]:
        await buffer.append(group)
    assert time.monotonic() - started < 1.0


async def test_the_memory_tail_stays_small_while_a_sink_catches_up_from_the_file(open_buffer: Opener,
                                                                                monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """After an outage the sink reads the file far behind the tail: the tail is not filled for it, and
    the tailers are not held back (the disk buffer is where that backlog belongs)."""
    monkeypatch.setattr(flow, "CATCH_UP_WAIT_SECONDS", 5.0)  # a wait would time the test out
    buffer = await open_buffer(sinks=("back",), max_bytes=256 * 1024 * 1024, segment_bytes=8 * 1024 * 1024)
    reader = buffer.reader("back")
    written: list[bytes] = []
    seen: list[bytes] = []

    async def append_groups(count: int) -> None:
        for _ in range(count):
            group = [record(len(written) + i, size=500) for i in range(100)]
            written.extend(group)
            await buffer.append(group)

    await append_groups(800)  # ~40 MB the sink has not read (it was down)
    for _ in range(100):  # it is back: it reads (from the file) while the tailers go on appending
        chunk = reader.read(500, 1 << 20)
        seen.extend(chunk.records)
        reader.ack(chunk)
        await asyncio.wait_for(append_groups(1), 1.0)
        assert buffer._tail.bytes <= flow.RECENT_IDLE_BYTES + 100 * (500 + 8)
    while (chunk := reader.read(5000, 8 << 20)).records:
        seen.extend(chunk.records)
        reader.ack(chunk)
    assert seen == written


async def test_a_failing_sink_gets_a_small_memory_tail_at_once(open_buffer: Opener) -> None:
    """The shipper flags its reader while the store fails: the tail shrinks from the next append on,
    without waiting for the reader to look idle (fast writers would fill 8 MiB in that time)."""
    buffer = await open_buffer(sinks=("down",), max_bytes=256 * 1024 * 1024, segment_bytes=8 * 1024 * 1024)
    reader = buffer.reader("down")
    await buffer.append([record(0, size=500)])
    assert reader.read(10, 1 << 20).records  # it has just read: "reading"
    reader.store_failed()  # its first request failed
    for group_number in range(100):  # ~5 MB
        await asyncio.wait_for(buffer.append([record(group_number * 100 + i, size=500) for i in range(100)]), 1.0)
    assert buffer._tail.bytes <= flow.RECENT_IDLE_BYTES + 100 * (500 + 8)


async def test_a_waiting_reader_wakes_when_enough_was_appended_not_at_every_append(open_buffer: Opener) -> None:
    """A batcher waiting to fill a batch asks for N records or B bytes: smaller appends leave it asleep."""
    buffer = await open_buffer(sinks=("only",), max_bytes=64 * 1024 * 1024, segment_bytes=1024 * 1024)
    reader = buffer.reader("only")
    waiter = asyncio.create_task(reader.wait(5.0, records=100, nbytes=1 << 20))
    await asyncio.sleep(0)  # it waits (nothing is unread)
    for start in range(0, 90, 10):
        await buffer.append([record(start + i) for i in range(10)])
        await asyncio.sleep(0.01)
        assert not waiter.done(), f"woken after {start + 10} records"
    await buffer.append([record(90 + i) for i in range(10)])
    assert await asyncio.wait_for(waiter, 1.0) is True
    assert reader.unread == 100
    # By bytes: 3 records of 600 bytes pass 1,500 bytes (framing included) long before 100 records.
    reader.ack(reader.read(1000, 1 << 20))
    waiter = asyncio.create_task(reader.wait(5.0, records=100, nbytes=1_500))
    await asyncio.sleep(0)
    await buffer.append([record(100, size=600), record(101, size=600)])
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await buffer.append([record(102, size=600)])
    assert await asyncio.wait_for(waiter, 1.0) is True
    # Nothing appended: the timeout, and False.
    reader.ack(reader.read(1000, 1 << 20))
    assert await reader.wait(0.05, records=10) is False
