"""The ``syslog`` sink: RFC 5424 messages, octet-counted over TCP or TLS, or one per UDP datagram.

Message (RFC 5424 §6), one per record::

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG

- PRI = facility * 8 + severity; facility from LOGSHIP_SYSLOG_FACILITY (default ``daemon``), severity
  the parsed ``log.level``'s (``record.SYSLOG_SEVERITY``), else the stream's: stdout → 6
  (informational), stderr → 3 (error).
- TIMESTAMP: the record's time (Docker's, UTC) with at most 6 fraction digits (RFC 5424 allows no more:
  the nanoseconds are truncated, never rounded); ``-`` when the record has none.
- HOSTNAME: ``host.name`` (the Docker node) if it is 1..255 printable US-ASCII characters, else ``-``.
- APP-NAME: ``service.name`` with every character outside printable US-ASCII replaced by ``_``, cut to 48.
- PROCID: the short container id (12 characters). MSGID: the stream (``stdout``/``stderr``).
- STRUCTURED-DATA: ``[docker@32473 container_id="…" container_name="…" image="…" service="…"
  service_namespace="…" compose_project="…" compose_service="…" swarm_service="…" swarm_service_id="…"
  swarm_task="…" swarm_task_id="…" swarm_task_slot="…" node_id="…"]`` (only the fields the record has),
  then ``[label@32473 …]`` with the container's and the Swarm service's labels and ``[fields@32473 …]``
  with any other field (flattened with dots, e.g. ``partial.ordinal`` for a cut line), then for a
  parsed line ``[log@32473 level="…" lines="N"]`` and ``[attributes@32473 …]``. Parameter names
  are made valid SD-NAMEs (printable US-ASCII but ``= ] "`` and space, at most 32), values escape ``"``,
  ``\\`` and ``]`` with a backslash. 32473 is the private enterprise number reserved for examples.
- MSG: the message as UTF-8, without BOM (rsyslog would keep the BOM in the text).
- The whole message is cut to LOGSHIP_SYSLOG_MAX_MESSAGE_BYTES at a UTF-8 character boundary *before*
  framing: a frame larger than the receiver's limit corrupts the stream (rsyslog then reads the length
  as text and loses the next message). When the header and structured data alone pass the limit, the
  label and field elements are left out, then the structured data altogether.

Transports (LOGSHIP_SYSLOG_ADDRESS):

- ``tcp://host:port``: RFC 6587 octet counting, ``MSG-LEN SP SYSLOG-MSG``, never newline framing (a
  multi-line message arrives whole). ``tls://host:port``: the same inside TLS (RFC 5425), the server
  verified with the system's CAs or LOGSHIP_SYSLOG_TLS_CA_FILE, ``server_hostname`` = host, a client
  certificate when configured. One persistent connection, opened at the first send and again after any
  failure. A failed connect or write is a RETRY (``connect``, ``tls``, ``timeout``, ``write``) and the
  shipper sends the whole batch again on a new connection: delivery is at least once, the frames written
  before the failure arrive twice. Syslog has no acknowledgements: DELIVERED means written to the
  socket; what the receiver had not processed when it died is lost. Order holds with concurrency 1 (the
  default); writes never interleave.
- ``udp://host:port``: one message per datagram, no framing (RFC 5426), cut to at most 65,507 bytes.
  Explicitly lossy: nothing tells a lost datagram, and logship says so once at start.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
from typing import Any

import orjson

from logship.config import SyslogSinkConfig, TlsConfig
from logship.record import SYSLOG_SEVERITY, Line, Reader, cut_utf8, dotted, flatten
from logship.ship.outcome import DELIVERED, Outcome, retry
from logship.sinks.base import Batch, SinkError
from logship.sinks.tls import ssl_context
from logship.sinks.transport import encode_off_loop
from logship.timestamps import rfc3339_micros

log = logging.getLogger(__name__)

ENTERPRISE = "32473"
SEVERITY = {"stdout": 6, "stderr": 3}  # informational, error
DEFAULT_SEVERITY = 6
MAX_UDP_BYTES = 65507  # largest UDP payload over IPv4

_PRINTUSASCII = re.compile(r"[\x21-\x7e]+")
_NOT_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")
_NOT_SD_NAME = re.compile(r'[^\x21-\x7e]|[=\]"]')
_SD_ESCAPE = re.compile(r'(["\\\]])')

# (record field path, SD parameter) of the docker@32473 element, in this order.
DOCKER_PARAMS = (
    (("container", "id"), "container_id"), (("container", "name"), "container_name"),
    (("container", "image", "name"), "image"), (("service", "name"), "service"),
    (("service", "namespace"), "service_namespace"),
    (("compose", "project"), "compose_project"), (("compose", "service"), "compose_service"),
    (("swarm", "service", "name"), "swarm_service"), (("swarm", "service", "id"), "swarm_service_id"),
    (("swarm", "task", "name"), "swarm_task"), (("swarm", "task", "id"), "swarm_task_id"),
    (("swarm", "task", "slot"), "swarm_task_slot"), (("swarm", "node", "id"), "node_id"),
)


# --- the message --------------------------------------------------------------------------------


def header_field(value: Any, limit: int, sanitise: bool = False) -> str:
    """A header field: 1..``limit`` printable US-ASCII characters, else the NILVALUE ``-``.

    ``sanitise`` replaces other characters with ``_`` and cuts to ``limit`` instead of giving up.
    """
    if not isinstance(value, str) or not value:
        return "-"
    if sanitise:
        return _NOT_PRINTUSASCII.sub("_", value[:limit])
    return value if len(value) <= limit and _PRINTUSASCII.fullmatch(value) else "-"


def syslog_timestamp(value: Any) -> str:
    """An RFC 3339 time with at most 6 fraction digits (truncated), or ``-``."""
    return (rfc3339_micros(value) if isinstance(value, str) else None) or "-"


def sd_name(name: str) -> str:
    """``name`` as an SD-NAME: printable US-ASCII but ``=``, ``]``, ``"`` (others become ``_``), ≤ 32."""
    return _NOT_SD_NAME.sub("_", name[:32]) or "_"


def sd_value(value: Any) -> str:
    """A PARAM-VALUE with ``"``, ``\\`` and ``]`` escaped."""
    if not isinstance(value, str):
        value = "" if value is None else orjson.dumps(value).decode()
    return _SD_ESCAPE.sub(r"\\\1", value)


def sd_element(sd_id: str, params: list[tuple[str, Any]]) -> str:
    """``[SD-ID name="value" …]`` or "" when there are no parameters."""
    if not params:
        return ""
    return "[" + sd_id + "".join(f' {sd_name(name)}="{sd_value(value)}"' for name, value in params) + "]"


def _get(record: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def _pop(record: Any, path: tuple[str, ...]) -> None:
    *parents, leaf = path
    for key in parents:
        record = record.get(key) if isinstance(record, dict) else None
    if isinstance(record, dict):
        record.pop(leaf, None)


def structured_data(record: dict[str, Any]) -> tuple[str, str]:
    """(the docker@ element, the label@ and fields@ elements) of a record's metadata (consumes ``record``)."""
    docker = []
    for path, name in DOCKER_PARAMS:
        value = _get(record, path)
        if value is not None and value != "":
            docker.append((name, value))
    node = _get(record, ("swarm", "node", "id"))
    if node is None and _get(record, ("host", "id")):
        docker.append(("node_id", _get(record, ("host", "id"))))
    for path, _ in DOCKER_PARAMS:
        _pop(record, path)
    labels: dict[str, Any] = {}
    for path in (("swarm", "service", "labels"), ("container", "labels")):  # the container's own win
        found = _get(record, path)
        if isinstance(found, dict):
            labels.update(found)
        _pop(record, path)
    for key in ("timestamp", "message", "stream"):
        record.pop(key, None)
    _pop(record, ("host", "name"))
    _pop(record, ("host", "id"))
    fields = [(dotted(path), value) for path, value in flatten(record)]
    extra = sd_element(f"label@{ENTERPRISE}", list(labels.items())) + sd_element(f"fields@{ENTERPRISE}", fields)
    return sd_element(f"docker@{ENTERPRISE}", docker), extra


class _Parts:
    """The parts of a message that depend only on the record's metadata (shared by a container's lines)."""

    __slots__ = ("facility", "head", "pri", "sd", "severity", "short", "tail", "untagged")

    def __init__(self, record: dict[str, Any], facility: int) -> None:
        stream = record.get("stream")
        self.facility = facility
        self.severity = SEVERITY.get(stream if isinstance(stream, str) else "", DEFAULT_SEVERITY)
        self.pri = b"<%d>1 " % (facility * 8 + self.severity)
        container_id = _get(record, ("container", "id"))
        head = " ".join((
            header_field(_get(record, ("host", "name")), 255),
            header_field(_get(record, ("service", "name")), 48, sanitise=True),
            header_field(container_id[:12] if isinstance(container_id, str) else None, 128, sanitise=True),
            header_field(stream, 32, sanitise=True),
        ))
        docker, extra = structured_data(record)
        self.head = f" {head} ".encode()
        self.sd = (docker + extra).encode()
        self.tail = f" {head} {docker + extra or '-'}".encode()
        self.untagged = f" {head} {docker or '-'}".encode()  # when the whole SD does not fit
        self.short = f" {head} -".encode()


def _message(parts: _Parts, timestamp: str, text: bytes, limit: int, line_sd: bytes = b"",
             severity: int | None = None) -> bytes:
    """One message; ``line_sd`` (the line's own elements) goes with the label and field elements, and
    ``severity`` (the line's level) replaces the stream's."""
    pri = parts.pri if severity is None else b"<%d>1 " % (parts.facility * 8 + severity)
    start = pri + timestamp.encode()
    full = parts.head + parts.sd + line_sd if line_sd else parts.tail
    for tail in (full, parts.untagged, parts.short):
        head = start + tail
        if len(head) < limit or tail is parts.short:
            break
    return cut_utf8(head + b" " + text if text else head, limit)


def line_elements(line: Line, log_elements: dict[tuple[str | None, int | None], bytes]) -> bytes:
    """The per-line SD elements: ``[log@32473 level="…" lines="N"]`` and ``[attributes@32473 …]`` (the
    parsed attributes, dotted paths), each only when the record has it. ``log_elements`` caches the
    first per level and line count (a batch has a few)."""
    level, lines, attributes = line.level, line.lines, line.attributes
    sd = log_elements.get((level, lines))
    if sd is None:
        log_params: list[tuple[str, Any]] = [("level", level)] if level else []
        if lines is not None:
            log_params.append(("lines", lines))
        sd = log_elements[(level, lines)] = sd_element(f"log@{ENTERPRISE}", log_params).encode()
    if attributes:
        sd += sd_element(f"attributes@{ENTERPRISE}",
                         [(dotted(path), value) for path, value in flatten(attributes)]).encode()
    return sd


def _text(message: Any) -> bytes:
    return (message if isinstance(message, str) else "" if message is None else orjson.dumps(message).decode()
            ).encode()


def encode_messages(batch: Batch, facility: int, max_message_bytes: int) -> list[bytes]:
    """One RFC 5424 message per record (no framing), each at most ``max_message_bytes`` long."""
    read = Reader().read
    with_partial: dict[tuple[bytes, bytes], _Parts] = {}
    log_elements: dict[tuple[str | None, int | None], bytes] = {}
    messages = []
    for record in batch.records:
        line = read(record)
        shared = line.shared
        if shared.encoded is None:
            shared.encoded = _Parts(shared.copy_fields(), facility)
        parts = shared.encoded
        head = line.head
        if len(head) > 2:  # partial, log or attributes
            partial = head.get("partial")
            if partial is not None:  # a cut line: its parts say so in fields@ (with the metadata)
                key = (shared.key, orjson.dumps(partial))
                parts = with_partial.get(key) or with_partial.setdefault(
                    key, _Parts({"partial": partial, **shared.copy_fields()}, facility))
            level = line.level
            messages.append(_message(parts, syslog_timestamp(line.timestamp), _text(line.message), max_message_bytes,
                                     line_elements(line, log_elements), SYSLOG_SEVERITY[level] if level else None))
            continue
        messages.append(_message(parts, syslog_timestamp(line.timestamp), _text(line.message), max_message_bytes))
    return messages


def frame(message: bytes) -> bytes:
    """RFC 6587 octet counting: ``MSG-LEN SP SYSLOG-MSG``."""
    return b"%d %b" % (len(message), message)


def encode(batch: Batch, config: SyslogSinkConfig) -> bytes:
    """The bytes written to a TCP or TLS connection for ``batch``: octet-counted messages."""
    return b"".join([frame(message) for message in
                     encode_messages(batch, config.facility, config.max_message_bytes)])


def encode_datagrams(batch: Batch, config: SyslogSinkConfig) -> list[bytes]:
    """The UDP datagrams for ``batch``: one message each, no framing."""
    return encode_messages(batch, config.facility, min(config.max_message_bytes, MAX_UDP_BYTES))


# --- connections ----------------------------------------------------------------------------------


def client_context(tls: TlsConfig) -> ssl.SSLContext:
    """An SSLContext for ``tls`` (tls.ssl_context gives aiohttp's forms: True, False or a context)."""
    context = ssl_context(tls, sink="syslog")
    if context is True:
        return ssl.create_default_context()
    if context is False:
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        return unverified
    assert isinstance(context, ssl.SSLContext)
    return context


def describe_error(exc: BaseException, timeout: float) -> tuple[str, str]:
    """(RETRY reason, what a person reads) for a failed connect or write."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls", f"TLS: certificate verify failed: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return "tls", f"TLS: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "timeout", f"no answer within {timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return "connect", "connection refused"
    if isinstance(exc, socket.gaierror):
        return "connect", f"cannot resolve the host: {exc.strerror}"
    if isinstance(exc, OSError):
        return "connect", f"{type(exc).__name__}: {exc.strerror or exc}"
    return "connect", f"{type(exc).__name__}: {exc}"


class _Datagrams(asyncio.DatagramProtocol):
    def error_received(self, exc: Exception) -> None:  # an ICMP error for an earlier datagram
        log.debug("sink syslog: UDP error: %s", exc)


class SyslogSink:
    """Writes batches to one syslog receiver over one connection (see the module docstring)."""

    name = "syslog"

    def __init__(self, config: SyslogSinkConfig) -> None:
        if config.transport not in ("tcp", "tls", "udp"):
            raise SinkError(f"unknown syslog transport {config.transport!r}: expected tcp, tls or udp",
                            retriable=False)
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
            self._ssl = client_context(self.config.tls)
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
            self._ssl = client_context(self.config.tls)
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
