"""A minimal Docker socket proxy that allows exactly ``ENGINE_API_ALLOWLIST`` (issue 16.3), for tests.

It listens on a Unix socket (as the README's Swarm set-up does: a socket in a host directory, one proxy per
node), forwards each allowed request to the real engine's socket and streams the answer back unchanged
(``/events`` and follow-mode ``/logs`` stay open as long as either side does), and answers everything
else ``403 {"message": "forbidden by the allow-list: METHOD PATH"}`` without forwarding it. Every request
is recorded, allowed or not, in ``requests`` as ``(method, path?query, allowed)``.

It runs its own event loop in a thread, so that a synchronous test can drive a real logship process
through it::

    with AllowListProxy(tmp_path / "proxy.sock") as proxy:
        env = {"DOCKER_HOST": proxy.docker_host}
        ...
        assert proxy.forbidden() == []
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from types import TracebackType

import aiohttp
import orjson
from aiohttp import web

from logship.engine.allowlist import allowed

# Hop-by-hop headers (RFC 9110 §7.6.1) and those aiohttp sets itself from the body it sends.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                         "proxy-connection", "content-length", "host"})


class AllowListProxy:
    """The proxy (see the module docstring). Use as a context manager; ``docker_host`` points at it."""

    def __init__(self, socket_path: Path, upstream: str = "/var/run/docker.sock") -> None:
        self.socket_path = Path(socket_path)
        self.upstream = upstream
        self.requests: list[tuple[str, str, bool]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="allowlist-proxy", daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def docker_host(self) -> str:
        """The ``DOCKER_HOST`` value that points at this proxy."""
        return f"unix://{self.socket_path}"

    def forbidden(self) -> list[tuple[str, str]]:
        """The requests refused (method, path?query)."""
        with self._lock:
            return [(method, path) for method, path, ok in self.requests if not ok]

    def paths(self) -> list[str]:
        """Every request's path?query, in arrival order."""
        with self._lock:
            return [path for _, path, _ in self.requests]

    def __enter__(self) -> AllowListProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        # No connection limit (logship keeps one follow stream per container) and no timeout (streams
        # stay open for as long as the containers run); no decompression: bytes pass through as sent.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=self.upstream, limit=0), auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.UnixSite(self._runner, str(self.socket_path)).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ok = allowed(request.method, request.path)
        with self._lock:
            self.requests.append((request.method, request.path_qs, ok))
        if not ok:
            message = f"forbidden by the allow-list: {request.method} {request.path}"
            return web.Response(status=403, body=orjson.dumps({"message": message}),
                                content_type="application/json")
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(request.method, f"http://docker{request.path_qs}",
                                         headers=headers) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    response.headers.add(name, value)
            await response.prepare(request)
            # Each piece as it comes: a follow stream's frames must reach logship at once. logship closing
            # a stream (a container stopped, a reconnect) ends the copy; that is no error.
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                async for piece in upstream.content.iter_any():
                    await response.write(piece)
                await response.write_eof()
            return response
