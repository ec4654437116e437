"""A retried batch reuses its encoded, compressed body (issue 15.1): the shipper hands the sink the same
Batch for every attempt at the same records, and ``encode_once`` keeps the encoding in it."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from logship.config import BatchConfig, RetryConfig, load
from logship.metrics import Metrics
from logship.ship.shipper import Shipper
from logship.sinks import _http
from logship.sinks.base import Batch
from logship.sinks.loki import sink as loki_sink
from logship.sinks.loki.sink import LokiSink
from tests.fakes.loki import FakeLoki
from tests.ship.fake_buffer import FakeBuffer
from tests.ship.helpers import eventually
from tests.sinks.records import sample_batch


async def test_a_retried_batch_is_encoded_once_and_sent_byte_for_byte_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    bodies: list[bytes] = []
    real_encode = loki_sink.encode

    def counting_encode(batch: Batch, config: Any) -> tuple[bytes, dict[str, str]]:
        calls.append(len(batch.records))
        return real_encode(batch, config)

    monkeypatch.setattr(loki_sink, "encode", counting_encode)
    async with FakeLoki() as loki:
        loki.fail(503, times=2, body="no healthy ingesters")
        config = dataclasses.replace(
            load({"LOGSHIP_SINK": "loki", "LOGSHIP_LOKI_URL": loki.url}).sink_configs["loki"], timeout=5.0)
        sink = LokiSink(config)
        await sink.start()
        real_post = sink._transport.post

        async def recording_post(url: str, body: bytes, headers: dict[str, str], **kwargs: Any) -> Any:
            bodies.append(body)
            return await real_post(url, body, headers, **kwargs)

        monkeypatch.setattr(sink._transport, "post", recording_post)
        buffer = FakeBuffer()
        shipper = Shipper(sink, buffer, BatchConfig(100, 1_000_000, 0.05), RetryConfig(initial=0.01, maximum=0.05),
                          1, tmp_path / "dead-letter", Metrics())
        task = asyncio.create_task(shipper.run())
        try:
            buffer.append(*sample_batch().records)
            await eventually(lambda: buffer.all_acked)
        finally:
            await shipper.drain(timeout=2.0)
            await asyncio.wait_for(task, 5)
            await sink.aclose()
    assert [push.status for push in loki.pushes] == [503, 503, 204]
    assert calls == [3]  # one encoding for the three attempts
    assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]
    assert len(loki.entries) == 3


async def test_another_encoding_or_setting_encodes_again() -> None:
    calls: list[str] = []

    def encode(batch: Batch, setting: str) -> bytes:
        calls.append(setting)
        return setting.encode() + b"".join(batch.records)

    def other(batch: Batch, setting: str) -> bytes:
        calls.append("other " + setting)
        return b""

    batch = Batch([b"a", b"b"], 2)
    assert await _http.encode_once(encode, batch, "modern") == b"modernab"
    assert await _http.encode_once(encode, batch, "modern") == b"modernab"
    assert await _http.encode_once(encode, batch, "compat") == b"compatab"  # the schema changed meanwhile
    assert await _http.encode_once(other, batch, "compat") == b""
    assert await _http.encode_once(encode, Batch([b"a", b"b"], 2), "compat") == b"compatab"  # a new batch
    assert calls == ["modern", "compat", "other compat", "compat"]


async def test_a_stores_encoding_runs_on_the_loop_and_a_threaded_one_off_it_when_large() -> None:
    """A store's encoding (Python holding the GIL) runs on the event loop's thread, whatever the batch's
    size; a ``threaded`` one (compression, which releases the GIL) runs in a worker thread once the batch
    is large, and on the loop when it is small."""
    threads: list[int] = []

    def encode(batch: Batch, setting: str) -> bytes:
        threads.append(threading.get_ident())
        return setting.encode()

    loop_thread = threading.get_ident()
    large = Batch([b"x" * _http.THREAD_ENCODE_BYTES], _http.THREAD_ENCODE_BYTES)
    await _http.encode_once(encode, large, "store")
    await _http.encode_once(encode, Batch([b"x"], 1), "small", threaded=True)
    await _http.encode_once(encode, large, "gzip", threaded=True)
    assert threads[:2] == [loop_thread, loop_thread]
    assert threads[2] != loop_thread
