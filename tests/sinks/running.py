"""A real sink in a test: started, sent to or health-checked, and closed again."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TypeVar

from logship.ship.outcome import Outcome
from logship.sinks.base import Batch, Sink

_Sink = TypeVar("_Sink", bound=Sink)


async def started(sink: _Sink) -> _Sink:
    """``sink`` after ``start()``; the test closes it."""
    await sink.start()
    return sink


@asynccontextmanager
async def running(sink: _Sink) -> AsyncIterator[_Sink]:
    """``sink`` started, and closed when the block ends."""
    await sink.start()
    try:
        yield sink
    finally:
        await sink.aclose()


async def send_all(sink: Sink, batches: Iterable[Batch]) -> list[Outcome]:
    """Start ``sink``, send ``batches`` one after the other, close it: the outcome of each."""
    async with running(sink):
        return [await sink.send(batch) for batch in batches]


async def health_checked(sink: Sink) -> None:
    """Start ``sink``, run its healthcheck (SinkError when it fails), close it."""
    async with running(sink):
        await sink.healthcheck()
