"""The event loop logship runs on (``LOGSHIP_EVENT_LOOP``): asyncio's own, or uvloop where it is installed.

- ``asyncio``: the standard library's loop.
- ``uvloop``: uvloop's (libuv); the configuration refuses it when uvloop is not installed
  (``pip install 'logship[uvloop]'``), so a choice made on purpose never silently falls back.
- ``auto``: uvloop when it can be imported, else asyncio's loop.

Every part of logship uses only the asyncio API, so both loops run the same code.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

CHOICES = ("auto", "asyncio", "uvloop")
_Result = TypeVar("_Result")


def uvloop_available() -> bool:
    """Whether uvloop can be imported (without importing it)."""
    return importlib.util.find_spec("uvloop") is not None


def resolve(choice: str) -> str:
    """``asyncio`` or ``uvloop``: what ``choice`` (one of CHOICES) means on this installation."""
    if choice == "auto":
        return "uvloop" if uvloop_available() else "asyncio"
    return choice


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the loop ``choice`` names (None: asyncio's default)."""
    if resolve(choice) == "uvloop":
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    return None


def run(main: Coroutine[Any, Any, _Result], choice: str) -> _Result:
    """``asyncio.run(main)`` on the loop ``choice`` names."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
