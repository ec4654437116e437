"""Health and metrics over HTTP on LOGSHIP_LISTEN.

- ``/healthz``: 200 while the process and its event loop are alive.
- ``/readyz``: 200 when the engine answers, the buffer is open and writes to the data directory
  work (``writes``, see ``write_errors.py``), else 503; the JSON body also says each sink's last
  outcome and error.
- ``/metrics``: Prometheus text format (``prometheus_client``), from the agent's own registry.
- ``/debug/tailers``: every followed container with its state, checkpoint and last error.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from logship.metrics import Metrics

log = logging.getLogger(__name__)


class Observed(Protocol):
    """What the server reads of the agent (``logship.agent.Agent``): the server does not import the agent,
    which owns it."""

    metrics: Metrics

    def readiness(self) -> dict[str, Any]:
        """The /readyz document; its ``ready`` says 200 or 503."""

    def refresh_gauges(self) -> None:
        """Compute the gauges read on scrape."""

    def status(self) -> dict[str, Any]:
        """Its ``tailers`` are the /debug/tailers document."""


def _json(document: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(document, option=orjson.OPT_INDENT_2), status=status,
                        content_type="application/json")


class HealthServer:
    """The agent's HTTP endpoints; ``start`` binds, ``aclose`` unbinds."""

    def __init__(self, agent: Observed, host: str, port: int) -> None:
        self._agent = agent
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/debug/tailers", self._tailers)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        # The bound port when LISTEN asks for port 0 (the runner's addresses are those of its sites).
        addresses = self._runner.addresses
        port = addresses[0][1] if addresses else self._port
        self.url = f"http://{self._host}:{port}"
        log.info("health and metrics on %s", self.url)

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        readiness = self._agent.readiness()
        return _json(readiness, 200 if readiness["ready"] else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        self._agent.refresh_gauges()
        body = generate_latest(self._agent.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _tailers(self, request: web.Request) -> web.Response:
        return _json(self._agent.status()["tailers"])
