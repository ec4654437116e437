"""Every sink logship has, in the order of LOGSHIP_SINK's help and of the README's table.

A new sink is one package ``logship/sinks/<store>/`` (``spec.py`` defining ``SPEC``, ``encode.py``,
``classify.py``, ``sink.py``) and its name in ``SINK_PACKAGES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from logship.ship.contract import Sink
from logship.sinks._spec import SinkSpec
from logship.sinks.base import SinkError

SINK_PACKAGES = ("file", "stdout", "http", "loki", "elasticsearch", "clickhouse", "otlp", "syslog", "gelf")


def _spec(package: str) -> SinkSpec:
    spec = importlib.import_module(f"logship.sinks.{package}.spec").SPEC
    if not isinstance(spec, SinkSpec) or spec.name != package:
        raise TypeError(f"logship.sinks.{package}.spec.SPEC must be the SinkSpec named {package!r}")
    return spec


SPECS: tuple[SinkSpec, ...] = tuple(_spec(package) for package in SINK_PACKAGES)
SPECS_BY_NAME: Mapping[str, SinkSpec] = {spec.name: spec for spec in SPECS}


def build_sinks(names: Sequence[str], sink_configs: Mapping[str, Any]) -> list[Sink]:
    """One sink object per name (LOGSHIP_SINK, in that order), from its config, by its spec's factory."""
    sinks: list[Sink] = []
    for name in names:
        try:
            sinks.append(SPECS_BY_NAME[name].build(sink_configs[name]))
        except ImportError as exc:
            raise SinkError(f"sink {name} is not available: {exc}", retriable=False) from exc
    return sinks
