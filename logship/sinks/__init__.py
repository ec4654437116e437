"""Sinks: one package per store (``encode``, ``classify``, ``sink``), one interface (``logship.sinks.base.Sink``).

Shared by the stores: ``_http`` (HTTP client, status rows, excerpts), ``_stream`` (TLS for TCP streams).
"""

from __future__ import annotations

import importlib

from logship.config import Config
from logship.sinks.base import Sink, SinkError

# LOGSHIP_SINK name → "module:class"; each class takes its frozen config (``config.sink_configs[name]``).
SINK_CLASSES = {
    "file": "logship.sinks.file:FileSink",
    "stdout": "logship.sinks.stdout:StdoutSink",
    "http": "logship.sinks.http:HttpSink",
    "loki": "logship.sinks.loki:LokiSink",
    "elasticsearch": "logship.sinks.elasticsearch:ElasticsearchSink",
    "clickhouse": "logship.sinks.clickhouse:ClickHouseSink",
    "otlp": "logship.sinks.otlp:OtlpSink",
    "syslog": "logship.sinks.syslog:SyslogSink",
    "gelf": "logship.sinks.gelf:GelfSink",
}


def build_sinks(config: Config) -> list[Sink]:
    """One sink object per name in LOGSHIP_SINK, in that order (imported only when configured)."""
    sinks: list[Sink] = []
    for name in config.sinks:
        module_name, _, class_name = SINK_CLASSES[name].partition(":")
        try:
            sink_class = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise SinkError(f"sink {name} is not available: {exc}", retriable=False) from exc
        sinks.append(sink_class(config.sink_configs[name]))
    return sinks
