"""Records as the collector builds them, with every metadata field, for the sink tests."""

from __future__ import annotations

from typing import Any

import orjson

from logship.collect.enrich import container_fields
from logship.collect.lines import LineAssembler
from logship.sinks.base import Batch

CONTAINER_ID = "6ca5" + "0" * 56 + "beef"
INSPECT: dict[str, Any] = {
    "Id": CONTAINER_ID,
    "Name": "/shop_web.1.atuvfibd6g47",
    "Config": {"Image": "nginx:1.27", "Labels": {
        "team": "shop", "com.docker.stack.namespace": "shop",
        "com.docker.swarm.service.id": "hot4rfp8id5g", "com.docker.swarm.service.name": "shop_web",
        "com.docker.swarm.task.id": "atuvfibd6g47", "com.docker.swarm.task.name": "shop_web.1.atuvfibd6g47",
        "com.docker.swarm.node.id": "zacqlko8qhngr3lo9tjnswjdz",
        "com.docker.compose.project": "shop", "com.docker.compose.service": "web"}},
}
NODE = {"name": "node-3", "id": "zacqlko8qhngr3lo9tjnswjdz"}
SERVICE_LABELS = {"tier": "front"}
METADATA = container_fields(INSPECT, NODE, SERVICE_LABELS)


def frame(stream: int, timestamp: str, message: str | bytes) -> tuple[int, bytes]:
    payload = message.encode() if isinstance(message, str) else message
    return stream, timestamp.encode() + b" " + payload


def records(lines: list[tuple[str, str, str]], metadata: dict[str, Any] | None = None) -> list[bytes]:
    """NDJSON records built by the real assembler from (stream, timestamp, message) triples.

    ``message`` should end with "\\n" like a logged line; timestamps are Docker's (9 digits, Z).
    """
    assembler = LineAssembler(metadata or METADATA, {}, 1 << 20)
    streams = {"stdout": 1, "stderr": 2}
    return assembler.feed([frame(streams[s], t, m) for s, t, m in lines])


def replica_metadata(replica: int) -> dict[str, Any]:
    """The metadata of another replica of the sample service: another container id and name."""
    container = {**METADATA["container"], "id": f"{replica:04x}" + CONTAINER_ID[4:],
                 "name": f"shop_web.{replica}.atuvfibd6g47"}
    return {**METADATA, "container": container}


def host_records(lines: list[tuple[str, str, str]], replicas: int, run: int) -> list[bytes]:
    """``records(lines)`` of each of ``replicas`` containers (``replica_metadata``), in runs of ``run``
    records, interleaved as a host's buffer holds the reads of its containers."""
    of_replica = [records(lines, replica_metadata(replica)) for replica in range(replicas)]
    return [record for start in range(0, len(lines), run) for replica_records in of_replica
            for record in replica_records[start:start + run]]


# Nanoseconds whose varint takes each length from one byte to five, and the edges between them.
NANOS = (0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455, 268435456, 999999999)


def runs_of_lines(run: int, runs: int = 5) -> list[tuple[str, str, str]]:
    """``runs`` runs of ``run`` lines for ``host_records``: every third run on stderr, four lines a second
    with nanoseconds of every varint length (``NANOS``) in time order, as Docker's are, some messages
    with an escaped quote and non-ASCII."""
    return [("stderr" if n // run % 3 == 2 else "stdout",
             f"2026-11-25T16:{32 + n // 100:02d}:{n // 4 % 60:02d}.{NANOS[n % 4 * 3 + n // 4 % 2]:09d}Z",
             f'line {n} "q" é\n' if n % 5 else f"line {n}\n") for n in range(runs * run)]


def one_container() -> list[bytes]:
    """One container's plain records of both streams in time order (``Reader.columns`` takes such a batch
    whole): several seconds, a nanoseconds varint of every length, equal times, and escaped, non-ASCII,
    empty and long messages."""
    messages = ['GET /a "q" 200', "é 日本 \U0001F600", "", "tab\there \\ back", "x" * 300]
    lines = [("stderr" if n % 3 == 1 else "stdout", f"2026-11-25T16:32:{40 + n // 4:02d}.{nano:09d}Z",
              messages[n % len(messages)] + "\n")
             for n, nano in enumerate(sorted(NANOS * 2))]
    lines.insert(5, lines[4])  # the same time twice
    return records([("stdout", "1970-01-01T00:00:00.000000005Z", "at 1970\n"), *lines])


def sample_batch() -> Batch:
    """Three records: plain, multi-line with non-ASCII and quotes, stderr."""
    recs = records([
        ("stdout", "2026-11-25T16:32:42.123456789Z", "GET /health 200\n"),
        ("stdout", "2026-11-25T16:32:42.123456790Z", 'multi\nline "quoted" \\ ] é 日本 \U0001F600\n'),
        ("stderr", "2026-11-25T16:32:43.000000001Z", "error: boom\n"),
    ])
    return Batch(recs, sum(map(len, recs)))


def decoded(batch: Batch) -> list[dict[str, Any]]:
    return [orjson.loads(r) for r in batch.records]


# --- records with the fields parsing adds (RECORD.md), built by hand until the parser lands ----------

LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")


def _renamed_stream_keys(node: Any) -> Any:
    """RECORD.md's split invariant on the writing side: a key ``stream`` that is not first in its object
    (at any depth) is renamed ``_stream``, so ``,"stream":"`` cannot occur inside the attributes."""
    if not isinstance(node, dict):
        return node
    return {("_stream" if key == "stream" and index else key): _renamed_stream_keys(value)
            for index, (key, value) in enumerate(node.items())}


def parsed(record: bytes, level: str | None = None, lines: int | None = None,
           attributes: dict[str, Any] | None = None) -> bytes:
    """``record`` (as the collector makes it) with the per-line fields parsing adds, exactly as RECORD.md
    lays them out: ``,"log":{"level":…[,"lines":N]}`` then ``,"attributes":{…}``, each only when it
    applies, spliced right before ``,"stream":"``."""
    assert level is None or level in LEVELS, level
    assert lines is None or lines >= 2, lines
    assert attributes is None or attributes, "attributes are never empty"
    log: dict[str, Any] = {}
    if level is not None:
        log["level"] = level
    if lines is not None:
        log["lines"] = lines
    extra = b',"log":' + orjson.dumps(log) if log else b""
    if attributes is not None:
        extra += b',"attributes":' + orjson.dumps(_renamed_stream_keys(attributes))
    cut = record.index(b',"stream":"')
    return record[:cut] + extra + record[cut:]


def parsed_batch() -> Batch:
    """Four parsed records of the sample container: a JSON line with a level and attributes, a plain
    line with a level, a joined Python traceback on stderr, and a logfmt line with attributes only."""
    recs = records([
        ("stdout", "2026-11-25T16:32:42.123456789Z", "db down\n"),
        ("stdout", "2026-11-25T16:32:42.123456790Z", "WARN cache cold\n"),
        ("stderr", "2026-11-25T16:32:43.000000001Z",
         'Traceback (most recent call last):\n  File "app.py", line 3, in <module>\nValueError: boom\n'),
        ("stdout", "2026-11-25T16:32:44.000000001Z", "checkout done\n"),
    ])
    out = [
        parsed(recs[0], level="error", attributes={"user": 42, "db": {"host": "pg-1", "ok": False},
                                                   "tags": ["a", "b"], "stream": "kafka"}),
        parsed(recs[1], level="warn"),
        parsed(recs[2], level="error", lines=3),
        parsed(recs[3], attributes={"order": "A-17", "amount": 12.5}),
    ]
    return Batch(out, sum(map(len, out)))
