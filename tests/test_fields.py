"""logship.fields: a record's leaves with their key paths, and their dotted names."""

from __future__ import annotations

from typing import Any

from logship.fields import dotted, flatten


def test_flatten_and_dotted() -> None:
    node: dict[str, Any] = {"a": {"b": 1, "labels": {"c": "x"}, "empty": {}}, "n": None, "l": [1], "s": ""}
    leaves = list(flatten(node))
    assert leaves == [(("a", "b"), 1), (("a", "labels", "c"), "x"), (("l",), [1]), (("s",), "")]
    assert [dotted(path) for path, _ in leaves] == ["a.b", "a.labels.c", "l", "s"]
    assert dotted(("a", "labels", "c"), "label") == "a.label.c"
    assert dotted(("labels",), "label") == "labels"  # only an object named labels is renamed
