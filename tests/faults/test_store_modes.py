"""The fault modes of the test store (``tests.fakes.http_receiver``) against the real http sink client:
what each fault looks like to logship, and that the receiver keeps exactly the lines it says it kept.

No Docker: the receiver and ``HttpSink`` run in this test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from logship.ship.outcome import OutcomeKind
from logship.sinks.http.sink import HttpSink
from tests.fakes.http_receiver import HttpReceiver
from tests.ship.helpers import eventually
from tests.sinks import running
from tests.sinks.test_http import batch, config

DELIVERED, RETRY = OutcomeKind.DELIVERED, OutcomeKind.RETRY
RECORDS = tuple(b'{"message":"line %d"}' % i for i in range(1, 2001))  # ~40 KB: more than one TCP segment


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async with HttpReceiver(shutdown_timeout=1.0) as receiver:
        yield receiver


async def send_once(receiver: HttpReceiver, timeout: float = 0.5) -> tuple[OutcomeKind, str, float | None]:
    sink = await running.started(HttpSink(config(receiver.url, compression="none", timeout=timeout)))
    try:
        outcome = await sink.send(batch(*RECORDS))
    finally:
        await sink.aclose()
    return outcome.kind, outcome.reason, outcome.after


@pytest.mark.parametrize(("mode", "expected"), [
    ("503", (RETRY, "http_503", None)),
    ("429", (RETRY, "http_429", 2.0)),
    ("reset", (RETRY, "connect", None)),
    ("hang", (RETRY, "timeout", None)),
    ("deaf", (RETRY, "timeout", None)),
])
async def test_a_fault_mode_is_a_retry_and_keeps_nothing(receiver: HttpReceiver, mode: str,
                                                         expected: tuple[OutcomeKind, str, float | None]) -> None:
    await receiver.set_mode(mode, retry_after="2")
    assert await send_once(receiver) == expected
    assert receiver.lines == []
    if mode != "deaf":  # the deaf listener never sees a request
        assert receiver.faults == {mode: 1}
    await receiver.set_mode("ok")
    assert await send_once(receiver) == (DELIVERED, "", None)
    assert receiver.lines == list(RECORDS)


async def test_garbage_body_with_200_is_delivered_for_the_http_sink_and_the_lines_are_kept(
        receiver: HttpReceiver) -> None:
    # The http sink's contract: any 2xx means stored, whatever the body says (logship/sinks/http.py).
    await receiver.set_mode("garbage")
    assert await send_once(receiver) == (DELIVERED, "", None)
    assert receiver.lines == list(RECORDS)
    assert receiver.faults == {"garbage": 1}


async def test_a_hung_request_is_closed_without_an_answer_when_the_mode_changes(receiver: HttpReceiver) -> None:
    await receiver.set_mode("hang")
    sending = asyncio.create_task(send_once(receiver, timeout=30))
    await eventually(lambda: receiver.pending > 0)
    await receiver.set_mode("ok")
    kind, reason, _ = await asyncio.wait_for(sending, 10)
    assert (kind, reason) == (RETRY, "connect")  # the connection closed, no answer
    assert receiver.lines == []


async def test_deaf_and_back_on_the_same_port(receiver: HttpReceiver) -> None:
    port = receiver.port
    await receiver.set_mode("deaf")
    assert receiver.listening and receiver.port == port
    await receiver.down()
    assert not receiver.listening
    await receiver.up()
    assert await send_once(receiver) == (RETRY, "timeout", None)
    await receiver.set_mode("ok")
    assert receiver.port == port
    assert await send_once(receiver) == (DELIVERED, "", None)


async def test_flap_cycles_through_its_schedule_until_a_mode_is_set(receiver: HttpReceiver) -> None:
    await receiver.flap([("503", 0.05), ("deaf", 0.05), ("ok", 0.05)])
    await eventually(lambda: len(receiver.modes) >= 7, timeout=5)
    assert [mode for _, mode in receiver.modes[:7]] == ["503", "deaf", "ok", "503", "deaf", "ok", "503"]
    await receiver.end_flap()
    await receiver.set_mode("ok")
    seen = len(receiver.modes)
    await asyncio.sleep(0.2)
    assert len(receiver.modes) == seen
    assert await send_once(receiver) == (DELIVERED, "", None)
