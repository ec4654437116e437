"""Every sink logship has, in the order of LOGSHIP_SINK's help and of the README's table.

A new sink is one package ``logship/sinks/<store>/`` (``spec.py`` defining ``SPEC``, ``encode.py``,
``classify.py``, ``sink.py``) and its name in ``SINK_PACKAGES``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from logship.ship.contract import Sink
from logship.sinks._spec import SinkSpec
from logship.sinks.base import SinkError

SINK_PACKAGES = ("file", "stdout", "http", "loki", "elasticsearch", "clickhouse", "otlp", "syslog", "gelf")


def _load(package: str) -> SinkSpec:
    spec = importlib.import_module(f"logship.sinks.{package}.spec").SPEC
    if not isinstance(spec, SinkSpec) or spec.name != package:
        raise TypeError(f"logship.sinks.{package}.spec.SPEC must be the SinkSpec named {package!r}")
    return spec


@functools.cache
def specs() -> tuple[SinkSpec, ...]:
    """Every sink's spec, in ``SINK_PACKAGES`` order (loaded at the first call, not at this module's import:
    a sink's modules may import ``logship.config``, which calls this)."""
    return tuple(_load(package) for package in SINK_PACKAGES)


def spec_of(name: str) -> SinkSpec:
    """The spec of the sink named ``name`` in LOGSHIP_SINK; KeyError for another name."""
    return {spec.name: spec for spec in specs()}[name]


def build_sinks(names: Sequence[str], sink_configs: Mapping[str, Any]) -> list[Sink]:
    """One sink object per name (LOGSHIP_SINK, in that order), from its config, by its spec's factory."""
    sinks: list[Sink] = []
    for name in names:
        try:
            sinks.append(spec_of(name).build(sink_configs[name]))
        except ImportError as exc:
            raise SinkError(f"sink {name} is not available: {exc}", retriable=False) from exc
    return sinks
