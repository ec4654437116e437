"""What every sink shares: the batch and interface of ``logship.ship.contract``, and ``SinkError``."""

from __future__ import annotations

from logship.ship.contract import Batch, Sink

__all__ = ["Batch", "Sink", "SinkError"]


class SinkError(Exception):
    """A sink could not be used (healthcheck, configuration); ``retriable`` says whether waiting helps."""

    def __init__(self, message: str, retriable: bool = True) -> None:
        super().__init__(message)
        self.retriable = retriable
