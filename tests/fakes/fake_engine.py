"""A contract fake of the Docker Engine API (dockerd 20.10, API 1.41) on a Unix socket.

It answers the endpoints logship uses the way ``../shared/reference/engine-api.md`` records dockerd
20.10.24 answering them:

- ``GET|HEAD /_ping``: ``OK`` with the header ``Api-Version: 1.41`` (every answer carries it, with
  ``Server``, ``Ostype`` and ``Docker-Experimental`` as dockerd sends them);
- ``GET /version``: ``{"ApiVersion": "1.41", "MinAPIVersion": "1.12", ...}``;
- ``GET /info``: ``{"Name": "fakehost", "ID": "ENGINE:ID", "Swarm": {"NodeID": "", "ControlAvailable": false}}``
  (a daemon that is not in a swarm);
- ``GET /containers/json``: the configured containers, running ones only unless ``all=1`` (``Id``,
  ``Names``, ``Image``, ``State``, ``Status``, ``Labels``, ...; never ``Tty`` nor ``LogConfig``, §7);
- ``GET /containers/{id}/json``: inspect (``Id``, ``Name``, ``Config.Tty/Image/Labels``, ``State.Running``,
  ``HostConfig.LogConfig.Type``); ``404 {"message":"No such container: x"}`` for an unknown id or name;
- ``GET /containers/{id}/logs``: the bytes the test scripted for that container, see below;
- ``GET /events``: kept open (chunked, one JSON document and ``\\n`` per event); the test pushes events
  with ``push_event``, or with ``start_container``, ``stop_container``, ``restart_container`` and
  ``remove_container``, which also change the container's state in the order dockerd reports it (§6).
  Only the ``type`` filter is applied; ``since``/``until`` are ignored (no replay).

Every path is served unversioned and under ``/v<version>``; a version above 1.41 gets dockerd's
``400 client version 1.45 is too new. Maximum supported API version is 1.41``.

Logs (§1, §5, §8): each ``/logs`` request is recorded in ``logs_requests`` (container, query parameters,
HTTP version) and answered with the container's next scripted body (``set_logs(id, body1, body2, ...)``:
request *n* gets body *n*, the last one is repeated; a body is ``bytes`` or a list of pieces written one
after the other). The fake does not apply ``since``, ``until``, ``tail`` or ``timestamps``: the test
scripts exactly the bytes dockerd would send (remember that ``since`` is inclusive). An HTTP/1.0 request
gets the raw body unchunked, ended by closing the connection; HTTP/1.1 gets it chunked. A ``follow=1``
stream of a *running* container stays open after its body, as dockerd's does, and carries what
``feed_logs`` sends, until the container stops or is removed (then it ends cleanly). A container added
with ``unreadable=True`` answers ``501 {"message":"configured logging driver does not support reading"}``
(``--log-driver none``). ``stdout=0&stderr=0`` gets 400, an unknown container 404.

Known differences from dockerd: streamed answers carry ``Content-Type: application/octet-stream``
(aiohttp adds it; dockerd 20.10 sends no content type on ``/logs``); container lookup accepts the full id,
a unique id prefix or the name, like dockerd, but ``/containers/json`` ignores ``filters``.

Use::

    async with FakeEngine(tmp_path / "docker.sock") as engine:
        web = engine.add_container("web", running=False, logs=frame_bytes)
        environ = {"DOCKER_HOST": engine.docker_host, ...}
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

API_VERSION = "1.41"
MIN_API_VERSION = "1.12"
ENGINE_VERSION = "20.10.24+dfsg1"
SERVER_HEADER = f"Docker/{ENGINE_VERSION} (linux)"
UNREADABLE_MESSAGE = "configured logging driver does not support reading"

Body = bytes | Sequence[bytes]


def container_id_for(name: str) -> str:
    """A stable 64-hex-digit container id for ``name``."""
    return hashlib.sha256(f"container:{name}".encode()).hexdigest()


@dataclass
class FakeContainer:
    """One container of the fake engine; tests may change its fields between requests."""

    id: str
    name: str
    image: str = "busybox:local"
    labels: dict[str, str] = field(default_factory=dict)
    running: bool = True
    created: bool = False  # created, not started yet (``docker run`` between its create and its start)
    tty: bool = False
    log_driver: str = "json-file"
    unreadable: bool = False
    exit_code: int = 0
    bodies: list[Body] = field(default_factory=list)
    logs_served: int = 0
    _follows: list[asyncio.Queue[bytes | None]] = field(default_factory=list, repr=False)

    @property
    def state(self) -> str:
        return "running" if self.running else "created" if self.created else "exited"

    def summary(self) -> dict[str, Any]:
        """The entry of ``GET /containers/json``."""
        return {
            "Id": self.id, "Names": [f"/{self.name}"], "Image": self.image, "ImageID": _image_id(self.image),
            "Command": "sh -c 'true'", "Created": 1795625400, "Ports": [], "Labels": dict(self.labels),
            "State": self.state,
            "Status": "Up 5 minutes" if self.running else f"Exited ({self.exit_code}) 2 minutes ago",
            "HostConfig": {"NetworkMode": "default"},
            "NetworkSettings": {"Networks": {}}, "Mounts": [],
        }

    def inspect(self) -> dict[str, Any]:
        """The document of ``GET /containers/{id}/json`` (the fields logship reads, and their neighbours)."""
        return {
            "Id": self.id,
            "Created": "2026-11-25T16:30:00.000000000Z",
            "Path": "sh", "Args": ["-c", "true"],
            "State": {
                "Status": self.state, "Running": self.running, "Paused": False, "Restarting": False,
                "OOMKilled": False, "Dead": False, "Pid": 4242 if self.running else 0,
                "ExitCode": 0 if self.running else self.exit_code, "Error": "",
                "StartedAt": "2026-11-25T16:30:01.000000000Z",
                "FinishedAt": "0001-01-01T00:00:00Z" if self.running else "2026-11-25T16:40:00.000000000Z",
            },
            "Image": _image_id(self.image),
            "LogPath": (f"/var/lib/docker/containers/{self.id}/{self.id}-json.log"
                        if self.log_driver == "json-file" else ""),
            "Name": f"/{self.name}",
            "RestartCount": 0, "Driver": "overlay2", "Platform": "linux",
            "HostConfig": {"LogConfig": {"Type": self.log_driver, "Config": {}}, "NetworkMode": "default",
                           "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}},
            "Config": {"Hostname": self.id[:12], "Tty": self.tty, "OpenStdin": False, "AttachStdout": True,
                       "AttachStderr": True, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"],
                       "Cmd": ["sh", "-c", "true"], "Image": self.image, "Labels": dict(self.labels)},
            "NetworkSettings": {"Networks": {}},
        }


@dataclass(frozen=True)
class LogsRequest:
    """One ``/containers/{id}/logs`` request as the fake received it."""

    container_id: str
    params: dict[str, str]
    http_version: str
    time: float

    @property
    def since(self) -> str | None:
        return self.params.get("since")

    @property
    def follow(self) -> bool:
        return _truthy(self.params.get("follow"))

    @property
    def timestamps(self) -> bool:
        return _truthy(self.params.get("timestamps"))


class FakeEngine:
    """The fake dockerd (see the module docstring). Use as ``async with FakeEngine(path) as engine``."""

    def __init__(self, socket_path: Path, *, name: str = "fakehost", engine_id: str = "ENGINE:ID") -> None:
        self.socket_path = Path(socket_path)
        self.name = name
        self.engine_id = engine_id
        self.containers: dict[str, FakeContainer] = {}
        self.logs_requests: list[LogsRequest] = []
        # Every request as "METHOD /path?query", in arrival order.
        self.requests: list[str] = []
        self._event_queues: list[tuple[asyncio.Queue[dict[str, Any] | None], set[str]]] = []
        self._runner: web.AppRunner | None = None
        self._closing = False

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def docker_host(self) -> str:
        """The ``DOCKER_HOST`` value that points at this fake."""
        return f"unix://{self.socket_path}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._record])
        app.on_response_prepare.append(_docker_headers)
        routes = [
            ("/_ping", self._ping), ("/version", self._version), ("/info", self._info),
            ("/containers/json", self._list), ("/containers/{id}/json", self._inspect),
            ("/containers/{id}/logs", self._logs), ("/events", self._events),
        ]
        for path, handler in routes:
            app.router.add_get(path, handler)
            app.router.add_get("/v{version:[0-9]+\\.[0-9]+}" + path, handler)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, handle_signals=False)
        await self._runner.setup()
        site = web.UnixSite(self._runner, str(self.socket_path))
        await site.start()

    async def close(self) -> None:
        """End every open stream cleanly, then stop listening."""
        self._closing = True
        for queue, _ in self._event_queues:
            queue.put_nowait(None)
        for container in self.containers.values():
            _end_follows(container)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeEngine:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()

    # --- scripting ------------------------------------------------------------------------------

    def add_container(self, name: str, *, running: bool = True, tty: bool = False, image: str = "busybox:local",
                      labels: dict[str, str] | None = None, log_driver: str | None = None,
                      unreadable: bool = False, logs: Body | None = None, container_id: str | None = None,
                      exit_code: int = 0) -> FakeContainer:
        """Configure a container (no event is sent: it existed before). ``logs``: its first logs body."""
        container = FakeContainer(
            id=container_id or container_id_for(name), name=name, image=image, labels=dict(labels or {}),
            running=running, tty=tty, log_driver=log_driver or ("none" if unreadable else "json-file"),
            unreadable=unreadable, exit_code=exit_code, bodies=[logs] if logs is not None else [])
        self.containers[container.id] = container
        return container

    def set_logs(self, container_id: str, *bodies: Body) -> None:
        """The bodies of the container's next logs requests, in order; the last one is repeated."""
        container = self.containers[container_id]
        container.bodies = list(bodies)
        container.logs_served = 0

    async def feed_logs(self, container_id: str, data: bytes) -> None:
        """Send ``data`` on every open follow stream of the container (new entries being logged)."""
        for queue in self.containers[container_id]._follows:
            queue.put_nowait(data)
        await asyncio.sleep(0)

    def requests_for(self, container_id: str) -> list[LogsRequest]:
        """The logs requests made for one container."""
        return [r for r in self.logs_requests if r.container_id == container_id]

    @property
    def event_subscribers(self) -> int:
        """How many ``/events`` streams are open."""
        return len(self._event_queues)

    def push_event(self, event: dict[str, Any]) -> None:
        """Send ``event`` (a dockerd event document) to every open ``/events`` stream it passes."""
        for queue, types in self._event_queues:
            if not types or event.get("Type") in types:
                queue.put_nowait(event)

    def container_event(self, container: FakeContainer, action: str, **attributes: str) -> dict[str, Any]:
        """A container event as dockerd 20.10 sends it (§6): labels, ``image`` and ``name`` in the attributes."""
        now = time.time_ns()
        return {
            "status": action, "id": container.id, "from": container.image, "Type": "container", "Action": action,
            "Actor": {"ID": container.id, "Attributes": {**container.labels, "image": container.image,
                                                         "name": container.name, **attributes}},
            "scope": "local", "time": now // 1_000_000_000, "timeNano": now,
        }

    def start_container(self, container_id: str) -> None:
        """``docker start``: the container runs; event ``start``."""
        container = self.containers[container_id]
        container.running, container.created = True, False
        self.push_event(self.container_event(container, "start"))

    def stop_container(self, container_id: str, exit_code: int = 0) -> None:
        """``docker stop``: follow streams end cleanly; events ``kill``, ``die``, ``stop``."""
        container = self.containers[container_id]
        container.running = False
        container.exit_code = exit_code
        _end_follows(container)
        self.push_event(self.container_event(container, "kill", signal="15"))
        self.push_event(self.container_event(container, "die", exitCode=str(exit_code)))
        self.push_event(self.container_event(container, "stop"))

    def restart_container(self, container_id: str) -> None:
        """``docker restart``: ``kill``, ``die``, ``stop``, ``start``, ``restart``."""
        self.stop_container(container_id, exit_code=137)
        self.start_container(container_id)
        self.push_event(self.container_event(self.containers[container_id], "restart"))

    def remove_container(self, container_id: str) -> None:
        """``docker rm``: the container is gone (404 from now on); event ``destroy``."""
        container = self.containers.pop(container_id)
        container.running = False
        _end_follows(container)
        self.push_event(self.container_event(container, "destroy"))

    # --- handlers -------------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path_qs}")
        version = request.match_info.get("version")
        if version is not None:
            if _version(version) > _version(API_VERSION):
                return _error(400, f"client version {version} is too new. Maximum supported API version is "
                                   f"{API_VERSION}")
            if _version(version) < _version(MIN_API_VERSION):
                return _error(400, f"client version {version} is too old. Minimum supported API version is "
                                   f"{MIN_API_VERSION}, please upgrade your client to a newer version")
        return await handler(request)

    async def _ping(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="OK", headers={"Cache-Control": "no-cache, no-store, must-revalidate",
                                                "Pragma": "no-cache"})

    async def _version(self, request: web.Request) -> web.StreamResponse:
        return _json({
            "Platform": {"Name": ""}, "Version": ENGINE_VERSION, "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION, "GitCommit": "5d6db84", "GoVersion": "go1.19.8", "Os": "linux",
            "Arch": "amd64", "KernelVersion": "6.1.0", "BuildTime": "2023-05-18T16:30:00.000000000+00:00",
            "Components": [{"Name": "Engine", "Version": ENGINE_VERSION,
                            "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION}}],
        })

    async def _info(self, request: web.Request) -> web.StreamResponse:
        return _json({
            "ID": self.engine_id, "Name": self.name, "ServerVersion": ENGINE_VERSION,
            "Containers": len(self.containers),
            "ContainersRunning": sum(c.running for c in self.containers.values()),
            "OperatingSystem": "Debian GNU/Linux 12 (bookworm)", "OSType": "linux", "LoggingDriver": "json-file",
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                      "Error": "", "RemoteManagers": None},
        })

    async def _list(self, request: web.Request) -> web.StreamResponse:
        everything = _truthy(request.query.get("all"))
        return _json([c.summary() for c in self.containers.values() if everything or c.running])

    async def _inspect(self, request: web.Request) -> web.StreamResponse:
        container = self._find(request.match_info["id"])
        if container is None:
            return _error(404, f"No such container: {request.match_info['id']}")
        return _json(container.inspect())

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        reference = request.match_info["id"]
        container = self._find(reference)
        if container is None:
            return _error(404, f"No such container: {reference}")
        params = dict(request.query)
        self.logs_requests.append(LogsRequest(container.id, params, f"{request.version[0]}.{request.version[1]}",
                                              time.monotonic()))
        if not (_truthy(params.get("stdout")) or _truthy(params.get("stderr"))):
            return _error(400, "Bad parameters: you must choose at least one stream")
        if container.unreadable:
            return _error(501, UNREADABLE_MESSAGE)
        body: Body = b""
        if container.bodies:
            body = container.bodies[min(container.logs_served, len(container.bodies) - 1)]
        container.logs_served += 1
        follow = _truthy(params.get("follow")) and container.running and not self._closing
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        if follow:
            container._follows.append(queue)
        response = web.StreamResponse()
        if request.version < (1, 1):
            response.force_close()  # HTTP/1.0: no chunking, the end of the body is the end of the connection
        try:
            await response.prepare(request)
            for piece in [body] if isinstance(body, bytes | bytearray) else body:
                if piece:
                    await response.write(piece)
            while follow:
                data = await queue.get()
                if data is None:
                    break
                await response.write(data)
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        finally:
            with contextlib.suppress(ValueError):
                container._follows.remove(queue)
        return response

    async def _events(self, request: web.Request) -> web.StreamResponse:
        types: set[str] = set()
        if "filters" in request.query:
            try:
                filters = json.loads(request.query["filters"])
            except ValueError:
                return _error(400, "invalid filter")
            types = set(filters.get("type") or [])
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        entry = (queue, types)
        self._event_queues.append(entry)
        response = web.StreamResponse()
        try:
            await response.prepare(request)  # dockerd flushes the headers at once
            while True:
                event = await queue.get()
                if event is None:
                    break
                await response.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
            await response.write_eof()
        except ConnectionError:
            pass
        finally:
            self._event_queues.remove(entry)
        return response

    def _find(self, reference: str) -> FakeContainer | None:
        if reference in self.containers:
            return self.containers[reference]
        for container in self.containers.values():
            if container.name == reference.lstrip("/"):
                return container
        matches = [c for c in self.containers.values() if c.id.startswith(reference)]
        return matches[0] if len(matches) == 1 and reference else None


async def _docker_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Api-Version"] = API_VERSION
    response.headers["Docker-Experimental"] = "false"
    response.headers["Ostype"] = "linux"
    response.headers["Server"] = SERVER_HEADER


def _json(document: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(document, separators=(",", ":")).encode() + b"\n",
                        content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"message": message}, status)


def _end_follows(container: FakeContainer) -> None:
    for queue in container._follows:
        queue.put_nowait(None)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def _image_id(image: str) -> str:
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()
