"""A small Docker Engine API client on aiohttp.

Why not docker-py or aiodocker: logship needs the stdout/stderr identity of every frame, raw bytes
(no silent UTF-8 dropping), nanosecond ``since`` strings and a distinction between an error and a
stream that ended; the wrappers lose all four (``../shared/reference/engine-api.md`` §10).

Connections: ``unix://`` (default ``/var/run/docker.sock``) or ``tcp://`` with TLS read from
``DOCKER_TLS_VERIFY`` / ``DOCKER_CERT_PATH`` as the docker CLI reads them. The connector has no
connection limit: aiohttp's default of 100 silently stalls the 101st follow stream.

The API version is negotiated once from ``GET /version`` and every later path is prefixed with it.
Every failure is raised as an ``EngineError`` that says whether it is retriable. Every request is one of
``allowlist.ENGINE_API_ALLOWLIST`` (all GET): a new one must be added there, for socket proxies.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import orjson

from logship.engine.errors import EngineError, error_for_status
from logship.settings.types import EngineConfig

log = logging.getLogger(__name__)

# The newest API version logship knows; an older engine is spoken to in its own version.
MAX_API_VERSION = (1, 45)
MIN_API_VERSION = (1, 24)
# Raised by aiohttp for a refused, reset or cut connection (a missing socket file included).
_Shape = TypeVar("_Shape", dict[str, Any], list[dict[str, Any]])
_CONNECTION_ERRORS = (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError)


def _version_tuple(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def _tls_context(config: EngineConfig) -> ssl.SSLContext:
    cert_path = config.cert_path or Path.home() / ".docker"
    context = ssl.create_default_context(cafile=str(cert_path / "ca.pem"))
    context.load_cert_chain(str(cert_path / "cert.pem"), str(cert_path / "key.pem"))
    return context


class EngineClient:
    """Typed access to the few Engine API endpoints logship uses. Use as ``async with``."""

    def __init__(self, config: EngineConfig) -> None:
        self._config = config
        self._session: aiohttp.ClientSession | None = None
        self._session_http10: aiohttp.ClientSession | None = None
        self._prefix = ""
        self.api_version = ""

    @property
    def description(self) -> str:
        """Where the engine is, for log lines."""
        return self._config.host

    def _connector(self) -> tuple[aiohttp.BaseConnector, str]:
        host = self._config.host
        if host.startswith("unix://"):
            return aiohttp.UnixConnector(path=host.removeprefix("unix://"), limit=0), "http://docker"
        address = host.split("://", 1)[1]
        if self._config.tls_verify:
            return aiohttp.TCPConnector(limit=0, ssl=_tls_context(self._config)), f"https://{address}"
        return aiohttp.TCPConnector(limit=0), f"http://{address}"

    async def __aenter__(self) -> EngineClient:
        connector, base_url = self._connector()
        # No total timeout: log and event streams stay open for days. Plain calls set their own.
        options: dict[str, Any] = {
            "base_url": base_url, "connector": connector, "auto_decompress": False,
            "timeout": aiohttp.ClientTimeout(total=None, sock_connect=10)}
        self._session = aiohttp.ClientSession(**options)
        # aiohttp sets the HTTP version per session; this one shares the connector.
        self._session_http10 = aiohttp.ClientSession(
            **options, version=aiohttp.HttpVersion10, connector_owner=False)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection."""
        if self._session_http10 is not None:
            await self._session_http10.close()
            self._session_http10 = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("EngineClient used outside `async with`")
        return self._session

    async def negotiate(self) -> str:
        """Ask the engine for its API version and speak min(its, ours) from now on."""
        version = await self._request_json("/version", None, timeout=15)
        server = _version_tuple(str(version.get("ApiVersion", "1.24")))
        if server < MIN_API_VERSION:
            raise EngineError(f"engine API {server[0]}.{server[1]} is older than the 1.24 logship needs",
                              retriable=False)
        chosen = min(server, MAX_API_VERSION)
        self.api_version = f"{chosen[0]}.{chosen[1]}"
        self._prefix = f"/v{self.api_version}"
        return self.api_version

    async def get_json(self, path: str, params: Mapping[str, str] | None = None, timeout: float = 30) -> Any:
        """GET a versioned path and decode its JSON body."""
        if not self._prefix:
            await self.negotiate()
        return await self._request_json(self._prefix + path, params, timeout)

    async def _request_json(self, path: str, params: Mapping[str, str] | None, timeout: float) -> Any:
        try:
            async with self.session.get(path, params=params,
                                        timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                body = await response.read()
                if response.status >= 400:
                    raise error_for_status(response.status, _message(body), path)
        except EngineError:
            raise
        except _CONNECTION_ERRORS as exc:
            raise EngineError(f"{path}: engine unreachable at {self._config.host}: {_describe(exc)}",
                              retriable=True) from exc
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise EngineError(f"{path}: the engine answered with invalid JSON", retriable=True) from exc

    @asynccontextmanager
    async def stream(self, path: str, params: Mapping[str, str] | None = None, *,
                     http10: bool = False) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a streaming GET and yield the response; read its body from ``response.content``.

        Closing the response (``response.close()``) from another task ends a pending read: that is
        how a tailer drops a follow stream that belongs to a container run that has ended.

        ``http10``: ask in HTTP/1.0, so that dockerd sends the body unchunked and ends it by closing
        the connection. dockerd sends every log frame as its own HTTP chunk; reading an unchunked body
        avoids the per-chunk work of the HTTP parser (about a quarter of the collector's CPU).
        """
        if not self._prefix:
            await self.negotiate()
        full_path = self._prefix + path
        session = self._session_http10 if http10 else self._session
        if session is None:
            raise RuntimeError("EngineClient used outside `async with`")
        try:
            async with session.get(full_path, params=params) as response:
                if response.status >= 400:
                    raise error_for_status(response.status, _message(await response.read()), full_path)
                yield response
        except EngineError:
            raise
        except _CONNECTION_ERRORS as exc:
            raise EngineError(f"{full_path}: stream failed: {_describe(exc)}", retriable=True) from exc

    # --- the endpoints logship uses -------------------------------------------------------------

    async def ping(self) -> None:
        """Raise EngineError unless the engine answers ``/_ping``."""
        try:
            async with self.session.get("/_ping", timeout=aiohttp.ClientTimeout(total=5)) as response:
                if response.status != 200:
                    raise error_for_status(response.status, _message(await response.read()), "/_ping")
        except EngineError:
            raise
        except _CONNECTION_ERRORS as exc:
            raise EngineError(f"engine unreachable at {self._config.host}: {_describe(exc)}",
                              retriable=True) from exc

    async def info(self) -> dict[str, Any]:
        return _shaped(await self.get_json("/info"), dict, "/info")

    async def list_containers(self) -> list[dict[str, Any]]:
        return _shaped(await self.get_json("/containers/json", {"all": "1"}), list, "/containers/json")

    async def inspect_container(self, container_id: str) -> dict[str, Any]:
        path = f"/containers/{quote(container_id)}/json"
        return _shaped(await self.get_json(path), dict, path)

    async def inspect_service(self, service_id: str) -> dict[str, Any]:
        path = f"/services/{quote(service_id)}"
        return _shaped(await self.get_json(path), dict, path)

    def events(self, filters: Mapping[str, list[str]]) -> Any:
        """The ``/events`` stream (newline-delimited JSON), as an async context manager."""
        return self.stream("/events", {"filters": orjson.dumps(filters).decode()})

    def logs(self, container_id: str, *, follow: bool, since: str, tail: int | None = None) -> Any:
        """A container's log stream with timestamps, both streams, from ``since`` (inclusive).

        ``tail``: only the last ``tail`` entries of the log, then ``since`` among them (dockerd applies
        ``tail`` first: ``../shared/reference/engine-api.md`` §2). Without it dockerd finds ``since`` by
        reading the whole log from its start, which for a long log costs seconds of its CPU."""
        params = {"stdout": "1", "stderr": "1", "timestamps": "1", "follow": "1" if follow else "0",
                  "since": since}
        if tail is not None:
            params["tail"] = str(tail)
        return self.stream(f"/containers/{quote(container_id)}/logs", params, http10=True)


def _message(body: bytes) -> str:
    try:
        decoded = orjson.loads(body)
        if isinstance(decoded, dict) and "message" in decoded:
            return str(decoded["message"])
    except orjson.JSONDecodeError:
        pass
    return body[:200].decode("utf-8", "replace").strip() or "(empty body)"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _shaped(value: Any, shape: type[_Shape], path: str) -> _Shape:
    """``value`` if the engine answered the JSON shape its API documents for ``path``; a proxy or a broken
    engine answering another shape is an error the caller retries, not a crash deep in the collector."""
    if not isinstance(value, shape):
        raise EngineError(f"{path}: the engine answered a JSON {type(value).__name__}, not a {shape.__name__}",
                          retriable=True)
    return value
