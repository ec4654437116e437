"""The compose files hand logship a configuration it accepts (no Docker needed).

A renamed or mistyped ``LOGSHIP_`` variable in compose.yaml or configs/compose/sidecar.yaml would
only show when someone deploys them; here their ``environment:`` goes through the configuration
module, with the file's own defaults for ``${VAR:-default}``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from logship.config import load
from tests.support import REPO_ROOT

COMPOSE_FILES = [REPO_ROOT / "compose.yaml", REPO_ROOT / "configs" / "compose" / "sidecar.yaml"]
_VARIABLE = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def interpolate(value: Any) -> Any:
    """``${NAME:-default}`` → default, ``${NAME}`` and ``${NAME:?error}`` → "", ``$$`` → ``$`` (as if nothing
    were set; the CLI would refuse a ``:?`` variable left unset)."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: (m.group(3) or "") if m.group(2) == "-" else "", value).replace("$$", "$")
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    return value


def logship_service(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    compose = interpolate(yaml.safe_load(path.read_text()))
    return compose, compose["services"]["logship"]


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_the_environment_is_a_valid_configuration(path: Path) -> None:
    compose, service = logship_service(path)
    environment = {str(k): str(v) for k, v in service["environment"].items()}
    for name, value in list(environment.items()):
        if name.endswith("_FILE") and value.startswith("/run/secrets/"):
            secret = value.removeprefix("/run/secrets/")
            environment[name] = str((path.parent / compose["secrets"][secret]["file"]).resolve())
    config = load(environment)
    assert config.data_dir == Path("/var/lib/logship")  # the image's volume
    assert config.shutdown_timeout < 30  # below stop_grace_period: the drain ends before SIGKILL
    assert service["stop_grace_period"] == "30s"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_the_service_is_locked_down(path: Path) -> None:
    compose, service = logship_service(path)
    assert compose["version"] == "3.8"  # the 20.10 CLI's stack deploy needs it
    assert service["read_only"] is True
    assert service["user"].startswith("10001:")
    mounts = {m["target"]: m for m in service["volumes"]}
    assert mounts["/var/run/docker.sock"]["read_only"] is True
    assert mounts["/var/lib/logship"]["type"] == "volume"
    assert mounts["/tmp"]["type"] == "tmpfs"


def test_compose_runs_logship_on_every_node() -> None:
    _, service = logship_service(COMPOSE_FILES[0])
    deploy = service["deploy"]
    assert deploy["mode"] == "global" and "placement" not in deploy
    assert deploy["update_config"]["order"] == "stop-first"  # never two logship on one volume
    assert deploy["resources"]["limits"] == {"cpus": "0.5", "memory": "256M"}


def compose_file() -> dict[str, Any]:
    """compose.yaml as written (variables not interpolated)."""
    return yaml.safe_load(COMPOSE_FILES[0].read_text())


def test_the_stack_has_its_own_encrypted_network_that_nobody_else_can_join() -> None:
    compose = compose_file()
    assert compose["networks"] == {"logship": {"driver": "overlay", "driver_opts": {"encrypted": "true"},
                                               "attachable": False}}
    for name, service in compose["services"].items():
        assert service.get("networks") == ["logship"], name  # never the default network


def test_nothing_is_published_but_grafana_and_its_port_comes_from_variables() -> None:
    compose = compose_file()
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {"grafana"}
    assert compose["services"]["grafana"]["ports"] == [
        {"target": 3000, "published": "${GRAFANA_PORT:-3000}", "protocol": "tcp", "mode": "${GRAFANA_PORT_MODE:-host}"}]


def test_grafana_admin_password_is_a_secret_without_a_default() -> None:
    compose = compose_file()
    grafana = compose["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in grafana["environment"]
    assert grafana["secrets"] == ["grafana_admin_password"]
    secret_file = compose["secrets"]["grafana_admin_password"]["file"]
    assert secret_file.startswith("${GRAFANA_ADMIN_PASSWORD_FILE:?"), secret_file  # required: no admin/admin


def test_logship_drops_every_capability() -> None:
    logship = compose_file()["services"]["logship"]
    assert logship["cap_drop"] == ["ALL"] and "cap_add" not in logship
    assert logship["security_opt"] == ["no-new-privileges:true"]  # docker-compose; stack deploy ignores it
