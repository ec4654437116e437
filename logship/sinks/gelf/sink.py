"""The ``gelf`` sink, the Sink class: send, healthcheck, aclose.

The wire format and the answers are described in ``logship.sinks.gelf``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from yarl import URL

from logship.ship.outcome import DELIVERED, Outcome, Retry, retry
from logship.sinks._http import HttpTransport, encode_off_loop
from logship.sinks._stream import stream_ssl_context
from logship.sinks.base import Batch, SinkError
from logship.sinks.gelf.classify import classify, combine
from logship.sinks.gelf.encode import encode
from logship.sinks.gelf.spec import GelfSinkConfig

DEFAULT_PORT = 12201
_NOT_SENT = retry("error", detail="message not sent")  # unreachable: a message is unsent only after a RETRY


# --- transports ---------------------------------------------------------------------------------


def _tls_reason(exc: ssl.SSLError) -> str:
    message = getattr(exc, "verify_message", None)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: certificate verify failed: {message}" if message else f"TLS: {exc}"
    return f"TLS: {exc.reason or exc}"


class _StreamConnection:
    """One persistent TCP or TLS connection, replaced when the server closed it or a write failed."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext | None, timeout: float) -> None:
        self.host = host
        self.port = port
        self.context = context
        self.timeout = timeout
        self.address = f"{'tls' if context else 'tcp'}://{host}:{port}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, ssl=self.context,
                                             server_hostname=self.host if self.context else None)

    async def write(self, data: bytes) -> Outcome:
        """Write ``data`` whole (one batch at a time); a RETRY outcome when it could not be."""
        async with self._lock:
            try:
                async with asyncio.timeout(self.timeout):
                    writer = await self._connected()
                    writer.write(data)
                    await writer.drain()
            except TimeoutError:
                await self.close()
                return retry("timeout", detail=f"{self.address}: not written within {self.timeout:g}s")
            except ssl.SSLError as exc:
                await self.close()
                return retry("tls", detail=f"{self.address}: {_tls_reason(exc)}")
            except OSError as exc:
                await self.close()
                return retry("connect", detail=f"{self.address}: {type(exc).__name__}: {exc}")
        return DELIVERED

    async def _connected(self) -> asyncio.StreamWriter:
        if self._writer is not None:
            await asyncio.sleep(0)  # let the loop notice a close by the server before we write
            assert self._reader is not None
            if self._writer.is_closing() or self._reader.at_eof() or self._reader.exception() is not None:
                await self.close()
        if self._writer is None:
            self._reader, self._writer = await self.open()
        return self._writer

    async def probe(self) -> None:
        """Open a connection and close it; SinkError with the reason when that fails."""
        try:
            async with asyncio.timeout(self.timeout):
                _, writer = await self.open()
        except TimeoutError as exc:
            raise SinkError(f"{self.address}: no connection within {self.timeout:g}s") from exc
        except ssl.SSLError as exc:
            raise SinkError(f"{self.address}: {_tls_reason(exc)}", retriable=False) from exc
        except OSError as exc:
            raise SinkError(f"{self.address}: cannot connect: {exc}") from exc
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(self.timeout):
                await writer.wait_closed()

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(self.timeout):
                    await writer.wait_closed()


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
        self._connection: _StreamConnection | None = None
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
            self._connection = _StreamConnection(self._host, self._port, context, self.config.timeout)

    async def send(self, batch: Batch) -> Outcome:
        """Send every message of ``batch``; the outcome of the batch (partial when some failed)."""
        bodies, headers = await encode_off_loop(encode, batch, self.config)
        if self._transport is None:
            return await self._stream().write(bodies[0])
        return await self._send_http(bodies, headers)

    def _stream(self) -> _StreamConnection:
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
            await self._stream().probe()

    async def aclose(self) -> None:
        """Close the session or the connection."""
        if self._transport is not None:
            await self._transport.aclose()
        if self._connection is not None:
            await self._connection.close()
