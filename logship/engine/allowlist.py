"""The Engine API requests logship makes: the rule set for a Docker socket proxy in front of it.

``ENGINE_API_ALLOWLIST`` is the contract (README: "Through a Docker socket proxy"). Invariants:

- every request ``EngineClient`` sends matches one entry (``tests/engine/test_allowlist_unit.py`` reads the
  client's code and checks it), and every entry is used;
- all are ``GET``: logship never creates, starts, stops, execs or removes anything;
- a path is matched after its optional version prefix (``/v1.41``); ``{id}`` is one path segment (a
  container or service id or name), never a ``/``.

A proxy that allows exactly these and answers everything else with 403 runs logship unchanged
(``tests/engine/test_allowlist_proxy_docker.py`` runs a real logship through one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoint:
    """One allowed request: ``method`` and a path pattern whose ``{id}`` stands for one path segment."""

    method: str
    path: str
    why: str
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.compile(re.escape(self.path).replace(re.escape("{id}"), "[^/]+"))
        object.__setattr__(self, "_regex", regex)

    def matches(self, method: str, path: str) -> bool:
        """True when ``method path`` (the path without its query, version prefix allowed) is this endpoint."""
        return method == self.method and self._regex.fullmatch(strip_version(path)) is not None


ENGINE_API_ALLOWLIST: tuple[Endpoint, ...] = (
    Endpoint("GET", "/_ping", "is the engine there (start, logship check)"),
    Endpoint("GET", "/version", "API version negotiation"),
    Endpoint("GET", "/info", "node id and name, Swarm state"),
    Endpoint("GET", "/events", "containers starting, stopping, being removed"),
    Endpoint("GET", "/containers/json", "the containers on this node"),
    Endpoint("GET", "/containers/{id}/json", "a container's labels, log driver, TTY, Swarm task"),
    Endpoint("GET", "/containers/{id}/logs", "the log lines"),
    Endpoint("GET", "/services/{id}", "a Swarm service's labels (managers only)"),
)

_VERSION = re.compile(r"^/v\d+\.\d+(?=/)")


def strip_version(path: str) -> str:
    """``/v1.41/containers/json`` → ``/containers/json``; the query, if any, is dropped too."""
    return _VERSION.sub("", path.partition("?")[0], count=1)


def allowed(method: str, path: str) -> bool:
    """True when ``method path`` is one of the requests logship makes."""
    return any(endpoint.matches(method, path) for endpoint in ENGINE_API_ALLOWLIST)
