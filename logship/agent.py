"""The agent: one TaskGroup owning discovery, the tailers, the shippers and the checkpoint saver.

Lifecycle:
- start: open the buffer (recovering it), load checkpoints and move each container's position to
  its last line in the buffer where that is later (``CheckpointStore.catch_up``), start the sinks,
  connect to the engine (retrying in the background while it is away), start one shipper per sink.
- run: discovery keeps one tailer per container; every ``LOGSHIP_BUFFER_FSYNC_INTERVAL`` the
  checkpoints are snapshotted, the buffer fsynced, then the snapshot saved (never ahead of disk).
  A write that fails (buffer append, checkpoint save) is counted, logged once per episode and makes
  ``/readyz`` not ready until writing works again (``WriteErrors``); nothing is lost meanwhile.
- drain (first SIGTERM/SIGINT, within ``LOGSHIP_SHUTDOWN_TIMEOUT``): stop reading, save the final
  checkpoints, let the shippers deliver what they can, persist the ledgers. What was not delivered
  stays in the buffer for the next start.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from typing import Any

from logship.buffer import DiskBuffer
from logship.collect.checkpoint import BufferedPositions, CheckpointStore
from logship.collect.discovery import Discovery, Supervisor
from logship.collect.enrich import Enricher
from logship.collect.filters import ContainerFilter, own_container_id
from logship.collect.tailer import Tailer
from logship.config import Config
from logship.engine import EngineClient
from logship.metrics import TAILER_STATES, Metrics
from logship.server import HealthServer
from logship.ship.shipper import Shipper
from logship.sinks.base import Sink
from logship.sinks.registry import build_sinks
from logship.write_errors import CHECKPOINTS, WriteErrors

log = logging.getLogger(__name__)

# Buffer segments last written after the checkpoint file's snapshot_at, less this (clock and mtime
# granularity), may hold lines the file does not cover: they are read for the start positions.
TAIL_MARGIN_SECONDS = 2.0


class Agent:
    """Collects every container's logs into the buffer and ships them to every sink."""

    def __init__(self, config: Config, metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or Metrics()
        self.buffer = DiskBuffer(config.buffer, config.sinks, self.metrics, keep_until_checkpointed=True)
        self.checkpoints = CheckpointStore(config.checkpoint_path)
        self.sinks: list[Sink] = build_sinks(config.sinks, config.sink_configs)
        self.supervisor: Supervisor | None = None
        self.discovery: Discovery | None = None
        self.enricher: Enricher | None = None
        self.shippers: list[Shipper] = []
        self.write_errors = WriteErrors(self.metrics)
        self.started = asyncio.Event()
        self.server = HealthServer(self, *config.listen)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then drain within the shutdown timeout."""
        config = self.config
        await self.buffer.open()
        self.checkpoints.load()
        if self.checkpoints.recovered_from_corruption:
            self.metrics.tailer_errors.labels(reason="checkpoint_corrupt").inc()
        await self._catch_up_with_buffer()
        try:
            await self.server.start()
            for sink in self.sinks:
                await sink.start()
            async with EngineClient(config.engine) as engine, asyncio.TaskGroup() as group:
                await self._run_in(group, engine, stop)
        finally:
            await self.server.aclose()
            await self.buffer.close()
            for sink in self.sinks:
                with contextlib.suppress(Exception):
                    await sink.aclose()
        log.info("stopped")

    async def _run_in(self, group: asyncio.TaskGroup, engine: EngineClient, stop: asyncio.Event) -> None:
        config = self.config
        enricher = self.enricher = Enricher(engine, config.collect.extra_fields)

        def make_tailer(container_id: str) -> Tailer:
            return Tailer(container_id, engine, enricher.fields, self.buffer, self.checkpoints,
                          config.collect.max_line_bytes, self.metrics, config.collect.read_linger,
                          self.write_errors, config.parse)

        own_id = own_container_id()
        self.supervisor = Supervisor(group, make_tailer, self.checkpoints, self.metrics)
        self.discovery = Discovery(engine, enricher, self.supervisor, ContainerFilter(config.collect, own_id),
                                   self.checkpoints, self.metrics)
        shipper_tasks = []
        for sink in self.sinks:
            self.metrics.register_sink(sink.name)
            sink_config = config.sink_configs[sink.name]
            shipper = Shipper(sink, self.buffer.reader(sink.name), sink_config.batch or config.batch, config.retry,
                              sink_config.concurrency, config.data_dir / "dead-letter", self.metrics,
                              backlog=config.backlog.get(sink.name))
            self.shippers.append(shipper)
            shipper_tasks.append(group.create_task(shipper.run(), name=f"shipper-{sink.name}"))
        discovery_task = group.create_task(self.discovery.run(), name="discovery")
        saver_stop = asyncio.Event()
        saver_task = group.create_task(self._save_periodically(saver_stop), name="checkpoints")
        log.info("started: sinks %s, data in %s", ",".join(config.sinks), config.data_dir)
        self.started.set()

        await stop.wait()
        deadline = time.monotonic() + config.shutdown_timeout
        log.info("draining (at most %.0fs)", config.shutdown_timeout)
        discovery_task.cancel()
        await self.supervisor.stop(timeout=min(2.0, config.shutdown_timeout / 4))
        saver_stop.set()
        await saver_task  # its last save holds the final marks
        await asyncio.gather(*(shipper.drain(max(deadline - time.monotonic(), 0.1)) for shipper in self.shippers))
        for task in shipper_tasks:
            task.cancel()

    async def _catch_up_with_buffer(self) -> None:
        """Start each container from the later of its checkpoint and its last line in the buffer."""
        taken = self.checkpoints.snapshot_time
        newer_than = None if taken is None else taken - TAIL_MARGIN_SECONDS
        positions = BufferedPositions()
        started = time.monotonic()
        records = await self.buffer.scan_tail(newer_than, positions.visit)
        moved = self.checkpoints.catch_up(positions)
        log.info("start positions: %d record(s) of the buffer's newest segments read in %.2fs; %d stream(s) "
                 "start after their checkpoint (already stored)", records, time.monotonic() - started, moved)

    async def _save_periodically(self, stop: asyncio.Event) -> None:
        """Save the checkpoints every fsync interval, and a last time once ``stop`` is set.

        Stopped by the event, never cancelled: a save cancelled while its thread still writes would
        race the final save on the same temporary file, and the marks it had taken would be lost
        (a restart would then collect the last lines again).
        """
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.buffer.fsync_interval)
            await self.save_checkpoints()
        await self.save_checkpoints()  # marks that moved while the last one ran (nothing to do otherwise)

    async def save_checkpoints(self) -> None:
        """Snapshot the marks, fsync the buffer, then save the snapshot: never ahead of disk.

        Then the buffer may delete the delivered segments the saved file covers (kept until then, so
        that a restart takes the newest positions from the buffer, see ``_catch_up_with_buffer``)."""
        content = self.checkpoints.snapshot()
        covered = self.buffer.covered_index()  # the records whose marks are in this snapshot
        if content is None:
            self.buffer.checkpointed(covered)  # nothing moved since the last save, which covers them
            return
        saved = False
        try:
            await self.buffer.sync()
            await asyncio.to_thread(self.checkpoints.write, content)
            saved = True
            self.buffer.checkpointed(covered)
            self.metrics.checkpoint_saves.inc()
            self.write_errors.cleared(CHECKPOINTS, "")
        except OSError as exc:
            # Counted, logged once per episode; the marks stay in memory and are saved when it works again.
            self.write_errors.failed(CHECKPOINTS, "", exc, f"checkpoints to {self.checkpoints.path}")
        finally:
            if not saved:
                self.checkpoints.mark_dirty()  # the snapshot was not written (error or cancellation)

    def readiness(self) -> dict[str, Any]:
        """Ready when the engine answers, the buffer is open and writes to the data directory work
        (``writes``: tailers paused by a failed append, failing checkpoint saves); sinks' last outcomes
        for information."""
        engine = bool(self.discovery and self.discovery.connected)
        buffer_open = not self.buffer.closed
        sinks = {}
        now = time.time()
        for shipper in self.shippers:
            outcome = shipper.last_outcome
            sinks[shipper.name] = {"last_outcome": outcome.kind.value if outcome else None,
                                   "last_error": shipper.last_error, "in_flight": shipper.in_flight,
                                   "behind": shipper.lag(now) if buffer_open else None}
        writes = self.write_errors.status()
        return {"ready": engine and buffer_open and not writes["failing"],
                "engine": {"connected": engine, "error": "" if engine else (
                    self.discovery.last_error if self.discovery else "not started")},
                "buffer": {"open": buffer_open, "max_bytes": self.config.buffer.max_bytes, **self.buffer.stats()},
                "sinks": sinks,
                "writes": writes,
                "containers_followed": len(self.supervisor.tailers) if self.supervisor else 0}

    def refresh_gauges(self) -> None:
        """Gauges computed on scrape rather than on the hot path."""
        stats = self.buffer.stats()
        self.metrics.buffer_bytes.set(stats.get("bytes", 0))
        self.metrics.buffer_segments.set(stats.get("segments", 0))
        self.metrics.buffer_max_bytes.set(self.config.buffer.max_bytes)
        states = collections.Counter(t.state for t in (self.supervisor.tailers if self.supervisor else {}).values())
        for state in {*TAILER_STATES, *states}:
            self.metrics.tailers.labels(state=state).set(states[state])
        node = self.enricher.node if self.enricher else {}
        if node.get("name"):  # known once the engine answered /info; one series, the current node's
            self.metrics.node_info.clear()
            self.metrics.node_info.labels(node=node["name"], node_id=node.get("id", "")).set(1)
        now = time.time()
        for shipper in self.shippers:
            self.metrics.oldest_unshipped_age.labels(sink=shipper.name).set(shipper.oldest_unshipped_age(now))

    def status(self) -> dict[str, Any]:
        """What /readyz and /debug/tailers report."""
        tailers = self.supervisor.tailers if self.supervisor else {}
        return {
            "engine_connected": bool(self.discovery and self.discovery.connected),
            "engine_error": self.discovery.last_error if self.discovery else "",
            "tailers": {cid: {"name": t.name, "state": t.state, "last_error": t.last_error,
                              "checkpoint": {s: [m.timestamp.decode(), m.count]
                                             for s, m in self.checkpoints.get(cid).items()}}
                        for cid, t in tailers.items()},
        }

