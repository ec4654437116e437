"""One tailer per container: follow its logs from the checkpoint into the buffer.

The loop, per container:

1. Inspect it (TTY or not, running or not, its metadata). Gone (404) → the tailer ends.
2. Read ``/logs`` from the checkpoint: with ``follow`` while it runs, without once it has stopped.
   dockerd closes a follow stream when the container stops, sometimes before the entry it writes
   at exit, so a stopped container is always read once more without ``follow`` to the very end;
   the skip rule of ``lines`` drops what was already read. A running container is first *caught up*
   without ``follow`` (when the tailer starts, and after a failed stream): through a follow stream
   dockerd hands a backlog over a few frames per read, about half as fast as a plain read; the follow
   stream then opens from the checkpoint the catch-up left, and the skip rule drops the overlap.
   Every stream opened once something was seen asks for the log's last entries only (``tail``: see
   ``logship.collect.window``), so dockerd does not decode the whole log again to find ``since``.
3. Each chunk read becomes records, which are appended to the buffer; only then do the
   container's marks advance (the agent saves them after the buffer is fsynced). An append that
   fails (disk full, I/O error, read-only, directory gone) takes the assembler back to where it was
   before the chunk (``LineAssembler.restore``): the tailer pauses (state ``paused``, counted and
   shown by ``WriteErrors``) and reads again from dockerd from the last stored position, so the
   lines that were not stored are not skipped as replays.
4. Stopped: flush a last line held without newline (the next run starts a new line), then wait
   for a start event. A stream that fails (dockerd restarting, framing lost) is reopened from
   the checkpoint with backoff; a logging driver that cannot be read (501) is reported once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp

from logship.backoff import Backoff
from logship.collect.checkpoint import CheckpointStore
from logship.collect.counts import move_counts, report_malformed
from logship.collect.frames import FramingLost, MuxDecoder, RawDecoder, first_entry
from logship.collect.lines import AssemblerState, LineAssembler
from logship.collect.linger import LINGER_BELOW_BYTES, NextLinger, linger, linger_unread, next_linger
from logship.collect.positions import SINCE_START
from logship.collect.window import WindowMissed, Windows
from logship.engine import EngineClient, EngineError, LogsUnreadable, NotFound
from logship.metrics import Metrics
from logship.parse.settings import ParseSettings, for_labels
from logship.write_errors import TAILER, WriteErrors

log = logging.getLogger(__name__)

BACKOFF_INITIAL = 0.2
# At most this much of a logs stream is decoded and committed at once. Records are several times
# larger than frames (metadata), so an unbounded read of a fast backlog made memory jump by tens of MB.
READ_BYTES = 64 * 1024
BACKOFF_MAX = 10.0


class StoreFailed(Exception):
    """Appending to the buffer failed with ``error``; the assembler is back where it was before."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class RecordSink(Protocol):
    """Where a tailer's records go: the disk buffer."""

    async def append(self, records: list[bytes]) -> None: ...


class Tailer:
    """Follows one container's stdout and stderr from its checkpoint."""

    def __init__(self, container_id: str, engine: EngineClient,
                 fields: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]], output: RecordSink,
                 checkpoints: CheckpointStore, max_line_bytes: int, metrics: Metrics,
                 linger: float = 0.0, write_errors: WriteErrors | None = None,
                 parse: ParseSettings | None = None, windows: Windows | None = None) -> None:
        self.container_id = container_id
        self.name = ""
        self.state = "starting"
        self.last_error = ""
        self.removed = False
        self._engine = engine
        self._fields = fields
        self._output = output
        self._checkpoints = checkpoints
        self._max_line_bytes = max_line_bytes
        self._linger = linger
        self._metrics = metrics
        self._write_errors = write_errors or WriteErrors(metrics)
        self._write_failed = False
        self._wake = asyncio.Event()
        self._assembler: LineAssembler | None = None
        self._tty = False
        self._refresh_metadata = False
        self._committing = False
        self._stopping = False
        self._response: aiohttp.ClientResponse | None = None
        self._interrupted = False
        self._lines_read: dict[str, Any] = {}
        # Read what the container has written so far without ``follow`` before following (see the module
        # docstring): at start, and again after a stream failed (dockerd restarted, framing lost).
        self._catch_up = True
        self._windows = windows or Windows()  # how much of the log the next request asks for
        # How lines are understood (logship.parse): the global settings; the container's labels refine them.
        self._parse = parse
        self._stop_event = asyncio.Event()
        self._read_task: asyncio.Future[bytes] | None = None

    # --- signals from discovery -------------------------------------------------------------------

    def wake(self, new_run: bool = False) -> None:
        """Look at the container again. ``new_run``: it started or died, so a follow stream open now
        belongs to a run that is over; dockerd does not always end such a stream (a follow opened
        while the container was dying can hang), so it is dropped and reopened from the checkpoint."""
        self._wake.set()
        if new_run and self._response is not None and self.state == "following":
            self._interrupted = True
            self._response.close()

    def metadata_changed(self) -> None:
        """Renamed, or its service changed: recompute the metadata before the next records."""
        self._refresh_metadata = True
        self._wake.set()

    def mark_removed(self) -> None:
        """The container was destroyed: finish reading what the engine still serves, then end."""
        self.removed = True
        self._wake.set()

    def request_stop(self) -> bool:
        """Stop after the current commit. True when the task may be cancelled right now."""
        self._stopping = True
        self._stop_event.set()
        # A held multiline event is stored first (the read loop sees the stop): not cancelled right now.
        holding = self._assembler is not None and self._assembler.deadline() is not None
        return not self._committing and not (holding and self.state in ("following", "reading"))

    # --- the loop ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow the container until it is removed (or the task is cancelled)."""
        try:
            await self._run()
        finally:
            if self._write_failed:  # a paused tailer that ends no longer holds the episode open
                self._write_errors.cleared(TAILER, self.container_id)

    async def _run(self) -> None:
        backoff = Backoff(BACKOFF_INITIAL, BACKOFF_MAX)
        while not self._stopping:
            self._wake.clear()
            try:
                inspect = await self._engine.inspect_container(self.container_id)
            except NotFound:
                break
            except EngineError as exc:
                await self._pause(f"engine: {exc}", "engine", backoff)
                continue
            state = inspect.get("State") or {}
            running = bool(state.get("Running"))
            # Created but not started yet (listed between `docker run`'s create and start): what it logs
            # before the start event is not its last, so a held multiline event stays held (to be joined
            # with what follows), not flushed as at the end of a container that has run and stopped.
            finished = not running and state.get("Status") != "created"
            await self._prepare(inspect)
            catch_up, self._catch_up = running and self._catch_up, False
            follow = running and not catch_up
            tail = self._windows.next(follow)
            started = time.monotonic()
            try:
                got_data = await self._read(follow=follow, tail=tail)
                if finished and not self._interrupted and self._assembler is not None:
                    before = self._assembler.state()
                    await self._commit(self._assembler.flush(), before)
            except WindowMissed:
                assert tail is not None
                log.debug("container %s: the log's last %d entries do not reach back to what was read",
                          self.container_id[:12], tail)
                self._windows.missed(follow, tail)
                self._catch_up = True  # a follow stream that missed: catch up first
                continue
            except LogsUnreadable as exc:
                await self._unreadable(inspect, exc)
                return
            except NotFound:
                break
            except FramingLost as exc:
                await self._pause(f"framing lost: {exc}", "framing", backoff)
                continue
            except StoreFailed as exc:  # the buffer could not be written (disk full): Docker still holds the logs
                await self._paused_by(exc.error, backoff)
                continue
            except OSError as exc:
                await self._pause(f"buffer: {exc}", "buffer", backoff)
                continue
            except EngineError as exc:
                if self._interrupted:  # dropped on purpose by wake(new_run=True)
                    self._interrupted = False
                    continue
                await self._pause(f"logs stream: {exc}", "stream", backoff)
                continue
            if self._interrupted:
                self._interrupted = False
                continue
            backoff.reset()
            if not follow:
                self._windows.read_to_the_end()
            if catch_up:
                continue  # caught up to the present: now follow from the checkpoint
            if not running:
                self.state = "stopped"
                if self.removed:
                    break
                await self._wake.wait()
            elif not got_data and time.monotonic() - started < 1:
                # The follow stream ended at once although the container runs: it is stopping.
                # Look again shortly rather than spin.
                await self._sleep_or_wake(0.1)
        self.state = "removed" if not self._stopping else "stopped"

    async def _prepare(self, inspect: dict[str, Any]) -> None:
        self.name = str(inspect.get("Name", "")).lstrip("/")
        if self._assembler is None:
            self._tty = bool((inspect.get("Config") or {}).get("Tty"))
            fields = await self._fields(inspect)
            self._assembler = LineAssembler(fields, self._checkpoints.get(self.container_id), self._max_line_bytes,
                                            self._parse_settings(inspect))
            self._count_by_service(fields)
        elif self._refresh_metadata:
            await self._apply_metadata(self._assembler, inspect)
        self._refresh_metadata = False
        self._assembler.resume_from_seen()

    async def _apply_metadata(self, assembler: LineAssembler, inspect: dict[str, Any] | None = None) -> None:
        self._refresh_metadata = False
        if inspect is None:
            inspect = await self._engine.inspect_container(self.container_id)
        self.name = str(inspect.get("Name", "")).lstrip("/")
        fields = await self._fields(inspect)
        assembler.set_metadata(fields)
        self._count_by_service(fields)

    def _parse_settings(self, inspect: dict[str, Any]) -> ParseSettings | None:
        """The global parse settings refined by the container's ``logship.*`` labels; a bad label is
        reported here, once per container (log and metric), and its setting keeps the global value."""
        if self._parse is None:
            return None
        labels = (inspect.get("Config") or {}).get("Labels") or {}
        settings, problems = for_labels(self._parse, labels)
        for label, problem in problems:
            self._metrics.parse_label_errors.labels(label=label).inc()
            log.warning("container %s (%s): %s", self.name or "?", self.container_id[:12], problem)
        return settings

    def _count_by_service(self, fields: dict[str, Any]) -> None:
        service = fields.get("service") or {}
        label = "/".join(part for part in (service.get("namespace"), service.get("name")) if part)
        self._lines_read = {s: self._metrics.lines_read.labels(service=label, stream=s) for s in ("stdout", "stderr")}

    async def _read(self, *, follow: bool, tail: int | None = None) -> bool:
        """Read one logs stream to its end. True when any bytes arrived. With ``tail``, only the log's last
        entries: ``WindowMissed`` at once unless the first is one the assembler has seen."""
        assembler = self._assembler
        assert assembler is not None
        decoder: MuxDecoder | RawDecoder = RawDecoder() if self._tty else MuxDecoder()
        self.state = "following" if follow else "reading"
        got_data = False
        bytes_read = 0
        since = assembler.since()
        if since == SINCE_START:
            tail = None  # nothing seen yet: no window could show that it reaches back
        try:
            async with self._engine.logs(self.container_id, follow=follow, since=since, tail=tail) as response:
                self._response = response
                body = response.content
                read_linger = self._linger if follow else 0.0
                trickle = False
                plan = NextLinger()  # read the socket, one tick: until a linger shows the stream slow
                lingered = 0.0
                while True:
                    if trickle:
                        # After a small read, let more lines gather before reading again: one decode and
                        # one buffer write for all of them. At a low rate they gather in the socket (one
                        # recv instead of an event-loop wake-up per line dockerd writes).
                        if plan.unread:
                            lingered = await linger_unread(response, read_linger * plan.ticks)
                        else:
                            lingered = await linger(read_linger)
                    data = await self._next_chunk(body, assembler)
                    if not data:
                        break
                    if tail is not None:
                        first = first_entry(data, self._tty)
                        if first is None or not assembler.has_seen(*first):
                            raise WindowMissed
                        tail = None
                    after_linger = trickle
                    trickle = read_linger > 0 and len(data) < LINGER_BELOW_BYTES
                    got_data = True
                    bytes_read += len(data)
                    if self._refresh_metadata:
                        await self._apply_metadata(assembler)
                    before = assembler.state()
                    lines_before = assembler.lines_counted()
                    try:
                        records = decoder.feed_records(data, assembler)
                    except FramingLost as exc:
                        await self._commit(exc.records, before)  # keep what came before it
                        raise
                    finally:
                        if decoder.malformed:
                            report_malformed(self._metrics, self, decoder.malformed)
                            decoder.malformed.clear()
                    plan = next_linger(plan, after_linger, trickle, len(data),
                                       assembler.lines_counted() - lines_before, lingered, read_linger)
                    if records or assembler.dropped_pending():
                        await self._commit(records, before)
                        if self._stopping:
                            return got_data
        finally:
            self._response = None
            self._metrics.bytes_read.inc(bytes_read)
            if self._read_task is not None:
                self._read_task.cancel()
                self._read_task = None
        if isinstance(decoder, RawDecoder):
            before = assembler.state()
            await self._commit(assembler.feed(decoder.finish()), before)
        else:
            decoder.finish()
        if decoder.malformed:
            report_malformed(self._metrics, self, decoder.malformed)
        move_counts(assembler, self._metrics, self._lines_read, self)
        return got_data

    async def _next_chunk(self, body: aiohttp.StreamReader, assembler: LineAssembler) -> bytes:
        """The next chunk of the logs stream (b"" at its end). While a multiline event is held, its
        timeout is kept meanwhile (the event is stored when it passes), and at a stop the held events are
        stored and b"" returned. The pending read survives both, so no data is lost between them."""
        while True:
            deadline = assembler.deadline()
            if deadline is None and self._read_task is None:
                return await body.read(READ_BYTES)
            if self._read_task is None:
                self._read_task = asyncio.ensure_future(body.read(READ_BYTES))
            stopping = asyncio.ensure_future(self._stop_event.wait())
            try:
                timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                await asyncio.wait((self._read_task, stopping), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
            if self._read_task.done():
                task, self._read_task = self._read_task, None
                return task.result()
            before = assembler.state()
            if self._stopping:
                await self._commit(assembler.expire(float("inf")), before)
                return b""
            await self._commit(assembler.expire(time.monotonic()), before)

    async def _commit(self, records: list[bytes], before: AssemblerState) -> None:
        """Append records to the buffer, then advance the marks that cover them.

        The one place where "records stored → marks advance" happens: ``before`` is the assembler's
        ``state()`` from before it decoded ``records``. When the append fails (or is cancelled) the
        assembler goes back to it and the error propagates: the marks, the resume position (``since``)
        and the skip watermark stay at the last stored line, so the caller reads the rest again.
        """
        assembler = self._assembler
        if assembler is None or not (records or assembler.dropped_pending()):
            return
        self._committing = True
        try:
            if records:  # a chunk of lines all dropped (LOGSHIP_DROP) moves the marks past them all the same
                await self._output.append(records)
        except OSError as exc:
            assembler.restore(before)
            raise StoreFailed(exc) from exc
        except BaseException:
            assembler.restore(before)
            raise
        finally:
            self._committing = False
        self._checkpoints.advance(self.container_id, assembler.marks())
        move_counts(assembler, self._metrics, self._lines_read, self)
        if self._write_failed:
            self._write_failed = False
            self.last_error = ""
            self._write_errors.cleared(TAILER, self.container_id)

    async def _paused_by(self, exc: OSError, backoff: Backoff) -> None:
        """The buffer could not be written: wait and read again from the last stored position (the
        failure is counted and logged once per episode by ``WriteErrors``, not per retry)."""
        self._write_failed = True
        self._catch_up = True  # what was written meanwhile is a backlog again
        self.state = "paused"
        self.last_error = f"buffer: {exc}"
        self._metrics.tailer_errors.labels(reason="buffer").inc()
        self._write_errors.failed(TAILER, self.container_id, exc, "to the buffer")
        await self._sleep_or_wake(backoff.next())

    async def _pause(self, error: str, reason: str, backoff: Backoff) -> None:
        self._catch_up = True  # the stream failed: what was written meanwhile is a backlog again
        self.last_error = error
        self.state = "retrying"
        self._metrics.tailer_errors.labels(reason=reason).inc()
        delay = backoff.next()
        log.info("container %s (%s): %s; retrying in %.1fs", self.name or "?", self.container_id[:12], error, delay)
        await self._sleep_or_wake(delay)

    async def _sleep_or_wake(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _unreadable(self, inspect: dict[str, Any], exc: LogsUnreadable) -> None:
        driver = ((inspect.get("HostConfig") or {}).get("LogConfig") or {}).get("Type", "?")
        self.state = "unreadable"
        self.last_error = f"logging driver {driver!r} cannot be read through the API"
        self._metrics.tailer_errors.labels(reason="unreadable").inc()
        log.warning("container %s (%s): its logging driver %r does not support reading (%s); its logs are not "
                    "collected. Use json-file or local, or keep dual logging enabled", self.name,
                    self.container_id[:12], driver, exc)
        # Not retried: wait until the container is removed.
        while not self.removed and not self._stopping:
            self._wake.clear()
            await self._wake.wait()
