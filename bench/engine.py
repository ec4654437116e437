"""The few Engine API calls the bench makes (aiohttp over the unix socket), and the ceiling reader.

The ceiling reader is what dockerd can serve at best: one HTTP/1.0 request per container for
``/containers/{id}/logs?stdout=1&stderr=1&timestamps=1&follow=0`` on a raw asyncio unix-socket
connection whose protocol only counts the bytes it is handed (``BufferedProtocol`` into one reused
buffer: no parsing, no copies), all containers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
import orjson

SOCKET = "/var/run/docker.sock"
BENCH_LABEL = "logship.bench"
CASE_LABEL = "logship.bench.case"


class DockerError(RuntimeError):
    pass


class Docker:
    """Create, start, wait for and remove the bench's containers. Use as ``async with``."""

    def __init__(self, socket_path: str = SOCKET) -> None:
        self.socket_path = socket_path
        self._session: aiohttp.ClientSession | None = None
        self.prefix = ""
        self.version: dict[str, Any] = {}

    async def __aenter__(self) -> Docker:
        self._session = aiohttp.ClientSession(
            base_url="http://docker", connector=aiohttp.UnixConnector(path=self.socket_path, limit=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        self.version = await self._call("GET", "/version")
        self.prefix = f"/v{self.version['ApiVersion']}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, path: str, params: Mapping[str, str] | None = None,
                    body: Any = None, timeout: float = 120, ok: Iterable[int] = ()) -> Any:
        assert self._session is not None
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else None
        async with self._session.request(method, self.prefix + path, params=params, data=data, headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            raw = await response.read()
            if response.status >= 400 and response.status not in ok:
                raise DockerError(f"{method} {path}: {response.status} {raw[:300].decode(errors='replace')}")
            return orjson.loads(raw) if raw and response.content_type == "application/json" else None

    async def image_exists(self, image: str) -> bool:
        assert self._session is not None
        async with self._session.get(f"{self.prefix}/images/{image}/json") as response:
            return response.status == 200

    async def create(self, name: str, image: str, script: str, labels: Mapping[str, str], *,
                     binds: list[str] | None = None, nano_cpus: int = 0, auto_remove: bool = False) -> str:
        host_config: dict[str, Any] = {"LogConfig": {"Type": "json-file", "Config": {}}, "NetworkMode": "none",
                                       "AutoRemove": auto_remove}
        if binds:
            host_config["Binds"] = binds
        if nano_cpus:
            host_config["NanoCpus"] = nano_cpus
        body = {"Image": image, "Cmd": ["sh", "-c", script], "Labels": dict(labels), "HostConfig": host_config,
                "AttachStdout": False, "AttachStderr": False, "Tty": False}
        answer = await self._call("POST", "/containers/create", {"name": name}, body)
        return str(answer["Id"])

    async def start(self, container_id: str) -> None:
        await self._call("POST", f"/containers/{container_id}/start", ok=(304,))

    async def wait(self, container_id: str, timeout: float = 3600) -> int:
        answer = await self._call("POST", f"/containers/{container_id}/wait", timeout=timeout, ok=(404,))
        return int(answer.get("StatusCode", -1)) if answer else -1

    async def inspect(self, container_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/containers/{container_id}/json")

    async def list_ids(self, label: str, *, running_only: bool = False) -> list[str]:
        params = {"filters": orjson.dumps({"label": [label]}).decode()}
        if not running_only:
            params["all"] = "1"
        return [c["Id"] for c in await self._call("GET", "/containers/json", params)]

    async def remove(self, container_id: str) -> None:
        await self._call("DELETE", f"/containers/{container_id}", {"force": "1", "v": "1"}, ok=(404, 409))

    async def remove_labelled(self, label: str, concurrency: int = 8) -> int:
        """Remove every container with ``label`` (key=value); returns how many there were."""
        ids = await self.list_ids(label)
        gate = asyncio.Semaphore(concurrency)

        async def one(cid: str) -> None:
            async with gate:
                with contextlib.suppress(DockerError, aiohttp.ClientError, asyncio.TimeoutError):
                    await self.remove(cid)

        await asyncio.gather(*(one(cid) for cid in ids))
        return len(ids)


class _CountingProtocol(asyncio.BufferedProtocol):
    """Counts the body bytes of one HTTP/1.0 response; the body ends when dockerd closes."""

    def __init__(self, buffer: bytearray) -> None:
        self._buffer = buffer
        self._head = b""
        self.in_body = False
        self.status = 0
        self.body_bytes = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> bytearray:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self.in_body:
            self.body_bytes += nbytes
            return
        self._head += bytes(self._buffer[:nbytes])
        end = self._head.find(b"\r\n\r\n")
        if end >= 0:
            self.status = int(self._head.split(b" ", 2)[1])
            self.body_bytes = len(self._head) - end - 4
            self.in_body = True

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is not None:
                self.done.set_exception(exc)
            else:
                self.done.set_result(None)


class CeilingReader:
    """Reads the logs of every container at once, as fast as dockerd serves them; bytes only."""

    def __init__(self, api_prefix: str, container_ids: list[str], socket_path: str = SOCKET) -> None:
        self._prefix = api_prefix
        self._ids = container_ids
        self._socket = socket_path
        self._protocols: list[_CountingProtocol] = []

    @property
    def body_bytes(self) -> int:
        """Bytes of log frames received so far (all containers)."""
        return sum(p.body_bytes for p in self._protocols)

    async def run(self) -> tuple[float, int]:
        """Read everything; returns (seconds from the first request to the last byte, body bytes)."""
        loop = asyncio.get_running_loop()
        buffer = bytearray(256 * 1024)  # shared: the bytes are thrown away, only counted
        started = time.monotonic()
        for cid in self._ids:
            protocol = _CountingProtocol(buffer)
            await loop.create_unix_connection(lambda p=protocol: p, self._socket)
            request = (f"GET {self._prefix}/containers/{cid}/logs?stdout=1&stderr=1&timestamps=1&follow=0 "
                       "HTTP/1.0\r\nHost: docker\r\n\r\n").encode()
            assert protocol.transport is not None
            protocol.transport.write(request)
            self._protocols.append(protocol)
        await asyncio.gather(*(p.done for p in self._protocols))
        elapsed = time.monotonic() - started
        bad = [p.status for p in self._protocols if p.status != 200]
        if bad:
            raise DockerError(f"logs answered {bad}")
        return elapsed, self.body_bytes
