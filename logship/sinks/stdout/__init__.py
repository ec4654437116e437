"""The `stdout` sink: NDJSON records on standard output (for `docker logs` of logship, or a pipe)."""

from __future__ import annotations

from logship.sinks.stdout.sink import StdoutSink

__all__ = ["StdoutSink"]
