"""Sinks: one module per store, one interface (``logship.sinks.base.Sink``)."""

from __future__ import annotations

from logship.config import Config, FileSinkConfig, HttpSinkConfig
from logship.sinks.base import Sink


def build_sinks(config: Config) -> list[Sink]:
    """One sink object per name in LOGSHIP_SINK, in that order."""
    sinks: list[Sink] = []
    for name in config.sinks:
        sink_config = config.sink_configs.get(name)
        if name == "file":
            from logship.sinks.file import FileSink

            assert isinstance(sink_config, FileSinkConfig)
            sinks.append(FileSink(sink_config))
        elif name == "stdout":
            from logship.sinks.stdout import StdoutSink

            sinks.append(StdoutSink())
        elif name == "http":
            from logship.sinks.http import HttpSink

            assert isinstance(sink_config, HttpSinkConfig)
            sinks.append(HttpSink(sink_config))
        else:  # config.py only admits the names above
            raise ValueError(f"unknown sink {name!r}")
    return sinks
