"""Discovery: keep exactly one tailer per (wanted) container, whatever the engine does.

The container list is the truth; events only trigger work. Per connection to the engine:

1. Open ``/events`` first (so nothing that happens from now on is missed), then
2. list every container (``/containers/json?all=1``) and reconcile: a tailer for each wanted
   container, removed containers' tailers told to finish and their checkpoints deleted, then
3. apply events as they come: ``start`` wakes or creates a tailer, ``destroy`` removes it,
   ``rename`` and service changes refresh metadata.

The events ``since`` replay holds only 256 events and is empty after a dockerd restart, so it is not
relied on. When the stream or dockerd goes away, discovery reconnects with backoff and lists
again; the tailers resume from their checkpoints on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from logship.backoff import Backoff
from logship.collect.checkpoint import CheckpointStore
from logship.collect.enrich import Enricher
from logship.collect.filters import ContainerFilter
from logship.collect.tailer import Tailer
from logship.engine import EngineClient, EngineError
from logship.metrics import Metrics

log = logging.getLogger(__name__)

_EVENT_ONLY_ATTRIBUTES = {"name", "image", "exitCode", "signal", "oldName", "execID", "execDuration"}
_INOTIFY_LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_instances")


class Supervisor:
    """Owns the tailers, keyed by container id, as tasks of the agent's TaskGroup."""

    def __init__(self, task_group: asyncio.TaskGroup, make_tailer: Callable[[str], Tailer],
                 checkpoints: CheckpointStore, metrics: Metrics, inotify_limit: int | None = None) -> None:
        self._task_group = task_group
        self._make_tailer = make_tailer
        self._checkpoints = checkpoints
        self._metrics = metrics
        self._tailers: dict[str, Tailer] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self._inotify_limit = inotify_limit if inotify_limit is not None else _read_inotify_limit()
        self._inotify_warned = False

    @property
    def tailers(self) -> Mapping[str, Tailer]:
        return self._tailers

    def ensure(self, container_id: str) -> Tailer | None:
        """The container's tailer, started if there was none (None while stopping)."""
        tailer = self._tailers.get(container_id)
        if tailer is None and not self._stopping:
            tailer = self._make_tailer(container_id)
            self._tailers[container_id] = tailer
            self._tasks[container_id] = self._task_group.create_task(
                self._supervise(tailer), name=f"tailer-{container_id[:12]}")
            self._metrics.containers_followed.set(len(self._tailers))
            self._check_inotify()
        return tailer

    def removed(self, container_id: str) -> None:
        """The container was destroyed: its tailer finishes what it can still read, then ends."""
        tailer = self._tailers.get(container_id)
        if tailer is not None:
            tailer.mark_removed()
        else:
            self._checkpoints.remove(container_id)

    async def _supervise(self, tailer: Tailer) -> None:
        """Run a tailer; a bug in one container's tailer must not stop the agent."""
        backoff = Backoff(1.0, 30.0)
        try:
            while True:
                try:
                    await tailer.run()
                    break
                except Exception:
                    self._metrics.tailer_errors.labels(reason="crash").inc()
                    log.exception("tailer of container %s failed; restarting it", tailer.container_id[:12])
                    await asyncio.sleep(backoff.next())
        finally:
            self._tailers.pop(tailer.container_id, None)
            self._tasks.pop(tailer.container_id, None)
            self._metrics.containers_followed.set(len(self._tailers))
        if tailer.state == "removed":
            self._checkpoints.remove(tailer.container_id)

    async def stop(self, timeout: float) -> None:
        """Stop every tailer after its current commit; cancel what is still running after ``timeout``."""
        self._stopping = True
        for container_id, tailer in list(self._tailers.items()):
            if tailer.request_stop():
                self._tasks[container_id].cancel()
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    def _check_inotify(self) -> None:
        if self._inotify_warned or self._inotify_limit is None:
            return
        # dockerd (json-file) spends one inotify instance per follow stream; past the limit the
        # streams silently fall back to polling every 200 ms.
        if len(self._tailers) >= self._inotify_limit - 8:
            self._inotify_warned = True
            log.warning("following %d containers, near fs.inotify.max_user_instances=%d: dockerd needs one "
                        "inotify instance per followed container and silently polls past the limit. "
                        "Raise it on the host: sysctl -w fs.inotify.max_user_instances=8192",
                        len(self._tailers), self._inotify_limit)


def _read_inotify_limit() -> int | None:
    try:
        return int(_INOTIFY_LIMIT_FILE.read_text())
    except (OSError, ValueError):
        return None


class Discovery:
    """Watches the engine's containers and keeps the supervisor's tailers in step."""

    def __init__(self, engine: EngineClient, enricher: Enricher, supervisor: Supervisor,
                 container_filter: ContainerFilter, checkpoints: CheckpointStore, metrics: Metrics) -> None:
        self._engine = engine
        self._enricher = enricher
        self._supervisor = supervisor
        self._filter = container_filter
        self._checkpoints = checkpoints
        self._metrics = metrics
        self.connected = False
        self.last_error = ""

    async def run(self) -> None:
        """Reconcile forever; reconnect with backoff when the engine goes away."""
        backoff = Backoff(0.5, 15.0)
        reported = ""
        while True:
            try:
                await self._session()
                self.last_error = "the events stream ended"
            except EngineError as exc:
                self.last_error = str(exc)
            if self.connected:
                backoff.reset()
                reported = self.last_error
                log.warning("lost the engine's event stream (%s); reconnecting", self.last_error)
            elif self.last_error != reported:  # once per kind of failure, not per retry
                reported = self.last_error
                hint = (" (the socket's group must be one of logship's groups, or run as root: see the README)"
                        if "Permission denied" in self.last_error else "")
                log.warning("cannot reach the engine: %s%s; retrying", self.last_error, hint)
            self.connected = False
            self._metrics.engine_reconnects.inc()
            await asyncio.sleep(backoff.next())

    async def _session(self) -> None:
        filters = {"type": ["container", "service"]}
        async with self._engine.events(filters) as response:
            await self._enricher.load_node()
            self._reconcile(await self._engine.list_containers())
            if not self.connected:
                log.info("connected to the engine at %s (API %s), following %d containers",
                         self._engine.description, self._engine.api_version, len(self._supervisor.tailers))
            self.connected = True
            async for line in response.content:
                if line.strip():
                    self._handle(line)

    def _reconcile(self, containers: list[dict[str, Any]]) -> None:
        existing = set()
        for container in containers:
            container_id = container.get("Id", "")
            existing.add(container_id)
            names = container.get("Names") or [""]
            if self._filter.accepts(container_id, names[0], container.get("Labels") or {},
                                    container.get("Image", "")):
                tailer = self._supervisor.ensure(container_id)
                if tailer is not None:
                    tailer.wake()
        for container_id in set(self._supervisor.tailers) - existing:
            self._supervisor.removed(container_id)
        for container_id in self._checkpoints.container_ids() - existing - set(self._supervisor.tailers):
            self._checkpoints.remove(container_id)

    def _handle(self, line: bytes) -> None:
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.warning("ignoring an event that is not JSON: %r", line[:200])
            return
        kind = event.get("Type")
        action = str(event.get("Action", ""))
        actor = event.get("Actor") or {}
        actor_id = actor.get("ID", "")
        attributes = actor.get("Attributes") or {}
        if kind == "container":
            tailer = self._supervisor.tailers.get(actor_id)
            if action == "start":
                labels = {k: v for k, v in attributes.items() if k not in _EVENT_ONLY_ATTRIBUTES}
                if tailer is None and self._filter.accepts(actor_id, attributes.get("name", ""), labels,
                                                           attributes.get("image", "")):
                    tailer = self._supervisor.ensure(actor_id)
                if tailer is not None:
                    tailer.wake(new_run=True)
            elif action == "die" and tailer is not None:
                tailer.wake(new_run=True)
            elif action == "destroy":
                self._supervisor.removed(actor_id)
            elif action == "rename" and tailer is not None:
                tailer.metadata_changed()
        elif kind == "service" and action in ("update", "remove"):
            self._enricher.forget_service(actor_id)
            prefix = attributes.get("name", "") + "."
            for tailer in list(self._supervisor.tailers.values()):
                if prefix != "." and tailer.name.startswith(prefix):
                    tailer.metadata_changed()


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel a task and wait for it to finish."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
