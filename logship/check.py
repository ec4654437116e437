"""``logship check``: the configuration parsed, then the engine, the data folder and every sink tried.

One line per check, ``ok`` or ``FAIL`` with the reason; the caller exits non-zero on any failure. A sink
that sends in plain text to a remote host (``plaintext.py``) adds a ``WARN`` line, which does not fail.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from logship.config import Config
from logship.engine import EngineClient, EngineError
from logship.plaintext import plaintext_sinks
from logship.sinks.base import SinkError
from logship.sinks.registry import build_sinks


async def run_checks(config: Config, out: TextIO | None = None) -> bool:
    """Print one line per check; True when every check passed."""
    out = out or sys.stdout
    passed = True

    def report(ok: bool, what: str, detail: str) -> None:
        nonlocal passed
        passed &= ok
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}", file=out, flush=True)

    report(True, "configuration", f"sinks {','.join(config.sinks)}, data in {config.data_dir}")
    for plain in plaintext_sinks(config):
        print(f"WARN sink {plain.sink} (plain text): {plain.detail}", file=out, flush=True)
    try:
        async with EngineClient(config.engine) as engine:
            await engine.ping()
            version = await engine.negotiate()
            info = await engine.info()
        report(True, "engine", f"{config.engine.host} answers (API {version}, node {info.get('Name', '?')})")
    except EngineError as exc:
        report(False, "engine", str(exc))
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        writable = os.access(config.data_dir, os.W_OK)
        report(writable, "data dir", f"{config.data_dir} is {'writable' if writable else 'not writable'}")
    except OSError as exc:
        report(False, "data dir", f"cannot create {config.data_dir}: {exc.strerror}")
    try:
        sinks = build_sinks(config.sinks, config.sink_configs)
    except SinkError as exc:
        report(False, "sinks", str(exc))
        return passed
    for sink in sinks:
        try:
            await sink.start()
            await sink.healthcheck()
            report(True, f"sink {sink.name}", "reachable")
        except SinkError as exc:
            report(False, f"sink {sink.name}", str(exc))
        finally:
            await sink.aclose()
    return passed
