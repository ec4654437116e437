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
