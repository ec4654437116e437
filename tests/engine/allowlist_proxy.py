"""Docker socket proxies that allow exactly ``ENGINE_API_ALLOWLIST`` (issue 16.3), for tests.

``AllowListProxy`` is a minimal one in aiohttp, with the list itself as its rule; ``HaproxyProxy`` runs
HAProxy with the configuration the README gives users (configs/compose/socket-proxy/haproxy.cfg).

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
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from logship.engine.allowlist import allowed
from tests.support import REPO_ROOT

# Hop-by-hop headers (RFC 9110 §7.6.1) and those aiohttp sets itself from the body it sends.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                         "proxy-connection", "content-length", "host"})


class AllowListProxy:
    """The proxy (see the module docstring). Use as a context manager; ``docker_host`` points at it."""

    def __init__(self, socket_path: Path, upstream: str = "/var/run/docker.sock") -> None:
        self.socket_path = Path(socket_path)
        self.upstream = upstream
        self.requests: list[tuple[str, str, bool]] = []
        self._active: dict[int, list[Any]] = {}  # request number → [path, bytes forwarded, stage], for failures
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

    def active(self) -> list[list[Any]]:
        """The requests being forwarded now: [path, bytes forwarded so far, stage]."""
        with self._lock:
            return [list(entry) for entry in self._active.values()]

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
            number = len(self.requests)
        if not ok:
            message = f"forbidden by the allow-list: {request.method} {request.path}"
            return web.Response(status=403, body=orjson.dumps({"message": message}),
                                content_type="application/json")
        try:
            return await self._forward(request, number)
        finally:
            with self._lock:
                self._active.pop(number, None)

    async def _forward(self, request: web.Request, number: int) -> web.StreamResponse:
        assert self._session is not None
        state: list[Any] = [request.path_qs, 0, "connecting"]
        with self._lock:
            self._active[number] = state
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(request.method, f"http://docker{request.path_qs}",
                                         headers=headers) as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    response.headers.add(name, value)
            if request.version < aiohttp.HttpVersion11:
                # HTTP/1.0 (logship's /logs): a body without length ends when the connection closes. aiohttp
                # would keep it open when the request asked for keep-alive, and the reader would wait forever.
                response.force_close()
            await response.prepare(request)
            state[2] = "streaming"
            # Each piece as it comes: a follow stream's frames must reach logship at once. logship closing
            # a stream (a container stopped, a reconnect) ends the copy; that is no error.
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                async for piece in upstream.content.iter_any():
                    state[1] += len(piece)
                    await response.write(piece)
                state[2] = "ending"
                await response.write_eof()
            return response


class HaproxyProxy:
    """HAProxy with the shipped configs/compose/socket-proxy/haproxy.cfg, as a real process; the same
    interface as ``AllowListProxy``, its requests read from HAProxy's log (one line per request, written
    when the request ends: a stream's when it closes)."""

    CONFIG = REPO_ROOT / "configs" / "compose" / "socket-proxy" / "haproxy.cfg"
    _LINE = re.compile(r'^\S+ \[[^\]]+\] \S+ \S+ \S+ (-?\d+) .*"(\S+) (\S+) HTTP/[0-9.]+"$')

    def __init__(self, socket_path: Path, upstream: str = "/var/run/docker.sock") -> None:
        self.socket_path = Path(socket_path)
        self.log_path = self.socket_path.with_suffix(".log")
        self._env = {**os.environ, "PROXY_SOCKET": str(self.socket_path), "DOCKER_SOCKET": upstream}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def requests(self) -> list[tuple[str, str, bool]]:
        """(method, path?query, allowed) of every request HAProxy has logged so far."""
        found = []
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        for line in text.splitlines():
            match = self._LINE.match(line)
            if match:
                status, method, path = match.groups()
                found.append((method, path, status != "403"))
        return found

    def forbidden(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, ok in self.requests if not ok]

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.requests]

    def __enter__(self) -> HaproxyProxy:
        binary = shutil.which("haproxy")
        assert binary, "haproxy is needed (apt-get install haproxy; .ci/lib.sh installs it)"
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen([binary, "-db", "-f", str(self.CONFIG)], env=self._env, stdout=log,
                                             stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self.socket_path.exists():
            assert self._process.poll() is None, f"haproxy exited: {self.log_path.read_text()}"
            assert time.monotonic() < deadline, "haproxy did not create its socket"
            time.sleep(0.05)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
