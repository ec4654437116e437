"""The ``gelf`` sink, the Sink class: send, healthcheck, aclose.

The wire format and the answers are described in ``logship.sinks.gelf``.
"""

from __future__ import annotations

import asyncio

from yarl import URL

from logship.ship.outcome import Outcome, Retry, retry
from logship.sinks._http import HttpTransport, encode_once
from logship.sinks._stream import StreamClient, stream_outcome, stream_ssl_context
from logship.sinks.base import Batch, SinkError
from logship.sinks.gelf.classify import classify, combine
from logship.sinks.gelf.encode import encode
from logship.sinks.gelf.spec import GelfSinkConfig

DEFAULT_PORT = 12201
_NOT_SENT = retry("error", detail="message not sent")  # unreachable: a message is unsent only after a RETRY


class GelfSink:
    """Sends GELF messages to Graylog over HTTP (one POST each) or TCP/TLS (``\\0``-delimited)."""

    name = "gelf"

    def __init__(self, config: GelfSinkConfig) -> None:
        self.config = config
        url = URL(config.url)
        self.stream = url.scheme in ("tcp", "tls")
        if self.stream and config.compression != "none":
            raise SinkError("LOGSHIP_GELF_COMPRESSION=gzip applies to the HTTP input only: GELF over TCP is not "
                            "compressed", retriable=False)
        self._transport: HttpTransport | None = None
        self._connection: StreamClient | None = None
        self._host = url.host or ""
        self._port = url.port or DEFAULT_PORT
        if not self.stream:
            self._transport = HttpTransport(self.name, config.tls, config.timeout, config.concurrency)

    async def start(self) -> None:
        """HTTP: open the session; TCP/TLS: load the TLS files (the connection opens at the first send)."""
        if self._transport is not None:
            await self._transport.start()
        elif self._connection is None:
            context = stream_ssl_context(self.config.tls, sink="gelf") if URL(self.config.url).scheme == "tls" else None
            self._connection = StreamClient(self._host, self._port, context, self.config.timeout,
                                            abort_after_failure=False)

    async def send(self, batch: Batch) -> Outcome:
        """Send every message of ``batch``; the outcome of the batch (partial when some failed)."""
        bodies, headers = await encode_once(encode, batch, self.config)
        if self._transport is None:
            client = self._stream()
            return stream_outcome(await client.write(bodies[0]), client)
        return await self._send_http(bodies, headers)

    def _stream(self) -> StreamClient:
        if self._connection is None:
            raise RuntimeError(f"sink {self.name}: start() must be awaited first")
        return self._connection

    async def _send_http(self, bodies: list[bytes], headers: dict[str, str]) -> Outcome:
        assert self._transport is not None
        transport = self._transport
        _ = transport.session  # a send before start() is a bug: raise now, not in a task
        outcomes: list[Outcome | None] = [None] * len(bodies)
        stopped: Outcome | None = None
        position = 0

        async def worker() -> None:
            nonlocal position, stopped
            while stopped is None and position < len(bodies):
                index = position
                position += 1
                answer = await transport.post(self.config.url, bodies[index], headers)
                outcome = answer if isinstance(answer, Outcome) else classify(
                    answer.status, answer.headers, answer.body, self.config.retry_status)
                outcomes[index] = outcome
                if isinstance(outcome, Retry) and stopped is None:
                    stopped = outcome  # the store is failing: send no more of this batch now

        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.config.concurrency, len(bodies))):
                group.create_task(worker())
        # A message not sent (the batch stopped at a retriable answer) is retried with that answer's reason.
        return combine([outcome if outcome is not None else stopped or _NOT_SENT for outcome in outcomes])

    async def healthcheck(self) -> None:
        """HTTP: HEAD the input (any answer but 401/403 is fine); TCP/TLS: open and close a connection."""
        if self._transport is not None:
            await self._transport.probe(self.config.url, method="HEAD")
        else:
            await self._stream().check()

    async def aclose(self) -> None:
        """Close the session or the connection."""
        if self._transport is not None:
            await self._transport.aclose()
        if self._connection is not None:
            await self._connection.aclose()
