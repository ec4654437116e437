"""What a sink declares about itself (``SinkSpec``) and the variables every sink shares.

Each ``logship.sinks.<store>.spec`` module defines ``SPEC``: its variables (its own, then the shared ones
from ``network_variables`` or ``batch_variables``/``backlog_variables``), its typed config, its batch
defaults, ``configure`` (parsed values → config) and ``build`` (config → sink object).
``logship.sinks.registry`` lists the specs; ``logship.config`` iterates them and knows no sink by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logship.settings.auth import auth_problems
from logship.settings.forms import parse_bool, parse_duration, parse_size, positive, positive_int, status_codes
from logship.settings.types import BatchConfig, TlsConfig
from logship.settings.variable import Variable
from logship.ship.contract import Sink


class SinkValues:
    """One sink's parsed variables, for its spec's ``configure``: ``values["URL"]`` is the value of
    ``LOGSHIP_<SINK>_URL``. Problems found while configuring go to ``problem`` (reported with all the others)."""

    def __init__(self, spec: SinkSpec, values: Mapping[str, Any], raw: Mapping[str, str], batch: BatchConfig,
                 data_dir: Path, problems: list[str]) -> None:
        self.spec = spec
        self.prefix = f"LOGSHIP_{spec.name.upper()}_"
        self.data_dir = data_dir
        self._values = values
        self._raw = raw
        self._batch = batch
        self._problems = problems

    def __getitem__(self, suffix: str) -> Any:
        return self._values[self.prefix + suffix]

    def get(self, suffix: str) -> Any:
        """The value of ``LOGSHIP_<SINK>_<suffix>``, or None when the sink has no such variable."""
        return self._values.get(self.prefix + suffix)

    def problem(self, text: str) -> None:
        """Report one configuration problem (a sentence naming variable, value and what is allowed)."""
        self._problems.append(text)

    def batch(self) -> BatchConfig:
        """The sink's own limits, else the global ones when set, else the sink's defaults."""
        lines, size = self.spec.batch_defaults or (self._batch.max_lines, self._batch.max_bytes)
        max_lines = self.get("BATCH_MAX_LINES") or (
            self._batch.max_lines if "LOGSHIP_BATCH_MAX_LINES" in self._raw else lines)
        max_bytes = self.get("BATCH_MAX_BYTES") or (
            self._batch.max_bytes if "LOGSHIP_BATCH_MAX_BYTES" in self._raw else size)
        return BatchConfig(max_lines, max_bytes, self._batch.max_wait)

    def tls(self) -> TlsConfig:
        """The TLS variables, with the files checked (readable; certificate and key together)."""
        tls = TlsConfig(self["TLS_CA_FILE"], self["TLS_CERT_FILE"], self["TLS_KEY_FILE"], self["TLS_INSECURE"])
        prefix = self.prefix + "TLS_"
        for suffix, path in (("CA_FILE", tls.ca_file), ("CERT_FILE", tls.cert_file), ("KEY_FILE", tls.key_file)):
            if path is not None and not Path(path).is_file():
                self.problem(f"{prefix}{suffix}={path!r}: expected a readable file")
        if (tls.cert_file is None) != (tls.key_file is None):
            self.problem(f"{prefix}CERT_FILE and {prefix}KEY_FILE: expected both or neither")
        return tls

    def options(self) -> dict[str, Any]:
        """The ``SinkOptions`` fields of a network sink (``network_variables``)."""
        return {"concurrency": self["CONCURRENCY"], "timeout": self["TIMEOUT"],
                "retry_status": self.get("RETRY_STATUS") or frozenset(), "tls": self.tls(), "batch": self.batch()}

    def auth(self, *, user: str = "USERNAME", password_needs_user: bool = True) -> dict[str, Any]:
        """The authentication variables (``auth_variables``), checked by ``auth_problems``."""
        found = {"username": self.get(user), "password": self.get("PASSWORD"),
                 "bearer_token": self.get("BEARER_TOKEN"), "api_key": self.get("API_KEY")}
        for text in auth_problems(self.prefix, **found, password_needs_user=password_needs_user):
            self.problem(text)
        return found


@dataclass(frozen=True)
class SinkSpec:
    """One sink, as ``logship.config`` sees it.

    ``name``: its name in LOGSHIP_SINK; ``variables``: every ``LOGSHIP_<NAME>_*`` it reads, in the order
    of the README's table; ``required``: the variable it cannot run without (a missing one is reported
    naming the sink); ``batch_defaults``: its own (lines, bytes) limits, used unless LOGSHIP_<NAME>_BATCH_*
    or the global LOGSHIP_BATCH_* is set (None: the global ones); ``configure``: the typed config from the
    parsed values; ``build``: the sink object from that config (imports the sink's code when called);
    ``destination``: for a network sink, where its config sends, as ``scheme://host[:port][/path]`` (the
    value of ``required``, parsed), for checks that read addresses (``logship.plaintext``).
    """

    name: str
    variables: tuple[Variable, ...]
    configure: Callable[[SinkValues], Any]
    build: Callable[[Any], Sink]
    required: str | None = None
    batch_defaults: tuple[int, int] | None = None
    destination: Callable[[Any], str] | None = None


def lazy_factory(module: str, name: str) -> Callable[[Any], Sink]:
    """A ``SinkSpec.build`` that imports ``module`` when called (a sink's code and its dependencies load only
    when it is configured) and returns ``name(config)``."""

    def build(config: Any) -> Sink:
        sink: Sink = getattr(importlib.import_module(module), name)(config)
        return sink

    return build


def backlog_variables(sink: str) -> list[Variable]:
    """LOGSHIP_<SINK>_MAX_BACKLOG and _MAX_BACKLOG_AGE: how far behind the sink may fall (see BacklogLimits)."""
    prefix = f"LOGSHIP_{sink.upper()}_"
    return [
        Variable(prefix + "MAX_BACKLOG", positive(parse_size), None,
                 "Most bytes this sink may leave unacknowledged in the buffer: past it, it gives up its oldest "
                 "records (a segment at a time, counted in logship_lines_dropped_total) so that collection and "
                 "the other sinks go on. Unset: never (the buffer fills, then LOGSHIP_BUFFER_WHEN_FULL).",
                 section=sink),
        Variable(prefix + "MAX_BACKLOG_AGE", positive(parse_duration), None,
                 "Oldest record (by its Docker timestamp) this sink may still have to deliver: older ones are "
                 "given up, a segment at a time, counted. Unset: no age limit.", section=sink),
    ]


def batch_variables(sink: str, defaults: tuple[int, int] | None) -> list[Variable]:
    """LOGSHIP_<SINK>_BATCH_MAX_LINES/BYTES, for a sink with its own defaults."""
    if defaults is None:
        return []
    prefix = f"LOGSHIP_{sink.upper()}_"
    lines, size = defaults
    return [
        Variable(prefix + "BATCH_MAX_LINES", positive_int, None,
                 f"Most records in one batch for this sink (default: LOGSHIP_BATCH_MAX_LINES if set, else "
                 f"{lines}).", section=sink),
        Variable(prefix + "BATCH_MAX_BYTES", positive(parse_size), None,
                 f"Most bytes in one batch for this sink (default: LOGSHIP_BATCH_MAX_BYTES if set, else "
                 f"{size // 1024**2}MiB).", section=sink),
    ]


def network_variables(sink: str, batch_defaults: tuple[int, int] | None, concurrency: int = 2, http: bool = True,
                      retry_status: str = "408,429,500,502,503,504") -> list[Variable]:
    """What every network sink has: concurrency, timeout, retried statuses (HTTP), TLS, batch, backlog."""
    prefix = f"LOGSHIP_{sink.upper()}_"
    variables = [
        Variable(prefix + "CONCURRENCY", positive_int, str(concurrency),
                 "Requests in flight at once for this sink.", section=sink),
        Variable(prefix + "TIMEOUT", positive(parse_duration), "30s",
                 "Timeout of one request, connect included.", section=sink),
    ]
    if http:
        variables.append(Variable(prefix + "RETRY_STATUS", status_codes, retry_status,
                                  "HTTP statuses retried (with backoff) rather than rejected.", section=sink))
    variables += [
        Variable(prefix + "TLS_CA_FILE", str, None, "CA bundle to verify the server with.", section=sink),
        Variable(prefix + "TLS_CERT_FILE", str, None, "Client certificate (PEM) for mutual TLS.", section=sink),
        Variable(prefix + "TLS_KEY_FILE", str, None, "Client key (PEM) for mutual TLS.", section=sink),
        Variable(prefix + "TLS_INSECURE", parse_bool, "false",
                 "Skip verification of the server's certificate (logs a warning).", section=sink),
    ]
    return variables + batch_variables(sink, batch_defaults) + backlog_variables(sink)


def auth_variables(sink: str, api_key: bool = False) -> list[Variable]:
    """Basic auth and bearer token (and an API key) for an HTTP sink; ``SinkValues.auth`` reads them."""
    prefix = f"LOGSHIP_{sink.upper()}_"
    variables = [
        Variable(prefix + "USERNAME", str, None, "Basic-auth user.", section=sink),
        Variable(prefix + "PASSWORD", str, None, "Basic-auth password.", secret=True, section=sink),
        Variable(prefix + "BEARER_TOKEN", str, None, "Bearer token.", secret=True, section=sink),
    ]
    if api_key:
        variables.append(Variable(prefix + "API_KEY", str, None, "API key (the base64 `id:key` form).",
                                  secret=True, section=sink))
    return variables
