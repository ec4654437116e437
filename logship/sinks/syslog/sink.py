"""The ``syslog`` sink, the Sink class: send, healthcheck, aclose.

The wire format and the answers are described in ``logship.sinks.syslog``.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from logship.ship.outcome import DELIVERED, Outcome, retry
from logship.sinks._http import encode_once
from logship.sinks._stream import StreamClient, stream_ssl_context
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
        self._stream: StreamClient | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._lock = asyncio.Lock()

    def _client(self) -> StreamClient:
        """The TCP/TLS client (TLS files loaded at its creation); a failed write aborts the connection, so
        that a half-written frame is never completed."""
        if self._stream is None:
            context = stream_ssl_context(self.config.tls, sink="syslog") if self.config.transport == "tls" else None
            self._stream = StreamClient(self.config.host, self.config.port, context, self.config.timeout,
                                        abort_after_failure=True)
        return self._stream

    @property
    def _reader(self) -> asyncio.StreamReader | None:
        return self._stream.reader if self._stream is not None else None

    async def start(self) -> None:
        """Load the TLS files; the connection itself is opened by the first send."""
        if self.config.transport != "udp":
            self._client()
        else:
            log.warning("sink syslog: %s is UDP: messages are sent without any acknowledgement and lost "
                        "silently when the network or the receiver drops them; use tcp:// or tls:// to "
                        "keep every line", self.address)

    async def send(self, batch: Batch) -> Outcome:
        """Write ``batch``; a failed connect or write is a RETRY of the whole batch."""
        if self.config.transport == "udp":
            return await self._send_udp(batch)
        data = await encode_once(encode, batch, self.config)
        failure = await self._client().write(data)
        if failure is None:
            return DELIVERED
        reason, detail = describe_error(failure.error, self.config.timeout)
        if failure.writing and reason != "tls":
            reason = "timeout" if reason == "timeout" else "write"
        return retry(reason, detail=f"{self.address}: {detail}")

    async def _send_udp(self, batch: Batch) -> Outcome:
        datagrams = encode_datagrams(batch, self.config)
        async with self._lock:
            try:
                udp = self._udp
                if udp is None or udp.is_closing():
                    loop = asyncio.get_running_loop()
                    endpoint = await asyncio.wait_for(loop.create_datagram_endpoint(
                        _Datagrams, remote_addr=(self.config.host, self.config.port)), self.config.timeout)
                    udp = self._udp = endpoint[0]
                for datagram in datagrams:
                    udp.sendto(datagram)
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
        try:
            await self._client().probe()
        except (OSError, TimeoutError) as exc:
            reason, detail = describe_error(exc, self.config.timeout)
            if reason == "timeout" and self.config.transport == "tls":
                detail += " (connect and TLS handshake: is it a TLS listener?)"
            # A certificate or handshake problem is configuration: waiting does not help.
            raise SinkError(f"{self.address}: {detail}", retriable=reason != "tls") from exc

    async def aclose(self) -> None:
        """Close the connection (what was written has been handed to the kernel)."""
        if self._stream is not None:
            await self._stream.aclose()
        async with self._lock:
            if self._udp is not None:
                self._udp.close()
                self._udp = None
