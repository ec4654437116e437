"""The ``syslog`` sink, the Sink class: send, healthcheck, aclose.

The wire format and the answers are described in ``logship.sinks.syslog``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl

from logship.ship.outcome import DELIVERED, Outcome, retry
from logship.sinks._http import encode_off_loop
from logship.sinks._stream import stream_ssl_context
from logship.sinks.base import Batch, SinkError
from logship.sinks.syslog.classify import describe_error
from logship.sinks.syslog.encode import encode, encode_datagrams
from logship.sinks.syslog.spec import SyslogSinkConfig

log = logging.getLogger(__package__)  # the sink's logger name: logship.sinks.syslog


# --- connections ----------------------------------------------------------------------------------


class _Datagrams(asyncio.DatagramProtocol):
    def error_received(self, exc: Exception) -> None:  # an ICMP error for an earlier datagram
        log.debug("sink syslog: UDP error: %s", exc)


class SyslogSink:
    """Writes batches to one syslog receiver over one connection (see the module docstring)."""

    name = "syslog"

    def __init__(self, config: SyslogSinkConfig) -> None:
        self.config = config
        self.address = f"{config.transport}://{config.host}:{config.port}"
        self._ssl: ssl.SSLContext | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Load the TLS files; the connection itself is opened by the first send."""
        if self.config.transport == "tls":
            self._ssl = stream_ssl_context(self.config.tls, sink="syslog")
        if self.config.transport == "udp":
            log.warning("sink syslog: %s is UDP: messages are sent without any acknowledgement and lost "
                        "silently when the network or the receiver drops them; use tcp:// or tls:// to "
                        "keep every line", self.address)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(
            asyncio.open_connection(self.config.host, self.config.port, ssl=self._ssl,
                                    server_hostname=self.config.host if self._ssl else None,
                                    ssl_handshake_timeout=self.config.timeout if self._ssl else None),
            self.config.timeout)

    async def _connection(self) -> asyncio.StreamWriter:
        if self._writer is not None and (self._writer.is_closing() or self._reader is None
                                         or self._reader.at_eof()):
            await self._drop()  # the receiver closed it (restart, idle timeout): open a new one
        if self._writer is None:
            self._reader, self._writer = await self._open()
        return self._writer

    async def _drop(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.transport.abort()  # a half-written frame must not be completed by a graceful close

    async def send(self, batch: Batch) -> Outcome:
        """Write ``batch``; a failed connect or write is a RETRY of the whole batch."""
        if self.config.transport == "udp":
            return await self._send_udp(batch)
        data = await encode_off_loop(encode, batch, self.config)
        async with self._lock:
            writing = False
            try:
                writer = await self._connection()
                writing = True
                writer.write(data)
                await asyncio.wait_for(writer.drain(), self.config.timeout)
            except (OSError, TimeoutError, EOFError) as exc:
                await self._drop()
                reason, detail = describe_error(exc, self.config.timeout)
                if writing and reason != "tls":
                    reason = "timeout" if reason == "timeout" else "write"
                return retry(reason, detail=f"{self.address}: {detail}")
        return DELIVERED

    async def _send_udp(self, batch: Batch) -> Outcome:
        datagrams = encode_datagrams(batch, self.config)
        async with self._lock:
            try:
                if self._udp is None or self._udp.is_closing():
                    loop = asyncio.get_running_loop()
                    self._udp, _ = await asyncio.wait_for(loop.create_datagram_endpoint(
                        _Datagrams, remote_addr=(self.config.host, self.config.port)), self.config.timeout)
                for datagram in datagrams:
                    self._udp.sendto(datagram)
            except (OSError, TimeoutError) as exc:
                if self._udp is not None:
                    self._udp.close()
                    self._udp = None
                reason, detail = describe_error(exc, self.config.timeout)
                return retry(reason, detail=f"{self.address}: {detail}")
        return DELIVERED

    async def healthcheck(self) -> None:
        """Connect (and complete the TLS handshake), then close; SinkError with the reason otherwise.

        For UDP there is no handshake: only the host name is resolved.
        """
        if self.config.transport == "udp":
            try:
                await asyncio.get_running_loop().getaddrinfo(self.config.host, self.config.port,
                                                              type=socket.SOCK_DGRAM)
            except OSError as exc:
                raise SinkError(f"{self.address}: {describe_error(exc, self.config.timeout)[1]}") from exc
            return
        if self.config.transport == "tls" and self._ssl is None:
            self._ssl = stream_ssl_context(self.config.tls, sink="syslog")
        try:
            _, writer = await self._open()
        except (OSError, TimeoutError) as exc:
            reason, detail = describe_error(exc, self.config.timeout)
            if reason == "timeout" and self._ssl is not None:
                detail += " (connect and TLS handshake: is it a TLS listener?)"
            # A certificate or handshake problem is configuration: waiting does not help.
            raise SinkError(f"{self.address}: {detail}", retriable=reason != "tls") from exc
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1)
        except (OSError, TimeoutError):
            writer.transport.abort()

    async def aclose(self) -> None:
        """Close the connection (what was written has been handed to the kernel)."""
        async with self._lock:
            writer, self._reader, self._writer = self._writer, None, None
            if writer is not None:
                writer.close()
                try:
                    await asyncio.wait_for(writer.wait_closed(), 2)
                except (OSError, TimeoutError):
                    writer.transport.abort()
            if self._udp is not None:
                self._udp.close()
                self._udp = None
