"""What the HTTP contract fakes share: the server's life cycle, scripted answers and the Authorization check.

``FakeServer`` is an aiohttp server on ``host``:``port`` (127.0.0.1 and a free port by default; the port
found is kept, so a fake stopped and started again listens where it did), HTTPS with ``ssl_context``.
A fake adds its routes in ``routes`` and gives its path in ``url_path`` (``url`` is the base URL plus
it). Request bodies reach the handlers as sent (``auto_decompress=False``): a fake decodes
``Content-Encoding`` itself, as its store does, to check it; bodies up to 1 GiB are read.

Scripted answers: ``script(answer, times)`` queues ``times`` copies of an answer after those queued
already (each fake's ``fail`` builds them: an ``Answer``, or the fake's own type when its answers carry
more), ``next_scripted()`` takes the next one (None when there is none), ``clear()`` forgets them and
``scripted`` counts them. ``require_authorization``: ``unauthorized(request)`` says whether a request
lacks exactly that ``Authorization`` header (how a fake then answers is its store's business). What a
fake received is kept by the fake itself, in the record type its tests read.
"""

from __future__ import annotations

import ssl
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Generic, Self, TypeVar

from aiohttp import web

_Scripted = TypeVar("_Scripted")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer of a fake (scripted or not)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class FakeServer(Generic[_Scripted]):
    """An aiohttp server for a fake store (see the module docstring). Use as ``async with Fake() as fake``."""

    url_path = ""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None, *,
                 shutdown_timeout: float = 1.0) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.shutdown_timeout = shutdown_timeout  # how long stop() waits for requests being answered
        self.require_authorization: str | None = None
        self._script: deque[_Scripted] = deque()
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        """Add the fake's routes to ``app``."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """``http(s)://host:port``."""
        return f"{'https' if self.ssl_context else 'http'}://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The URL the sink is configured with."""
        return self.base_url + self.url_path

    @property
    def listening(self) -> bool:
        """Whether the fake accepts connections (started and not stopped)."""
        return self._runner is not None

    async def start(self) -> None:
        """Listen (on a free port the first time when ``port`` is 0, then on the same one)."""
        app = web.Application(client_max_size=1024**3)
        self.routes(app)
        runner = web.AppRunner(app, access_log=None, auto_decompress=False, shutdown_timeout=self.shutdown_timeout)
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context).start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # --- scripting ------------------------------------------------------------------------------

    def script(self, answer: _Scripted, times: int = 1) -> None:
        """Give ``answer`` to the next ``times`` requests that take scripted answers, after those queued."""
        self._script.extend(answer for _ in range(times))

    def next_scripted(self) -> _Scripted | None:
        """The next scripted answer (used up), or None when there is none."""
        return self._script.popleft() if self._script else None

    def clear(self) -> None:
        """Forget the scripted answers not used yet."""
        self._script.clear()

    @property
    def scripted(self) -> int:
        """Scripted answers not used yet."""
        return len(self._script)

    def unauthorized(self, request: web.Request) -> bool:
        """Whether ``require_authorization`` is set and ``request`` lacks exactly that Authorization header."""
        wanted = self.require_authorization
        return wanted is not None and request.headers.get("Authorization") != wanted
