"""What the stream sinks (syslog, GELF over TCP/TLS) share: one TCP/TLS client, ``StreamClient``.

One persistent connection, opened at the first write and again after a failure or after the receiver
closed it (noticed before writing). A write is the whole of one batch, connect included, within
``timeout``. The client reports a failure as ``StreamFailure`` (the exception, and whether it came
while writing); each sink maps it to its Outcome (its reasons and texts stay its own).

Where the two sinks differ on purpose, the client takes a parameter: ``abort_after_failure`` (syslog:
the connection is aborted so that a half-written frame is never completed by a graceful close; GELF
closes it). ``stream_outcome`` and ``StreamClient.check`` are the usual mapping of a failure to an
Outcome and to a healthcheck's SinkError (GELF's); syslog keeps its own texts.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

from logship.settings.types import TlsConfig
from logship.ship.outcome import DELIVERED, Outcome, RetryReason, retry
from logship.sinks.base import SinkError
from logship.sinks.tls import ssl_context

# The longest a close waits for the receiver before the connection is aborted (at shutdown, after a failure).
CLOSE_WAIT_SECONDS = 2.0


def stream_ssl_context(tls: TlsConfig, *, sink: str) -> ssl.SSLContext:
    """The ``ssl`` argument of ``asyncio.open_connection`` for ``tls://`` (never a plain connection).

    ``tls.ssl_context`` gives aiohttp's forms (True, False or a context); a stream needs a context.
    """
    context = ssl_context(tls, sink=sink)
    if isinstance(context, ssl.SSLContext):
        return context
    if context:
        return ssl.create_default_context()
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    return unverified


def tls_reason(exc: ssl.SSLError) -> str:
    """What went wrong in a TLS handshake, for a person."""
    message = getattr(exc, "verify_message", None)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: certificate verify failed: {message}" if message else f"TLS: {exc}"
    return f"TLS: {exc.reason or exc}"


@dataclass(frozen=True, slots=True)
class StreamFailure:
    """A write that did not go through: ``error`` (OSError, ssl.SSLError or TimeoutError), and ``writing``:
    whether the connection was open and the batch partly handed over when it failed."""

    error: BaseException
    writing: bool


class StreamClient:
    """One persistent TCP or TLS (``context``) connection to ``host:port`` (see the module docstring)."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext | None, timeout: float, *,
                 abort_after_failure: bool) -> None:
        self.host = host
        self.port = port
        self.context = context
        self.timeout = timeout
        self.address = f"{'tls' if context else 'tcp'}://{host}:{port}"
        self._abort_after_failure = abort_after_failure
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    @property
    def reader(self) -> asyncio.StreamReader | None:
        """The open connection's reader (its ``at_eof()`` tells the receiver closed it), None when closed."""
        return self._reader

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, ssl=self.context,
                                             server_hostname=self.host if self.context else None,
                                             ssl_handshake_timeout=self.timeout if self.context else None)

    async def _connected(self) -> asyncio.StreamWriter:
        if self._writer is not None:
            await asyncio.sleep(0)  # let the loop notice a close by the receiver before we write
            reader = self._reader
            if self._writer.is_closing() or reader is None or reader.at_eof() or reader.exception() is not None:
                await self._close(abort=False)  # the receiver closed it (restart, idle timeout): open a new one
        if self._writer is None:
            self._reader, self._writer = await self._open()
        return self._writer

    async def write(self, data: bytes) -> StreamFailure | None:
        """Write ``data`` whole, connect included, within ``timeout``; None when done (handed to the kernel)."""
        async with self._lock:
            writing = False
            try:
                async with asyncio.timeout(self.timeout):
                    writer = await self._connected()
                    writing = True
                    writer.write(data)
                    await writer.drain()
            except (OSError, TimeoutError, EOFError) as exc:  # ssl.SSLError is an OSError
                await self._close(abort=self._abort_after_failure)
                return StreamFailure(exc, writing)
        return None

    async def probe(self) -> None:
        """Open a connection (TLS handshake included) within ``timeout`` and close it; raises what failed."""
        async with asyncio.timeout(self.timeout):
            _, writer = await self._open()
        await _close_writer(writer, abort=False, wait=min(self.timeout, CLOSE_WAIT_SECONDS))

    async def check(self) -> None:
        """``probe``, with what failed as a SinkError a person can act on (a TLS problem is not retriable)."""
        try:
            await self.probe()
        except TimeoutError as exc:
            raise SinkError(f"{self.address}: no connection within {self.timeout:g}s") from exc
        except ssl.SSLError as exc:
            raise SinkError(f"{self.address}: {tls_reason(exc)}", retriable=False) from exc
        except OSError as exc:
            raise SinkError(f"{self.address}: cannot connect: {exc}") from exc

    async def aclose(self) -> None:
        """Close the connection (what was written has been handed to the kernel)."""
        async with self._lock:
            await self._close(abort=False)

    async def _close(self, *, abort: bool) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            await _close_writer(writer, abort=abort, wait=min(self.timeout, CLOSE_WAIT_SECONDS))


def stream_outcome(failure: StreamFailure | None, client: StreamClient) -> Outcome:
    """The outcome of one batch written by ``client.write``: DELIVERED, or a RETRY ``timeout``, ``tls`` or
    ``connect``."""
    if failure is None:
        return DELIVERED
    exc = failure.error
    if isinstance(exc, TimeoutError):
        return retry(RetryReason.TIMEOUT, detail=f"{client.address}: not written within {client.timeout:g}s")
    if isinstance(exc, ssl.SSLError):
        return retry(RetryReason.TLS, detail=f"{client.address}: {tls_reason(exc)}")
    return retry(RetryReason.CONNECT, detail=f"{client.address}: {type(exc).__name__}: {exc}")


async def _close_writer(writer: asyncio.StreamWriter, *, abort: bool, wait: float) -> None:
    """Abort, or close and wait up to ``wait`` seconds for the receiver (then abort)."""
    if abort:
        writer.transport.abort()
        return
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(wait):
            await writer.wait_closed()
            return
    writer.transport.abort()
