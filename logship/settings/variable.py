"""One environment variable as logship declares it (``logship.config.VARIABLES``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Variable:
    """One environment variable: its parser, textual default (None: unset) and description."""

    name: str
    parse: Callable[[str], Any]
    default: str | None
    help: str
    secret: bool = False
    section: str = "core"

