"""One shipper per sink: read batches from the disk buffer, send them, settle every record, acknowledge.

Life of a batch:

1. The ``Batcher`` builds it from the sink's ``BufferReader`` once a send slot is free (at most
   ``concurrency`` batches in flight, all tasks of one ``asyncio.TaskGroup``).
2. The ``RetryPolicy`` sends it until the sink's Outcome is final; RETRY waits (backoff or Retry-After)
   and sends the same records again, forever: they are safe in the buffer. A Retry-After pauses the
   whole sink: no batch sends until it has passed (see ``logship.ship.retry``).
3. The Outcome settles the records:
   - DELIVERED: counted in ``lines_shipped`` / ``bytes_shipped``;
   - REJECTED with ``split`` (413): the records are sent again as two halves, recursively; a single
     record still refused is dead-lettered;
   - REJECTED: every record goes to the dead-letter file (``DeadLetterFile``), counted in
     ``lines_rejected``, with one WARNING per batch;
   - Partial (``retry_items`` / ``rejected_items``): rejected items are dead-lettered, the others
     counted delivered, and only the retry items are sent again (with backoff, reason ``partial``).
   - the sink raised (in encode or send: a bug, or a record that triggers one): the batch is sent again
     with backoff, ``SINK_ERROR_ATTEMPTS`` times in all, then split in halves, recursively (one raise
     each), until the records it raises on are found. Those are dead-lettered with the exception's type
     and message, counted in ``lines_rejected{reason="sink_error"}`` and logged once for the batch; the
     others are delivered. A sink bug never stops the pipe.
4. Only when every record has a final outcome are the batch's buffer chunks acknowledged. A batch cut
   short by shutdown is not acknowledged: its records are read again at the next start (at least once).

With backlog limits (``LOGSHIP_<SINK>_MAX_BACKLOG`` / ``_MAX_BACKLOG_AGE``, ``logship.ship.backlog``) a
task of the same group checks the sink's backlog; past a limit it abandons the batches in flight (their
sends are cancelled, nothing of them is acknowledged), gives up the oldest records (the reader moves its
acknowledged position past them, counted in ``lines_dropped``) and starts reading again from there.
Giving up is the one final outcome that is not a delivery nor a dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any, cast

from logship.metrics import Metrics
from logship.settings.types import BacklogLimits, BatchConfig, RetryConfig
from logship.ship.backlog import CHECK_INTERVAL_SECONDS, BacklogLimiter, BacklogReader, lag
from logship.ship.batcher import Batcher, BufferReader, PendingBatch
from logship.ship.contract import Batch, Sink
from logship.ship.deadletter import DeadLetterFile
from logship.ship.outcome import (
    DELIVERED,
    SINK_ERROR,
    Delivered,
    Outcome,
    Partial,
    Rejected,
    Retry,
    RetryReason,
    sink_error,
)
from logship.ship.retry import RetryPolicy
from logship.timestamps import record_seconds

log = logging.getLogger(__name__)

# Sends of a whole batch whose sink raises before the batch is split to find the records that raise: an
# exception is a bug in the sink or a record that triggers one, not a store's answer, so a few tries are
# enough to get past a passing condition.
SINK_ERROR_ATTEMPTS = 3


def _describe(outcome: Outcome) -> str:
    if outcome.detail and outcome.detail != outcome.reason:
        return f"{outcome.reason}: {outcome.detail}" if outcome.reason else outcome.detail
    return outcome.reason or outcome.kind.value


class Shipper:
    """Moves one sink's records from the disk buffer to the sink (see the module docstring).

    For health reporting: ``last_outcome`` is the Outcome of the latest send, ``last_error`` the
    description of the latest failed send (None once a send succeeds again) and ``in_flight`` the
    number of batches being sent.
    """

    def __init__(self, sink: Sink, reader: BufferReader, batch: BatchConfig, retry: RetryConfig,
                 concurrency: int, dead_letter_dir: Path, metrics: Metrics,
                 backlog: BacklogLimits | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.sink = sink
        self.name = sink.name
        self._reader = reader
        self._batcher = Batcher(reader, batch)
        self._policy = RetryPolicy(retry, on_retry=self._on_retry)
        self._slots = asyncio.Semaphore(concurrency)
        self._dead_letters = DeadLetterFile(dead_letter_dir / f"{sink.name}.ndjson", sink.name)
        self._dead_letter_lock = asyncio.Lock()
        self._metrics = metrics
        self._stopping = False
        self._running = False
        self._finished = asyncio.Event()
        self._progress = asyncio.Event()  # set on every outcome and ack: wakes drain()
        self._inflight_since: dict[int, float] = {}  # batch → Docker time of its first record
        self._reading: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        # With LOGSHIP_<SINK>_MAX_BACKLOG(_AGE) the reader is a real BufferReader: it can give records up.
        self._limiter = None if backlog is None or (backlog.max_bytes is None and backlog.max_age is None) \
            else BacklogLimiter(self.name, cast(BacklogReader, reader), backlog, metrics)
        self._limiting: asyncio.Task[None] | None = None
        self._failing = False
        self.last_outcome: Outcome | None = None
        self.last_error: str | None = None

    @property
    def in_flight(self) -> int:
        """Batches being sent (at most ``concurrency``)."""
        return len(self._sends)

    @property
    def dead_letter_path(self) -> Path:
        """Where this sink's dead letters go."""
        return self._dead_letters.path

    async def run(self) -> None:
        """Ship until ``stop()``/``drain()``, until the buffer is closed, or until cancelled."""
        if self._running:
            raise RuntimeError(f"shipper {self.name} is already running")
        self._running = True
        self._finished.clear()
        # Whatever an earlier run read but did not settle must be read again.
        self._reader.rewind()
        self._batcher.reset()
        try:
            if self._stopping:
                return
            async with asyncio.TaskGroup() as group:
                self._reading = group.create_task(self._read_loop(group), name=f"ship-{self.name}-read")
                if self._limiter is not None:
                    self._limiting = group.create_task(self._limit_backlog(self._limiter, group),
                                                       name=f"ship-{self.name}-backlog")
        finally:
            self._reading = self._limiting = None
            self._running = False
            self._finished.set()

    def stop(self) -> None:
        """Take no new batch; batches in flight go on (``run`` returns when they are settled)."""
        self._stopping = True
        if self._reading is not None:
            # Records of a batch being filled stay unacknowledged: they are read again at the next start.
            self._reading.cancel()
        if self._limiting is not None:
            self._limiting.cancel()

    async def drain(self, timeout: float) -> None:
        """Deliver what the buffer holds for this sink within ``timeout`` seconds, then stop.

        While the sink answers, batches keep flowing until nothing is left to send or the time is up;
        then no new batch is taken and those in flight get the rest of the time. A failing sink is not
        waited for: its batches are cancelled at once. Returns once ``run`` has returned; records not
        settled stay unacknowledged in the buffer for the next start.
        """
        deadline = time.monotonic() + timeout
        while self._running and self._reader.pending and self.last_error is None:
            self._progress.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._progress.wait()
        self.stop()
        if not self._running:
            return
        if self.last_error is not None:
            for task in list(self._sends):
                task.cancel()
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
                await self._finished.wait()
        except TimeoutError:
            log.warning("sink %s: %d batch(es) still in flight after %.1fs; they stay in the buffer for the "
                        "next start", self.name, len(self._sends), timeout)
            for task in list(self._sends):
                task.cancel()
            await self._finished.wait()

    async def _read_loop(self, group: asyncio.TaskGroup) -> None:
        while not self._stopping:
            await self._slots.acquire()
            try:
                pending = await self._batcher.next()
            except BaseException:
                self._slots.release()
                raise
            if pending is None:  # the buffer is closed
                self._slots.release()
                return
            task = group.create_task(self._deliver(pending), name=f"ship-{self.name}-send")
            self._sends.add(task)
            # A callback, not a `finally`: it also runs for a task cancelled before it started.
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        self._slots.release()

    async def _limit_backlog(self, limiter: BacklogLimiter, group: asyncio.TaskGroup) -> None:
        """Keep the sink within its backlog limits (``logship.ship.backlog``) while the read loop runs.

        Giving up abandons every batch read but not settled (their sends are cancelled, the batch being
        filled dropped), so that no given-up record is delivered after it was counted; then the read loop
        starts again from the new position.
        """
        while True:
            await asyncio.sleep(CHECK_INTERVAL_SECONDS)
            reading = self._reading
            if reading is None or reading.done():
                return  # the buffer is closed, or the shipper stops
            excess = limiter.excess()
            if excess is None:
                limiter.within(failing=self.last_error is not None)
                continue
            reading.cancel()
            for task in list(self._sends):
                task.cancel()
            await asyncio.wait([reading, *self._sends])
            if self._stopping:
                return
            limiter.give_up(*excess)
            self._batcher.reset()
            self._reading = group.create_task(self._read_loop(group), name=f"ship-{self.name}-read")

    def lag(self, now: float) -> dict[str, Any]:
        """How far behind the sink is: bytes, records and age of the oldest (see ``logship.ship.backlog``)."""
        return lag(cast(BacklogReader, self._reader), now)

    async def _deliver(self, pending: PendingBatch) -> None:
        key = id(pending)
        self._inflight_since[key] = record_seconds(pending.batch.records[0])
        try:
            raising: list[tuple[bytes, str]] = []
            await self._settle(pending.batch.records, raising, pending.batch.nbytes)
            if raising:
                await self._dead_letter(raising, SINK_ERROR, len(pending.batch.records))
            for chunk in pending.chunks:
                self._reader.ack(chunk)
        finally:
            del self._inflight_since[key]
        self._progress.set()

    def oldest_unshipped_age(self, now: float) -> float:
        """Seconds since the Docker timestamp of the oldest record in flight (0 when none is).

        Batches are read in buffer order, so the oldest record not yet delivered is in flight whenever
        the sink is behind; a record of unknown time counts as new.
        """
        oldest = min(self._inflight_since.values(), default=None)
        return max(now - oldest, 0.0) if oldest else 0.0

    async def _settle(self, records: list[bytes], raising: list[tuple[bytes, str]], nbytes: int | None = None,
                      attempts: int = SINK_ERROR_ATTEMPTS) -> None:
        """Send ``records`` (``nbytes``: the sum of their lengths, when known) until each one is delivered
        or dead-lettered. Records the sink raises on are added to ``raising`` (with the exception's text)
        once it raised ``attempts`` times on them, for the caller to dead-letter in one go."""
        unsettled = records
        raised = 0
        batch: Batch | None = None

        async def attempt() -> Outcome:
            nonlocal unsettled, nbytes, raised, batch
            if batch is None or batch.records is not unsettled:
                # The same Batch for every attempt at the same records: a sink keeps its encoded body in it
                # (Batch.encoded), so a retry sends those bytes again instead of encoding them again.
                if nbytes is None:
                    nbytes = sum(map(len, unsettled))
                batch = Batch(unsettled, nbytes)
            outcome = await self._send(batch, log_exception=raised == 0 and attempts > 1)
            match outcome:
                case Retry(reason=RetryReason.SINK_ERROR, detail=detail):
                    raised += 1
                    if raised >= attempts:  # final: find the records it raises on (below)
                        return Rejected(SINK_ERROR, detail=detail)
                case Partial(after=after):
                    unsettled = await self._settle_partial(unsettled, outcome)
                    nbytes = None
                    if not unsettled:
                        return DELIVERED
                    # Only the retry items go again, after the same backoff as a whole batch would.
                    return Retry(RetryReason.PARTIAL, after=after, detail=_describe(outcome))
                case Delivered(dropped=dropped):
                    self._policy.delivered()  # the store answers: the batches in backoff go again now
                    self._count_delivered(unsettled, batch.nbytes)
                    if dropped:  # the store dropped some without saying which: count them, once
                        self._metrics.lines_rejected.labels(self.name, "store_dropped").inc(dropped)
            return outcome

        final = await self._policy.call(attempt)
        self._reader.store_answered()  # a final outcome: the store answers
        match final:
            case Rejected(reason=RetryReason.SINK_ERROR, detail=detail) if len(unsettled) == 1:
                raising.append((unsettled[0], f"{SINK_ERROR}: {detail}"))
            case Rejected(reason=reason, split=split) if (split or reason == SINK_ERROR) and len(unsettled) > 1:
                half = len(unsettled) // 2
                # One after the other: the halves share this batch's send slot. While looking for the records
                # a sink raises on, one raise is enough: the whole batch was tried SINK_ERROR_ATTEMPTS times.
                again = 1 if reason == SINK_ERROR else attempts
                await self._settle(unsettled[:half], raising, attempts=again)
                await self._settle(unsettled[half:], raising, attempts=again)
            case Rejected(reason=reason):
                await self._dead_letter([(record, reason or "rejected") for record in unsettled], "store")
            case Delivered() | Partial() | Retry():
                pass  # settled above (a Retry is never final: the policy sends it again)

    async def _send(self, batch: Batch, log_exception: bool = True) -> Outcome:
        # ``batch.nbytes`` is passed in, not summed here: a pass over a batch's records touches thousands of
        # objects that have left the CPU cache since they were read.
        records = batch.records
        started = time.monotonic()
        try:
            outcome = await self.sink.send(batch)
        except Exception as exc:
            # A sink bug (or a record that triggers one), not a store's answer: see SINK_ERROR_ATTEMPTS.
            if log_exception:  # once per batch, with the traceback
                log.exception("sink %s: send raised on a batch of %d record(s); retrying it %d times, then "
                              "splitting it to find the records that raise", self.name, len(records),
                              SINK_ERROR_ATTEMPTS - 1)
            outcome = sink_error(exc)
        finally:
            self._metrics.request_seconds.labels(self.name).observe(time.monotonic() - started)
        self._note(outcome)
        return outcome

    async def _settle_partial(self, records: list[bytes], outcome: Partial) -> list[bytes]:
        """Dead-letter the rejected items, count the delivered ones; return the records to send again."""
        count = len(records)
        rejected = {index: reason for index, reason in outcome.rejected_items if 0 <= index < count}
        again = sorted({index for index in outcome.retry_items if 0 <= index < count} - rejected.keys())
        settled_elsewhere = rejected.keys() | set(again)
        delivered = [record for index, record in enumerate(records) if index not in settled_elsewhere]
        self._count_delivered(delivered, sum(map(len, delivered)))
        if rejected:
            await self._dead_letter([(records[index], reason or "rejected")
                                     for index, reason in sorted(rejected.items())], "store")
        return [records[index] for index in again]

    def _count_delivered(self, records: list[bytes], nbytes: int) -> None:
        if records:
            self._metrics.lines_shipped.labels(self.name).inc(len(records))
            self._metrics.bytes_shipped.labels(self.name).inc(nbytes)

    async def _dead_letter(self, entries: list[tuple[bytes, str]], label: str, batch_size: int = 0) -> None:
        """Write the dead letters durably (retrying with the policy if the disk fails), count them in
        ``lines_rejected`` with reason ``label`` (``store`` or ``sink_error``), log once."""

        async def attempt() -> Outcome:
            try:
                async with self._dead_letter_lock:
                    await asyncio.to_thread(self._dead_letters.write, entries)
            except OSError as exc:
                # Acknowledging without the dead letter on disk would lose the records: keep trying.
                log.error("sink %s: cannot write dead letters to %s: %s", self.name, self.dead_letter_path, exc)
                return Retry(RetryReason.DEAD_LETTER, detail=str(exc))
            return DELIVERED

        await self._policy.call(attempt, paused=False)  # not a request to the store: no Retry-After pause
        self._metrics.lines_rejected.labels(self.name, label).inc(len(entries))
        if label == SINK_ERROR:
            log.error("sink %s: send raised on %d of %d record(s) of a batch (%s); those are written to %s, "
                      "the others were delivered", self.name, len(entries), batch_size, entries[0][1],
                      self.dead_letter_path)
        else:
            log.warning("sink %s: %d record(s) rejected (%s); written to %s", self.name, len(entries),
                        entries[0][1], self.dead_letter_path)

    def _note(self, outcome: Outcome) -> None:
        """Keep the health attributes and log state changes (not every attempt)."""
        self.last_outcome = outcome
        self._progress.set()
        match outcome:
            case Delivered():
                self.last_error = None
                if self._failing:
                    self._failing = False
                    log.info("sink %s: delivering again", self.name)
                return
            case Retry(reason=reason) if reason != SINK_ERROR and not self._failing:
                self._failing = True
                self.last_error = _describe(outcome)
                log.warning("sink %s: %s; retrying with backoff, records stay in the buffer", self.name,
                            self.last_error)
            case Retry() | Rejected() | Partial():
                self.last_error = _describe(outcome)

    def _on_retry(self, outcome: Outcome, seconds: float) -> None:
        self._reader.store_failed()
        match outcome:
            case Retry(reason=reason):  # the label: a RetryReason, never a path or a message
                self._metrics.retries.labels(self.name, reason.value).inc()
        log.debug("sink %s: retry in %.2fs (%s)", self.name, seconds, _describe(outcome))
