"""Helpers shared by the shipper tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import orjson

from logship.config import RetryConfig, TlsConfig
from logship.sinks.http.sink import HttpSink
from logship.sinks.http.spec import HttpSinkConfig
from tests.fakes.http_receiver import HttpReceiver

FAST_RETRY = RetryConfig(initial=0.01, maximum=0.05)


def record(i: int, pad: int = 0) -> bytes:
    """A record as logship.collect builds them (enough fields to look real), ``pad`` bytes longer."""
    return orjson.dumps({"timestamp": f"2026-11-25T16:32:{i % 60:02d}Z", "message": f"line {i}" + "x" * pad})


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` holds; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def http_sink(receiver: HttpReceiver, compression: str = "gzip") -> AsyncIterator[HttpSink]:
    """A started HttpSink pointed at ``receiver`` (retrying 429 and 5xx but 501)."""
    sink = HttpSink(HttpSinkConfig(
        url=receiver.url, compression=compression, headers=(), bearer_token=None, username=None,
        password=None, concurrency=2, timeout=5.0, retry_status=frozenset({429, 500, 502, 503, 504}),
        tls=TlsConfig()))
    await sink.start()
    try:
        yield sink
    finally:
        await sink.aclose()
