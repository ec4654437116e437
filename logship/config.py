"""The whole configuration: environment variables parsed into frozen dataclasses.

This is the only module that reads the environment. Every variable logship understands is declared
once in ``VARIABLES`` (name, default, form, description); the README's configuration table is
generated from that declaration (``python -m logship.config --markdown``) and a test keeps them equal.

Rules:
- ``DOCKER_HOST``, ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` keep their Docker meanings;
  everything else starts with ``LOGSHIP_``. An unknown ``LOGSHIP_`` variable is an error, so that a
  typo never silently does nothing.
- A variable marked *secret* may instead be given as ``NAME_FILE``, a path whose content (without the
  trailing newline) is the value: that is how Docker secrets arrive.
- Durations read as ``500ms``, ``5s``, ``2m``, ``1h``; sizes as ``512KiB``, ``64MiB``, ``1GiB`` (or a
  plain number of bytes).
- All problems are collected and reported together, each naming the variable, the value and what is
  allowed (``ConfigError``); ``cli.py`` turns that into exit code 2.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logship import eventloop
from logship.parse import settings as parse_settings
from logship.settings.forms import (
    at_least_16kib,
    choice,
    docker_host,
    extra_fields,
    non_empty,
    non_negative_duration,
    parse_bool,
    parse_duration,
    parse_label_selectors,
    parse_list,
    parse_listen,
    parse_regex,
    parse_size,
    positive,
    positive_int,
)
from logship.settings.types import (
    BacklogLimits,
    BatchConfig,
    BufferConfig,
    CollectConfig,
    EngineConfig,
    RetryConfig,
    SinkConfig,
    TlsConfig,
)
from logship.settings.variable import Variable
from logship.sinks._spec import SinkValues
from logship.sinks.registry import spec_of, specs

# The general types and value forms, for the modules that read the configuration from here.
__all__ = [
    "SINK_NAMES",
    "VARIABLES",
    "VARIABLES_BY_NAME",
    "BacklogLimits",
    "BatchConfig",
    "BufferConfig",
    "CollectConfig",
    "Config",
    "ConfigError",
    "EngineConfig",
    "RetryConfig",
    "TlsConfig",
    "Variable",
    "load",
    "markdown_table",
    "parse_duration",
    "parse_size",
]

SINK_NAMES = tuple(spec.name for spec in specs())


class ConfigError(Exception):
    """One or more configuration problems; ``problems`` holds one readable sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems



def _event_loop(text: str) -> str:
    value = choice(*eventloop.CHOICES)(text)
    if value == "uvloop" and not eventloop.uvloop_available():
        raise ValueError("auto or asyncio: uvloop is not installed (pip install 'logship[uvloop]')")
    return value


def _sinks(text: str) -> tuple[str, ...]:
    names = tuple(name.lower() for name in parse_list(text))
    unknown = [name for name in names if name not in SINK_NAMES]
    if not names or unknown:
        raise ValueError("a comma list of sinks from: " + ", ".join(SINK_NAMES))
    if len(set(names)) != len(names):
        raise ValueError("each sink at most once")
    return names


# --- the declaration: the general variables, then each sink's (``logship.sinks.<store>.spec``) -------------

VARIABLES: tuple[Variable, ...] = (
    # core
    Variable("LOGSHIP_SINK", _sinks, "file", "Where records go: one sink or a comma list ("
             + ", ".join(SINK_NAMES) + ")."),
    Variable("LOGSHIP_DATA_DIR", non_empty, "/var/lib/logship",
             "State directory (put it on a volume): disk buffer, checkpoints, dead letters."),
    Variable("LOGSHIP_LISTEN", parse_listen, "0.0.0.0:9880", "Address of the health and metrics server."),
    Variable("LOGSHIP_LOG_LEVEL", choice("debug", "info", "warning", "error"), "info",
             "Level of logship's own log."),
    Variable("LOGSHIP_LOG_FORMAT", choice("json", "text"), "json", "Format of logship's own log on stderr."),
    Variable("LOGSHIP_SHUTDOWN_TIMEOUT", positive(parse_duration), "10s",
             "How long the first SIGTERM/SIGINT may take to drain; a second one exits at once."),
    Variable("LOGSHIP_EVENT_LOOP", _event_loop, "asyncio",
             "Event loop: asyncio (the standard library's), uvloop (needs `pip install 'logship[uvloop]'`) or "
             "auto (uvloop when installed)."),
    # docker
    Variable("DOCKER_HOST", docker_host, "unix:///var/run/docker.sock",
             "The Docker engine, as the docker CLI reads it.", section="docker"),
    Variable("DOCKER_TLS_VERIFY", parse_bool, "false",
             "Use TLS with the engine and verify it (tcp:// only), as the docker CLI does.", section="docker"),
    Variable("DOCKER_CERT_PATH", str, None,
             "Folder with ca.pem, cert.pem and key.pem for the engine (default ~/.docker).", section="docker"),
    # collection
    Variable("LOGSHIP_MAX_LINE_BYTES", at_least_16kib, "1MiB",
             "Longest line kept whole; a longer one is cut into parts marked `partial`.", section="collect"),
    Variable("LOGSHIP_READ_LINGER", non_negative_duration, "250ms",
             "After a small read of a container's logs, let more lines gather until the next tick of this "
             "period before reading again (every container's stream on the same ticks, so they are read in "
             "one wake-up; a stream shown slow twice in a row, until the next tick of twice the period): "
             "fewer wake-ups and writes per line at a small cost in latency (0 turns it off).",
             section="collect"),
    Variable("LOGSHIP_EXTRA_FIELDS", extra_fields, "",
             "Static fields added to every record: key=value,… (dots nest: `env.name=prod`).",
             section="collect"),
    Variable("LOGSHIP_INCLUDE_NAMES", parse_regex, None,
             "Follow only containers whose name matches this regular expression.", section="collect"),
    Variable("LOGSHIP_EXCLUDE_NAMES", parse_regex, None,
             "Skip containers whose name matches this regular expression.", section="collect"),
    Variable("LOGSHIP_INCLUDE_LABELS", parse_label_selectors, "",
             "Follow only containers with one of these labels (key or key=value, comma list).",
             section="collect"),
    Variable("LOGSHIP_EXCLUDE_LABELS", parse_label_selectors, "",
             "Skip containers with any of these labels (key or key=value, comma list).", section="collect"),
    Variable("LOGSHIP_EXCLUDE_IMAGES", parse_regex, None,
             "Skip containers whose image name matches this regular expression.", section="collect"),
    Variable("LOGSHIP_INCLUDE_SELF", parse_bool, "false",
             "Also follow logship's own container (off: no feedback loop).", section="collect"),
    # parsing (issue 14): declared in logship.parse.settings
    *(Variable(name, parse, default, help, section="parse") for name, parse, default, help in parse_settings.VARIABLES),
    # buffer
    Variable("LOGSHIP_BUFFER_MAX_BYTES", positive(parse_size), "1GiB",
             "Bound of the disk buffer.", section="buffer"),
    Variable("LOGSHIP_BUFFER_WHEN_FULL", choice("block", "drop_oldest"), "block",
             "When the buffer is full: `block` pauses reading (Docker keeps the logs), `drop_oldest` drops "
             "the oldest segments and counts their lines.", section="buffer"),
    Variable("LOGSHIP_BUFFER_SEGMENT_BYTES", positive(parse_size), "32MiB",
             "Size at which a buffer segment file is closed and a new one started.", section="buffer"),
    Variable("LOGSHIP_BUFFER_FSYNC", choice("interval", "always"), "interval",
             "`interval`: fsync the buffer every LOGSHIP_BUFFER_FSYNC_INTERVAL; `always`: on every write. "
             "Checkpoints never run ahead of what is on disk either way.", section="buffer"),
    Variable("LOGSHIP_BUFFER_FSYNC_INTERVAL", positive(parse_duration), "1s",
             "How often the buffer is fsynced and checkpoints saved.", section="buffer"),
    # batching and retries (every sink)
    Variable("LOGSHIP_BATCH_MAX_LINES", positive_int, "2000", "Most records in one batch.", section="ship"),
    Variable("LOGSHIP_BATCH_MAX_BYTES", positive(parse_size), "4MiB",
             "Most bytes (encoded records) in one batch.", section="ship"),
    Variable("LOGSHIP_BATCH_MAX_WAIT", positive(parse_duration), "1s",
             "Longest a record waits for its batch to fill.", section="ship"),
    Variable("LOGSHIP_RETRY_INITIAL", positive(parse_duration), "500ms",
             "First backoff after a retriable failure (exponential, full jitter).", section="ship"),
    Variable("LOGSHIP_RETRY_MAX", positive(parse_duration), "60s",
             "Longest backoff, and the cap on a store's Retry-After.", section="ship"),
    # the sinks, each from its spec
    *(variable for spec in specs() for variable in spec.variables),
)

VARIABLES_BY_NAME: Mapping[str, Variable] = {variable.name: variable for variable in VARIABLES}
_KNOWN_EXTRA = {"LOGSHIP_TEST_DOCKER"}  # read by the test-suite only, never by logship


# --- the parsed configuration -------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """Everything logship needs to run, parsed and validated."""

    sinks: tuple[str, ...]
    data_dir: Path
    listen: tuple[str, int]
    log_level: str
    log_format: str
    shutdown_timeout: float
    engine: EngineConfig
    collect: CollectConfig
    buffer: BufferConfig
    batch: BatchConfig
    retry: RetryConfig
    sink_configs: Mapping[str, SinkConfig] = field(default_factory=dict)
    backlog: Mapping[str, BacklogLimits] = field(default_factory=dict)  # sinks with a limit only
    parse: parse_settings.ParseSettings = field(default_factory=parse_settings.ParseSettings)
    event_loop: str = "asyncio"  # LOGSHIP_EVENT_LOOP (logship.eventloop)

    @property
    def checkpoint_path(self) -> Path:
        return self.data_dir / "checkpoints.json"


# --- parsing ------------------------------------------------------------------------------------


def _raw_values(environ: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    """The textual value of each declared variable, with secrets read from NAME_FILE."""
    raw: dict[str, str] = {}
    for variable in VARIABLES:
        value = environ.get(variable.name)
        file_name = variable.name + "_FILE"
        if variable.secret and file_name in environ:
            if value is not None:
                problems.append(f"{variable.name} and {file_name} are both set: give only one of them")
                continue
            try:
                value = Path(environ[file_name]).read_bytes().decode("utf-8").rstrip("\r\n")
            except OSError as exc:
                problems.append(f"{file_name}={environ[file_name]!r}: cannot read the file ({exc.strerror})")
                continue
            except UnicodeDecodeError:
                problems.append(f"{file_name}={environ[file_name]!r}: expected a UTF-8 text file")
                continue
        if value is not None and not (variable.secret and value == ""):  # an empty secret is no secret
            raw[variable.name] = value
    return raw


def _unknown_variables(environ: Mapping[str, str]) -> list[str]:
    allowed = set(VARIABLES_BY_NAME) | _KNOWN_EXTRA
    allowed |= {v.name + "_FILE" for v in VARIABLES if v.secret}
    problems = []
    for name in sorted(environ):
        if name.startswith("LOGSHIP_") and name not in allowed:
            close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.85)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{name}: unknown variable{hint}; `logship --help-config` lists them all")
    return problems


def load(environ: Mapping[str, str] | None = None) -> Config:
    """Parse ``environ`` (default: the process environment) into a Config or raise ConfigError."""
    environ = os.environ if environ is None else environ
    problems = _unknown_variables(environ)
    raw = _raw_values(environ, problems)
    values: dict[str, Any] = {}
    for variable in VARIABLES:
        text = raw.get(variable.name, variable.default)
        if text is None:
            values[variable.name] = None
            continue
        try:
            values[variable.name] = variable.parse(text)
        except ValueError as exc:
            shown = "<secret>" if variable.secret else repr(text)
            problems.append(f"{variable.name}={shown}: expected {exc}")
            # Go on with the default, so that problems between variables are reported now too.
            values[variable.name] = variable.parse(variable.default) if variable.default is not None else None
    config = _build(values, raw, problems)
    if problems:
        raise ConfigError(problems)
    return config


def _build(values: dict[str, Any], raw: Mapping[str, str], problems: list[str]) -> Config:
    data_dir = Path(values["LOGSHIP_DATA_DIR"])
    cert_path = values["DOCKER_CERT_PATH"]
    engine = EngineConfig(values["DOCKER_HOST"], values["DOCKER_TLS_VERIFY"],
                          Path(cert_path) if cert_path else None)
    collect = CollectConfig(
        max_line_bytes=values["LOGSHIP_MAX_LINE_BYTES"],
        read_linger=values["LOGSHIP_READ_LINGER"],
        extra_fields=values["LOGSHIP_EXTRA_FIELDS"],
        include_names=values["LOGSHIP_INCLUDE_NAMES"],
        exclude_names=values["LOGSHIP_EXCLUDE_NAMES"],
        include_labels=values["LOGSHIP_INCLUDE_LABELS"],
        exclude_labels=values["LOGSHIP_EXCLUDE_LABELS"],
        exclude_images=values["LOGSHIP_EXCLUDE_IMAGES"],
        include_self=values["LOGSHIP_INCLUDE_SELF"],
    )
    buffer = BufferConfig(
        directory=data_dir / "buffer",
        max_bytes=values["LOGSHIP_BUFFER_MAX_BYTES"],
        when_full=values["LOGSHIP_BUFFER_WHEN_FULL"],
        segment_bytes=values["LOGSHIP_BUFFER_SEGMENT_BYTES"],
        fsync=values["LOGSHIP_BUFFER_FSYNC"],
        fsync_interval=values["LOGSHIP_BUFFER_FSYNC_INTERVAL"],
    )
    if buffer.segment_bytes * 2 > buffer.max_bytes:
        problems.append(
            f"LOGSHIP_BUFFER_SEGMENT_BYTES={raw.get('LOGSHIP_BUFFER_SEGMENT_BYTES', '32MiB')!r}: expected at "
            f"most half of LOGSHIP_BUFFER_MAX_BYTES ({buffer.max_bytes} bytes)")
    batch = BatchConfig(values["LOGSHIP_BATCH_MAX_LINES"], values["LOGSHIP_BATCH_MAX_BYTES"],
                        values["LOGSHIP_BATCH_MAX_WAIT"])
    sinks: dict[str, SinkConfig] = {}
    for sink in values["LOGSHIP_SINK"]:
        sink_config = _sink_config(sink, values, raw, batch, data_dir, problems)
        if sink_config is not None:
            sinks[sink] = sink_config
    return Config(
        sinks=values["LOGSHIP_SINK"],
        data_dir=data_dir,
        listen=values["LOGSHIP_LISTEN"],
        log_level=values["LOGSHIP_LOG_LEVEL"],
        log_format=values["LOGSHIP_LOG_FORMAT"],
        shutdown_timeout=values["LOGSHIP_SHUTDOWN_TIMEOUT"],
        engine=engine,
        collect=collect,
        buffer=buffer,
        batch=batch,
        retry=RetryConfig(values["LOGSHIP_RETRY_INITIAL"], values["LOGSHIP_RETRY_MAX"]),
        sink_configs=sinks,
        backlog=_backlog_limits(values, raw, buffer, problems),
        event_loop=values["LOGSHIP_EVENT_LOOP"],
        parse=parse_settings.from_values(values),
    )


def _backlog_limits(values: Mapping[str, Any], raw: Mapping[str, str], buffer: BufferConfig,
                    problems: list[str]) -> dict[str, BacklogLimits]:
    """The backlog limits of the configured sinks that have one."""
    limits = {}
    # Room for the write segment and the one a give-up starts in: a larger limit would let the buffer
    # fill (and block every sink) before this sink gives anything up.
    most = buffer.max_bytes - 2 * buffer.segment_bytes
    for sink in values["LOGSHIP_SINK"]:
        name = f"LOGSHIP_{sink.upper()}_MAX_BACKLOG"
        max_bytes, max_age = values[name], values[name + "_AGE"]
        if max_bytes is not None and max_bytes > most:
            problems.append(f"{name}={raw[name]!r}: expected at most LOGSHIP_BUFFER_MAX_BYTES minus two "
                            f"LOGSHIP_BUFFER_SEGMENT_BYTES ({max(most, 0)} bytes), or the buffer fills first")
        if max_bytes is not None or max_age is not None:
            limits[sink] = BacklogLimits(max_bytes, max_age)
    return limits


def _sink_config(sink: str, values: Mapping[str, Any], raw: Mapping[str, str], batch: BatchConfig,
                 data_dir: Path, problems: list[str]) -> SinkConfig | None:
    """The typed config of one sink named in LOGSHIP_SINK (its spec's ``configure``), or None after
    reporting what is missing."""
    spec = spec_of(sink)
    required = spec.required
    if required and values[required] is None:
        if required not in raw:  # given but invalid: already reported
            problems.append(f"{required} is not set: LOGSHIP_SINK includes {sink}, which needs it "
                            f"({VARIABLES_BY_NAME[required].help})")
        return None
    config: SinkConfig = spec.configure(SinkValues(spec, values, raw, batch, data_dir, problems))
    return config


# --- documentation --------------------------------------------------------------------------------


def markdown_table() -> str:
    """The README's configuration table, generated from VARIABLES."""
    rows = ["| Variable | Default | Description |", "| --- | --- | --- |"]
    for variable in VARIABLES:
        name = f"`{variable.name}`" + (" (or `_FILE`)" if variable.secret else "")
        default = f"`{variable.default}`" if variable.default else "—"
        rows.append(f"| {name} | {default} | {variable.help} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - used to regenerate the README table
    if "--markdown" in sys.argv:
        print(markdown_table())
