"""Contract fakes of Graylog's GELF inputs for the ``gelf`` sink: HTTP (``POST /gelf``) and TCP/TLS (``\\0``).

Both check each message as GELF 1.1 defines it (stores.md §6, ``gelf_problems``): a JSON object with
``version`` "1.1", a non-blank string ``host`` and ``short_message``; ``full_message`` a string;
``timestamp`` a number; ``level`` a syslog severity 0 to 7; every other field an additional field whose
name starts with ``_``, matches ``^[\\w\\.\\-]*$`` and is not ``_id``, with a string or number value.

- ``FakeGelfHttp``: ``POST /gelf`` with one message (``Content-Encoding: gzip`` decoded) answers
  **202 Accepted** when valid, 400 with the problems when not; any other method on ``/gelf`` answers
  405 and any other path 404. Scripting: ``fail(status, times, headers)`` for the next POSTs,
  ``fail_message(short_message, status, times, headers)`` for the POSTs of one message (the sink
  POSTs concurrently, so order is not a script); ``require_authorization`` answers 401 without
  exactly that header.
- ``FakeGelfTcp``: messages delimited by ``\\0`` on any number of connections (TLS with
  ``ssl_context``); invalid ones are dropped (``invalid``), as Graylog does. ``close_connections()``
  closes every open connection from the server side; ``down()``/``up()`` stop and resume listening on
  the same port. ``wait_for(count)`` waits for messages to arrive (TCP has no answers to wait for).

Both keep what they accepted in ``messages`` (parsed dicts).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import re
import ssl
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import Answer, FakeServer

FIELD_NAME = re.compile(r"^[\w\.\-]*$", re.ASCII)
OWN_FIELDS = ("version", "host", "short_message", "full_message", "timestamp", "level", "facility", "line", "file")


def gelf_problems(message: Any) -> list[str]:
    """What is wrong with a decoded GELF 1.1 message (empty when it is valid)."""
    if not isinstance(message, dict):
        return ["not a JSON object"]
    problems = []
    if message.get("version") != "1.1":
        problems.append(f"version must be \"1.1\", not {message.get('version')!r}")
    for name in ("host", "short_message"):
        value = message.get(name)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"has empty mandatory \"{name}\" field")
    if "full_message" in message and not isinstance(message["full_message"], str):
        problems.append("full_message must be a string")
    timestamp = message.get("timestamp")
    if "timestamp" in message and (isinstance(timestamp, bool) or not isinstance(timestamp, (int, float))):
        problems.append(f"timestamp must be a number, not {timestamp!r}")
    level = message.get("level")
    if "level" in message and (isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 7):
        problems.append(f"level must be a syslog severity 0-7, not {level!r}")
    for name, value in message.items():
        if name in OWN_FIELDS:
            continue
        if not name.startswith("_"):
            problems.append(f"additional field {name!r} does not start with _")
        elif name == "_id":
            problems.append("additional field _id is not allowed")
        elif not FIELD_NAME.match(name):
            problems.append(f"additional field name {name!r} is not ^[\\w\\.\\-]*$")
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            problems.append(f"additional field {name!r} must be a string or a number, not {value!r}")
    return problems


@dataclass(frozen=True)
class Posted:
    """One POST as the HTTP fake saw it."""

    status: int
    headers: dict[str, str]
    message: Any
    problems: tuple[str, ...] = ()


class FakeGelfHttp(FakeServer[Answer]):
    """Graylog's GELF HTTP input (see the module docstring); ``url`` is what ``LOGSHIP_GELF_URL`` should be."""

    url_path = "/gelf"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(host, port, ssl_context)
        self.messages: list[dict[str, Any]] = []
        self.posts: list[Posted] = []
        self.probes = 0
        self._by_message: dict[str, deque[Answer]] = {}

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        """Answer the next ``times`` POSTs with ``status``."""
        self.script(Answer(status, headers or {}, body), times)

    def fail_message(self, short_message: str, status: int, times: int = 1, headers: dict[str, str] | None = None,
                     body: bytes = b"") -> None:
        """Answer the next ``times`` POSTs of the message with this ``short_message`` with ``status``."""
        self._by_message.setdefault(short_message, deque()).extend(
            Answer(status, headers or {}, body) for _ in range(times))

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/gelf", self._post)
        app.router.add_route("*", "/gelf", self._other_method)

    async def _other_method(self, request: web.Request) -> web.Response:
        self.probes += 1
        if self.unauthorized(request):
            return web.Response(status=401)
        return web.Response(status=405, headers={"Allow": "POST"})

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        message: Any = None
        problems: list[str] = []
        try:
            if request.headers.get("Content-Encoding", "").strip().lower() == "gzip":
                body = gzip.decompress(body)
            message = orjson.loads(body)
        except (OSError, EOFError, orjson.JSONDecodeError) as exc:
            problems.append(f"cannot decode the message: {exc}")
        else:
            problems = gelf_problems(message)
        answer = Answer(202)
        if self.unauthorized(request):
            answer = Answer(401)
        elif problems:
            answer = Answer(400, body="; ".join(problems).encode())
        else:
            by_message = self._by_message.get(message.get("short_message"))
            scripted = by_message.popleft() if by_message else self.next_scripted()
            if scripted is not None:
                answer = scripted
        self.posts.append(Posted(answer.status, headers, message, tuple(problems)))
        if answer.status == 202:
            self.messages.append(message)
        return web.Response(status=answer.status, headers=answer.headers, body=answer.body)


class FakeGelfTcp:
    """Graylog's GELF TCP (or TLS) input (see the module docstring)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.messages: list[dict[str, Any]] = []
        self.invalid: list[tuple[bytes, list[str]]] = []
        self.connections = 0  # connections accepted so far
        self._open: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Event()

    @property
    def url(self) -> str:
        """What ``LOGSHIP_GELF_URL`` should be."""
        return f"{'tls' if self.ssl_context else 'tcp'}://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, ssl=self.ssl_context,
                                                  limit=1 << 24)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close_connections(self) -> None:
        """Close every open connection from the server's side (the listener stays)."""
        for writer in list(self._open):
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
        self._open.clear()

    async def down(self) -> None:
        """Stop listening and close the connections: connects are refused until ``up()``."""
        if self._server is not None:
            self._server.close()
            await self.close_connections()
            await self._server.wait_closed()
            self._server = None

    async def up(self) -> None:
        await self.start()

    async def stop(self) -> None:
        await self.down()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> FakeGelfTcp:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` valid messages arrived; AssertionError after ``timeout``."""
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.messages

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        self._open.add(writer)
        try:
            while True:
                try:
                    frame = await reader.readuntil(b"\0")
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():
                        self.invalid.append((exc.partial, ["connection closed inside a message"]))
                    return
                self._receive(frame[:-1])
        except (OSError, ssl.SSLError, asyncio.LimitOverrunError):
            return
        finally:
            self._open.discard(writer)
            self._tasks.discard(task)
            writer.close()

    def _receive(self, frame: bytes) -> None:
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            self.invalid.append((frame, [f"not JSON: {exc}"]))
            return
        problems = gelf_problems(message)
        if problems:
            self.invalid.append((frame, problems))
            return
        self.messages.append(message)
        self._arrived.set()
