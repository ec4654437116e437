"""Typed Engine API errors; each says whether trying again later can help."""

from __future__ import annotations


class EngineError(Exception):
    """A failed Engine API call. ``retriable``: the engine may answer later (down, restarting, 5xx)."""

    def __init__(self, message: str, *, retriable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.status = status


class NotFound(EngineError):
    """404: the container (or service) does not exist any more."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retriable=False, status=404)


class LogsUnreadable(EngineError):
    """501: the container's logging driver does not support reading (``none``, cache disabled)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retriable=False, status=501)


class NotSwarmManager(EngineError):
    """503 on a swarm endpoint: this node is a worker or not in a swarm."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retriable=False, status=503)


def error_for_status(status: int, message: str, path: str) -> EngineError:
    """The typed error for an engine answer ``status`` with its ``message`` to a request on ``path``."""
    text = f"{path}: HTTP {status}: {message}"
    if status == 404:
        return NotFound(text)
    if status == 501:
        return LogsUnreadable(text)
    if status == 503 and "swarm" in message.lower():
        return NotSwarmManager(text)
    return EngineError(text, retriable=status >= 500 or status == 429, status=status)
