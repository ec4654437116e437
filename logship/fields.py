"""Walking a record's fields (its metadata and parsed attributes): leaves with their key paths, a value at a
path, a path as a dotted name. Each sink names the paths its way (``logship.record`` owns the layout)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def flatten(node: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """The leaves of ``node`` with their key paths, depth first in key order: every value that is not
    an object, nulls left out (an empty object leaves nothing). Each sink names the paths its way."""
    for key, value in node.items():
        here = (*path, key)
        if type(value) is dict:
            yield from flatten(value, here)
        elif value is not None:
            yield here, value


def lookup(node: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in nested objects (a record's fields), or None where the path leaves them."""
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def dotted(path: tuple[str, ...], labels: str = "labels") -> str:
    """``("container", "labels", "team")`` → ``container.labels.team`` (``labels`` as an inner key
    renamed to ``labels``'s value, e.g. ``label`` for OpenTelemetry's names)."""
    if labels != "labels" and "labels" in path[:-1]:
        path = tuple(labels if key == "labels" else key for key in path[:-1]) + path[-1:]
    return ".".join(path)
