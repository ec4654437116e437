"""The Engine API allow-list (issue 16.3) and the client's code agree, both ways.

Two views of "every request logship makes": the source (every path literal handed to the client's request
methods anywhere in ``logship/``, f-string parts taken as ``{id}``), and the wire (every endpoint method
of ``EngineClient`` called against the contract fake of dockerd, which records each request).
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from logship.config import EngineConfig
from logship.engine import ENGINE_API_ALLOWLIST, EngineClient, EngineError
from logship.engine.allowlist import allowed, strip_version
from tests.fakes.fake_engine import FakeEngine
from tests.support import REPO_ROOT

# The client's methods that take a path (``session.get`` only inside logship/engine/).
_PATH_METHODS = {"get_json", "_request_json", "stream"}
_WRITE_METHODS = {"post", "put", "delete", "patch", "request", "ws_connect"}


def _path_template(node: ast.expr) -> str | None:
    """A path literal as a template: ``"/info"`` → ``/info``, ``f"/containers/{quote(x)}/json"`` →
    ``/containers/{id}/json``; None for anything that does not start with ``/``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    elif isinstance(node, ast.JoinedStr):
        text = "".join(part.value if isinstance(part, ast.Constant) else "{id}" for part in node.values)
    else:
        return None
    return text if text.startswith("/") else None


def _engine_calls() -> list[tuple[str, str, str]]:
    """(file, method, path template) of every Engine API request in logship's source. A path given as a
    local variable (``path = f"/containers/{…}/json"`` then ``get_json(path)``) is taken from its assignment
    in the same function."""
    calls = []
    for path in sorted((REPO_ROOT / "logship").rglob("*.py")):
        in_engine = path.parent.name == "engine"
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            local = {target.id: node.value for node in ast.walk(function) if isinstance(node, ast.Assign)
                     for target in node.targets if isinstance(target, ast.Name)}
            for node in ast.walk(function):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
                    continue
                name, argument = node.func.attr, node.args[0]
                if isinstance(argument, ast.Name) and argument.id in local:
                    argument = local[argument.id]
                if name in _PATH_METHODS or (in_engine and name == "get"):
                    template = _path_template(argument)
                    if template is not None:
                        calls.append((path.name, "GET", template))
                elif in_engine and name in _WRITE_METHODS:
                    calls.append((path.name, name.upper(), ast.unparse(argument)))
    return calls


def test_every_request_in_the_code_is_on_the_list_and_every_entry_is_used() -> None:
    calls = _engine_calls()
    outside = [call for call in calls if not allowed(call[1], call[2].replace("{id}", "abc123"))]
    assert outside == [], f"requests missing from ENGINE_API_ALLOWLIST (or not GET): {outside}"
    used = {template for _, _, template in calls}
    assert used == {endpoint.path for endpoint in ENGINE_API_ALLOWLIST}, used


def test_the_list_is_read_only() -> None:
    assert {endpoint.method for endpoint in ENGINE_API_ALLOWLIST} == {"GET"}


ALLOWED_CASES = [
    ("GET", "/_ping", True),
    ("GET", "/v1.41/containers/json?all=1", True),
    ("GET", "/v1.41/containers/4f2a/logs?follow=1&stdout=1", True),
    ("GET", "/v1.45/services/web", True),
    ("GET", "/v1.41/info", True),
    ("HEAD", "/_ping", False),
    ("POST", "/v1.41/containers/create", False),
    ("POST", "/v1.41/containers/4f2a/exec", False),
    ("DELETE", "/v1.41/containers/4f2a", False),
    ("GET", "/v1.41/containers/4f2a/archive?path=/etc", False),
    ("GET", "/v1.41/containers/a/b/logs", False),  # {id} is one segment
    ("GET", "/v1.41/images/json", False),
    ("GET", "/v1.41/secrets", False),
    ("GET", "/v1.41/services", False),  # the list of services is not needed: one by id
    ("GET", "/v1.41/containers/4f2a/json/../../../images/json", False),
    ("GET", "/vx/info", False),
]


@pytest.mark.parametrize(("method", "path", "expected"), ALLOWED_CASES)
def test_allowed(method: str, path: str, expected: bool) -> None:
    assert allowed(method, path) is expected


def test_strip_version() -> None:
    assert strip_version("/v1.41/containers/json?all=1") == "/containers/json"
    assert strip_version("/_ping") == "/_ping"


async def test_every_endpoint_method_sends_only_allowed_requests(tmp_path: Path) -> None:
    """On the wire: each of the client's endpoint methods, called once against the fake dockerd."""
    async with FakeEngine(tmp_path / "docker.sock") as engine:
        container = engine.add_container("web", running=False, logs=b"")
        config = EngineConfig(host=engine.docker_host, tls_verify=False, cert_path=None)
        async with EngineClient(config) as client:
            await client.ping()
            await client.negotiate()
            await client.info()
            await client.list_containers()
            await client.inspect_container(container.id)
            with pytest.raises(EngineError):
                await client.inspect_service("svc1")  # the fake is no swarm manager: 404, but the request went
            async with client.logs(container.id, follow=False, since="0") as response:
                await response.read()
            async with client.events({"type": ["container"]}) as response:
                response.close()
    endpoint_methods = {name for name, _ in inspect.getmembers(EngineClient, inspect.isfunction)
                        if not name.startswith("_")} - {"get_json", "stream", "aclose"}
    assert endpoint_methods == {"ping", "negotiate", "info", "list_containers", "inspect_container",
                                "inspect_service", "logs", "events"}, "a new endpoint method: call it above"
    requests = [line.split(" ", 1) for line in engine.requests]
    assert len(requests) >= 8, engine.requests
    assert [r for r in requests if not allowed(r[0], r[1])] == []
    seen = {strip_version(path) for _, path in requests}
    assert {"/_ping", "/version", "/info", "/containers/json", f"/containers/{container.id}/json",
            f"/containers/{container.id}/logs", "/events", "/services/svc1"} <= seen, seen


HAPROXY_CONFIG = REPO_ROOT / "configs" / "compose" / "socket-proxy" / "haproxy.cfg"


def test_the_haproxy_rule_given_to_users_is_the_same_list() -> None:
    """configs/compose/socket-proxy/haproxy.cfg (README) decides every sample path as the list does."""
    lines = [line.strip() for line in HAPROXY_CONFIG.read_text().splitlines() if not line.strip().startswith("#")]
    (acl,) = [line for line in lines if line.startswith("acl logship_path path -m reg ")]
    regex = re.compile(acl.removeprefix("acl logship_path path -m reg "))
    assert "http-request deny deny_status 403 unless { method GET } logship_path" in lines
    samples = [(method, path) for method, path, _ in ALLOWED_CASES]
    for endpoint in ENGINE_API_ALLOWLIST:
        for prefix in ("", "/v1.41", "/v1.24"):
            path = prefix + endpoint.path.replace("{id}", "4f2a9c")
            samples += [("GET", path), ("GET", path + "/x"), ("POST", path), ("HEAD", path)]
    for method, path in samples:
        haproxy_allows = method == "GET" and regex.fullmatch(path.partition("?")[0]) is not None
        assert haproxy_allows is allowed(method, path), (method, path)


def test_the_readme_gives_the_same_list() -> None:
    """README, "Through a Docker socket proxy": one table row per endpoint, in the constant's order."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index("## Through a Docker socket proxy"):text.index("## Security notes")]
    rows = re.findall(r"^\| (GET|POST|HEAD|PUT|DELETE) \| `([^`]+)` \| (.+) \|$", section, re.M)
    assert [(method, path) for method, path, _ in rows] == [(e.method, e.path) for e in ENGINE_API_ALLOWLIST]
    assert [why for _, _, why in rows] == [e.why for e in ENGINE_API_ALLOWLIST]
