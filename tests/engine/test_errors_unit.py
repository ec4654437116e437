"""error_for_status: every engine answer becomes a typed error that says whether to try again."""

from __future__ import annotations

import pytest

from logship.engine.errors import EngineError, LogsUnreadable, NotFound, NotSwarmManager, error_for_status

PATH = "/v1.41/containers/6ca5/logs"


@pytest.mark.parametrize(
    ("status", "message", "kind", "retriable"),
    [
        (404, "No such container: nope", NotFound, False),
        (404, "service hot4 not found", NotFound, False),
        (501, "configured logging driver does not support reading", LogsUnreadable, False),
        (503, "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. "
              "Please run this command on a manager node or promote the current node to a manager.",
         NotSwarmManager, False),
        (503, "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this "
              "node to swarm and try again.", NotSwarmManager, False),
        (503, "Service Unavailable", EngineError, True),
        (500, 'strconv.ParseInt: parsing "abc": invalid syntax', EngineError, True),
        (502, "Bad Gateway", EngineError, True),
        (429, "Too Many Requests", EngineError, True),
        (400, "Bad parameters: you must choose at least one stream", EngineError, False),
        (409, "Conflict", EngineError, False),
    ],
)
def test_error_for_status(status: int, message: str, kind: type[EngineError], retriable: bool) -> None:
    error = error_for_status(status, message, PATH)
    assert type(error) is kind
    assert isinstance(error, EngineError)
    assert error.retriable is retriable
    assert error.status == status
    assert PATH in str(error) and str(status) in str(error) and message in str(error)
