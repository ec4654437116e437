"""Micro-benchmark of the disk buffer's hot paths (stdlib + logship only).

Appends RECORDS records of RECORD_BYTES bytes in groups of GROUP, then reads them all back through one
reader, acknowledging every chunk, and prints the wall-clock cost per record of each phase.

    python bench/buffer_micro.py [--records N] [--size BYTES] [--group N] [--fsync interval|always]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from logship.buffer import DiskBuffer
from logship.config import BufferConfig
from logship.metrics import Metrics


def make_groups(records: int, size: int, group: int) -> list[list[bytes]]:
    """Distinct records (so that nothing is accidentally shared), prepared before timing."""
    template = b'{"timestamp":"2026-11-25T16:32:42.123456789Z","message":"%08d '
    groups = []
    for start in range(0, records, group):
        batch = []
        for i in range(start, min(start + group, records)):
            head = template % i
            batch.append(head + b"x" * (size - len(head) - 2) + b'"}')
        groups.append(batch)
    return groups


async def run(records: int, size: int, group: int, fsync: str, read_records: int) -> None:
    groups = make_groups(records, size, group)
    with tempfile.TemporaryDirectory(prefix="logship-bench-") as tmp:
        config = BufferConfig(directory=Path(tmp) / "buffer", max_bytes=4 * 1024**3, when_full="block",
                              segment_bytes=32 * 1024**2, fsync=fsync, fsync_interval=1.0)
        buffer = DiskBuffer(config, ["bench"], Metrics())
        await buffer.open()
        gc.collect()

        started = time.perf_counter()
        for batch in groups:
            await buffer.append(batch)
        append_seconds = time.perf_counter() - started

        reader = buffer.reader("bench")
        got = 0
        started = time.perf_counter()
        while True:
            chunk = reader.read(read_records, 4 * 1024**2)
            if not chunk.records:
                break
            got += len(chunk.records)
            reader.ack(chunk)
        read_seconds = time.perf_counter() - started
        assert got == records, (got, records)
        stats = buffer.stats()
        await buffer.close()

    mib = records * size / 1024**2
    print(f"records: {records} x {size} B in groups of {group} ({mib:.0f} MiB), fsync={fsync}, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(f"append: {append_seconds * 1e6 / records:.3f} us/record  ({append_seconds:.2f} s, "
          f"{mib / append_seconds:.0f} MiB/s)")
    print(f"read+ack ({read_records} per chunk): {read_seconds * 1e6 / records:.3f} us/record  "
          f"({read_seconds:.2f} s, {mib / read_seconds:.0f} MiB/s)")
    print(f"after: {stats}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--group", type=int, default=500)
    parser.add_argument("--read-records", type=int, default=1000)
    parser.add_argument("--fsync", choices=("interval", "always"), default="interval")
    args = parser.parse_args()
    asyncio.run(run(args.records, args.size, args.group, args.fsync, args.read_records))


if __name__ == "__main__":
    main()
