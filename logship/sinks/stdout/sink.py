"""The ``stdout`` sink, the Sink class: send, healthcheck, aclose.

The wire format and the answers are described in ``logship.sinks.stdout``.
"""

from __future__ import annotations

import sys
from typing import BinaryIO

from logship.ship.outcome import DELIVERED, Outcome, RetryReason, retry
from logship.sinks.base import Batch
from logship.sinks.file.encode import encode
from logship.sinks.stdout.spec import StdoutSinkConfig


class StdoutSink:
    """Writes batches to standard output."""

    name = "stdout"
    concurrency = 1

    def __init__(self, config: StdoutSinkConfig | None = None, stream: BinaryIO | None = None) -> None:
        self._stream = stream or sys.stdout.buffer

    async def start(self) -> None:
        return None

    async def send(self, batch: Batch) -> Outcome:
        try:
            self._stream.writelines(encode(batch))
            self._stream.flush()
        except OSError as exc:
            return retry(RetryReason.WRITE, detail=f"stdout: {exc.strerror or exc}")
        return DELIVERED

    async def healthcheck(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
