"""The ``gelf`` sink (Graylog): GELF 1.1 messages over HTTP, or null-delimited over TCP/TLS.

Message (one per record; ``encode``)::

    {"version":"1.1","host":"node-3","short_message":"multi","full_message":"multi\\nline …",
     "timestamp":1795624362.123,"level":6,"_stream":"stdout","_container_id":"6ca5…",
     "_container_name":"shop_web.1.atuvfibd6g47","_image_name":"nginx:1.27","_label_team":"shop",
     "_service_name":"web","_service_namespace":"shop","_compose_project":"shop","_compose_service":"web",
     "_swarm_service_id":"hot4…","_swarm_service_name":"shop_web","_swarm_service_label_tier":"front",
     "_swarm_task_id":"atuv…","_swarm_task_name":"shop_web.1.atuv…","_swarm_task_slot":1,
     "_swarm_node_id":"zacq…","_host_id":"zacq…"}

- ``host``: the record's ``host.name`` (the Docker node), else the container name.
- ``short_message``: the first non-blank line of the message, at most 250 characters;
  ``full_message``: the whole message, only when it differs from ``short_message`` (several lines,
  longer, or leading blank lines). Graylog refuses a blank ``short_message``: an empty line is sent
  as ``(empty line)``, with ``full_message`` "".
- ``timestamp``: Unix seconds with the milliseconds of Docker's timestamp (truncated), Graylog's
  precision, as Docker's own ``gelf`` log driver sends it.
- ``level``: the parsed ``log.level`` as a syslog severity (``record.SYSLOG_SEVERITY``); a line without
  one: 6 (informational) for stdout, 3 (error) for stderr, as Docker's ``gelf`` driver does. A parsed
  line's ``attributes`` become additional fields under their own path (``_user``, ``_db_host``; a name
  the metadata has is left to it); ``log`` gives ``_log_level`` and ``_log_lines``.
- Additional fields: every other field of the record flattened with ``_`` (``container.id`` →
  ``_container_id``), except ``container.image.name`` → ``_image_name``, ``container.labels.K`` →
  ``_label_K`` and ``swarm.service.labels.K`` → ``_swarm_service_label_K``. Names keep only
  ``[A-Za-z0-9_.-]`` (Graylog's ``^[\\w\\.\\-]*$``), ``_id`` (reserved) becomes ``__id``. Values are strings or
  numbers as GELF requires: booleans become ``"true"``/``"false"``, lists their JSON text, nulls are
  left out.

Transports, by the scheme of ``LOGSHIP_GELF_URL``:

- ``http(s)://host:12201/gelf``: one message per POST (the GELF HTTP input takes one message per
  request), ``Content-Type: application/json``, gzip when ``LOGSHIP_GELF_COMPRESSION=gzip``. A batch's
  messages are POSTed at most ``concurrency`` at a time over keep-alive connections. Answer per
  message (``classify``): 2xx (Graylog: 202 Accepted) delivered; 401/403 retried (credentials);
  a status in ``LOGSHIP_GELF_RETRY_STATUS`` retried honouring ``Retry-After``; any other (400: not valid
  GELF, 413) rejected. The first retriable answer stops the batch: what was not sent yet is retried
  with it. The batch's outcome (``combine``): DELIVERED when every message was; a plain RETRY when
  none was delivered or rejected (nothing is sent twice); else a partial outcome that resends only
  the retried messages and dead-letters the rejected ones.
- ``tcp://host:12201`` / ``tls://host:12201``: each message followed by a ``\\0`` byte on one persistent
  connection (no compression: GELF TCP has none), a batch written at once. GELF TCP has no
  acknowledgement: a batch is delivered once written and flushed to the kernel. A connection the
  server closed is noticed before writing and replaced; a failed write or connect closes it and
  gives RETRY ``connect``/``tls``/``timeout`` (the batch is written again on a new connection, so a
  connection cut in the middle of a batch can duplicate its first messages: at least once).

Healthcheck: HTTP: ``HEAD`` on the URL, any answer counts as reachable (Graylog's input answers only
POST) except 401/403, "credentials refused"; TCP/TLS: a connection opened and closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from yarl import URL

from logship.config import GelfSinkConfig, TlsConfig
from logship.record import SYSLOG_SEVERITY, Line, Reader
from logship.ship.outcome import DELIVERED, Outcome, OutcomeKind, partial, retry
from logship.sinks.base import Batch, SinkError
from logship.sinks.gzip_body import gzip_compress
from logship.sinks.http import body_excerpt
from logship.sinks.tls import ssl_context
from logship.sinks.transport import HttpTransport, classify_status, encode_off_loop, retry_after, status_said
from logship.timestamps import unix_millis

VERSION = "1.1"
DEFAULT_PORT = 12201
SHORT_MESSAGE_CHARS = 250
EMPTY_LINE = "(empty line)"
LEVEL_INFO = 6
LEVEL_ERROR = 3
_FIELD_NAME_FORBIDDEN = re.compile(r"[^A-Za-z0-9_.\-]")
# Fields of the record that become GELF's own fields rather than additional ones.
_OWN_FIELDS = ("timestamp", "message")
_NOT_SENT = retry("error", detail="message not sent")  # unreachable: a message is unsent only after a RETRY
# Paths renamed (a prefix of the path → the prefix of the field name).
_RENAMED = {("container", "image", "name"): "_image_name", ("container", "labels"): "_label",
            ("swarm", "service", "labels"): "_swarm_service_label", ("host", "name"): None}


# --- encode -------------------------------------------------------------------------------------


def field_name(path: Sequence[str]) -> str | None:
    """The GELF additional field name of a record field (see the module docstring); None: not one."""
    for length in (3, 2):
        prefix = tuple(path[:length])
        if prefix in _RENAMED:
            name = _RENAMED[prefix]
            if name is None:
                return None
            rest = path[length:]
            return _clean(name + "".join("_" + part for part in rest))
    return _clean("_" + "_".join(path))


def _clean(name: str) -> str:
    name = _FIELD_NAME_FORBIDDEN.sub("_", name)
    return "__id" if name == "_id" else name


def _gelf_value(value: Any) -> str | int | float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return value
    return orjson.dumps(value).decode()


def additional_fields(fields: Mapping[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    """The record's fields other than timestamp and message, flattened into GELF additional fields."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if not path and key in _OWN_FIELDS:
            continue
        here = (*path, str(key))
        if isinstance(value, dict):
            out.update(additional_fields(value, here))
            continue
        name = field_name(here)
        converted = _gelf_value(value)
        if name is not None and converted is not None:
            out[name] = converted
    return out


def split_message(message: str) -> tuple[str, str | None]:
    """(``short_message``, ``full_message`` or None) of a record's message."""
    stripped = message.lstrip()
    first = stripped.split("\n", 1)[0].rstrip() if stripped else ""
    short = first[:SHORT_MESSAGE_CHARS] if first else EMPTY_LINE
    return short, None if short == message else message


def _host(metadata: Mapping[str, Any]) -> str:
    for parent in ("host", "container"):
        value = metadata.get(parent)
        name = value.get("name") if isinstance(value, dict) else None
        if isinstance(name, str) and name.strip():
            return name
    return "docker"


class _Encoder:
    """Builds GELF messages as bytes; the part from the record's metadata (host, default level, additional
    fields) is serialised once per container and stream (``Shared.encoded``)."""

    def __init__(self) -> None:
        self._reader = Reader()

    def encode(self, record: bytes) -> bytes:
        line = self._reader.read(record)
        message = line.message
        if type(message) is not str:
            message = "" if message is None else str(message)
        timestamp = line.timestamp
        shared = line.shared
        if shared.encoded is None:
            shared.encoded = _shared_part(shared.fields)
        host, default_level, fields, tail = shared.encoded
        short, full = split_message(message)
        head: dict[str, Any] = {"version": VERSION, "host": host, "short_message": short}
        if full is not None:
            head["full_message"] = full
        millis = unix_millis(timestamp) if type(timestamp) is str else None
        if millis is not None:
            head["timestamp"] = millis / 1000
        extra = line.extra
        if not extra:
            return orjson.dumps(head)[:-1] + b',"level":%d' % default_level + tail
        return orjson.dumps(head)[:-1] + _line_part(line, extra, default_level, fields) + tail


def _shared_part(metadata: dict[str, Any]) -> tuple[str, int, dict[str, Any], bytes]:
    """(host, the stream's level, the additional fields, their JSON members + ``}``) of a container."""
    level = LEVEL_ERROR if metadata.get("stream") == "stderr" else LEVEL_INFO
    fields = additional_fields(metadata)
    extra = orjson.dumps(fields)
    return _host(metadata), level, fields, (b"," + extra[1:-1] if len(extra) > 2 else b"") + b"}"


def _line_part(line: Line, extra: dict[str, Any], default_level: int, shared: dict[str, Any]) -> bytes:
    """``,"level":N`` and the line's own additional fields (``partial``, ``log``, the parsed attributes
    without their ``attributes`` prefix); a name the container's metadata has too is left to it."""
    level = SYSLOG_SEVERITY.get(line.level or "", default_level)
    attributes = extra.pop("attributes", None)
    fields = additional_fields(extra)
    if isinstance(attributes, dict):
        for name, value in additional_fields(attributes).items():
            fields.setdefault(name, value)
    members = orjson.dumps({name: value for name, value in fields.items() if name not in shared})
    return b',"level":%d' % level + (b"," + members[1:-1] if len(members) > 2 else b"")


def messages(batch: Batch) -> list[bytes]:
    """One GELF JSON message (bytes, no delimiter) per record of ``batch``."""
    encode_one = _Encoder().encode
    return [encode_one(record) for record in batch.records]


def encode(batch: Batch, config: GelfSinkConfig) -> tuple[list[bytes], dict[str, str]]:
    """The bodies to send for ``batch`` and their headers.

    HTTP: one body per message (gzip-compressed with ``LOGSHIP_GELF_COMPRESSION=gzip``); TCP/TLS: one
    body, every message followed by ``\\0``, and no headers.
    """
    gelf = messages(batch)
    scheme = URL(config.url).scheme
    if scheme in ("tcp", "tls"):
        gelf.append(b"")
        return [b"\0".join(gelf)], {}
    headers = {"Content-Type": "application/json"}
    if config.compression == "gzip":
        headers["Content-Encoding"] = "gzip"
        gelf = [gzip_compress(message) for message in gelf]
    return gelf, headers


# --- classify -----------------------------------------------------------------------------------


def classify(status: int, headers: Mapping[str, str], body: bytes, retry_status: frozenset[int]) -> Outcome:
    """The Outcome of Graylog's answer to one message POSTed to the GELF HTTP input."""
    if 200 <= status < 300:
        return DELIVERED
    said = status_said(status, body_excerpt(body))
    if status == 413 and status in retry_status:
        # Unlike the other HTTP sinks, a 413 listed in LOGSHIP_GELF_RETRY_STATUS is retried, not split.
        return retry("http_413", after=retry_after(headers), detail=said)
    return classify_status(status, headers, said, retry_status)


def combine(outcomes: Sequence[Outcome]) -> Outcome:
    """The outcome of a batch from the outcomes of its messages (in order; see the module docstring)."""
    retries = [index for index, outcome in enumerate(outcomes) if outcome.kind is OutcomeKind.RETRY]
    refused = [(index, outcome.reason or "rejected") for index, outcome in enumerate(outcomes)
               if outcome.kind is OutcomeKind.REJECTED]
    if not retries and not refused:
        return DELIVERED
    afters = [outcomes[index].after for index in retries if outcomes[index].after is not None]
    after = max(afters) if afters else None
    if len(retries) == len(outcomes):
        first = outcomes[retries[0]]
        return retry(first.reason, after=after, detail=first.detail)
    return partial(tuple(retries), tuple(refused), after=after)


# --- transports ---------------------------------------------------------------------------------


def _tls_reason(exc: ssl.SSLError) -> str:
    message = getattr(exc, "verify_message", None)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: certificate verify failed: {message}" if message else f"TLS: {exc}"
    return f"TLS: {exc.reason or exc}"


def stream_ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    """The ``ssl`` argument of ``asyncio.open_connection`` for ``tls://`` (never a plain connection)."""
    context = ssl_context(tls, sink="gelf")
    if isinstance(context, ssl.SSLContext):
        return context
    if context:
        return ssl.create_default_context()
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    return unverified


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
        if config.compression not in ("none", "gzip"):
            raise SinkError(f"LOGSHIP_GELF_COMPRESSION={config.compression!r}: expected none or gzip",
                            retriable=False)
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
            context = stream_ssl_context(self.config.tls) if URL(self.config.url).scheme == "tls" else None
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
                if outcome.kind is OutcomeKind.RETRY and stopped is None:
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
