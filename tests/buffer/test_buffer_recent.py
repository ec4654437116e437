"""Readers that keep up take records from memory; one that falls behind reads the file; the same records either way."""

from __future__ import annotations

import random

from logship.buffer import disk_buffer
from tests.buffer.buffer_helpers import Opener, record


async def test_caught_up_and_lagging_readers_see_every_record_once_in_order(open_buffer: Opener,
                                                                            monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(disk_buffer, "RECENT_BYTES", 64 * 1024)  # a small memory tail: both paths are taken
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
