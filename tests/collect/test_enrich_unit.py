"""container_fields, nest_fields and merge: the metadata a user finds on every record."""

from __future__ import annotations

from typing import Any

import pytest

from logship.collect.enrich import container_fields, merge, nest_fields

NODE = {"name": "node-3", "id": "zacq2tq1m4kzc0mvl0t5q7nb1"}
CID = "6ca5" + "0" * 60
SERVICE_ID = "hot4kxzw2f7k0y9uwn6a1d3c5"
TASK_ID = "atuvfibd6g47q0k1m3h9r0s2x"
NODE_ID = "zacq2tq1m4kzc0mvl0t5q7nb1"


def inspect(name: str, labels: dict[str, str] | None, image: str = "nginx:1.27") -> dict[str, Any]:
    """The parts of GET /containers/{id}/json that enrichment reads."""
    return {"Id": CID, "Name": name, "Config": {"Image": image, "Labels": labels, "Tty": False},
            "State": {"Running": True}}


COMPOSE_LABELS = {
    "com.docker.compose.project": "shop",
    "com.docker.compose.service": "api",
    "com.docker.compose.container-number": "1",
    "com.docker.compose.oneoff": "False",
    "com.docker.compose.config-hash": "9f1c" * 16,
    "com.docker.compose.project.working_dir": "/srv/shop",
    "com.docker.compose.project.config_files": "/srv/shop/compose.yaml",
    "com.docker.compose.version": "2.29.1",
    "com.docker.compose.image": "sha256:" + "ab" * 32,
    "team": "shop",
}


def stack_labels(task_name: str, service: str = "shop_web") -> dict[str, str]:
    return {
        "com.docker.stack.namespace": "shop",
        "com.docker.swarm.node.id": NODE_ID,
        "com.docker.swarm.service.id": SERVICE_ID,
        "com.docker.swarm.service.name": service,
        "com.docker.swarm.task": "",
        "com.docker.swarm.task.id": TASK_ID,
        "com.docker.swarm.task.name": task_name,
        "team": "shop",
        "org.opencontainers.image.version": "1.27",
    }


def test_plain_container() -> None:
    fields = container_fields(inspect("/web", None), NODE, None)
    assert fields == {
        "container": {"id": CID, "name": "web", "image": {"name": "nginx:1.27"}},
        "service": {"name": "web"},
        "host": {"name": "node-3", "id": NODE["id"]},
    }


def test_plain_container_with_labels() -> None:
    fields = container_fields(inspect("/web", {"team": "shop", "env": "prod"}), NODE, None)
    assert fields["container"]["labels"] == {"team": "shop", "env": "prod"}
    assert "compose" not in fields and "swarm" not in fields
    assert fields["service"] == {"name": "web"}


def test_host_fields_are_a_copy_of_the_node() -> None:
    node = dict(NODE)
    fields = container_fields(inspect("/web", {}), node, None)
    fields["host"]["name"] = "changed"
    assert node["name"] == "node-3"


def test_compose_container() -> None:
    fields = container_fields(inspect("/shop-api-1", COMPOSE_LABELS), NODE, None)
    assert fields == {
        "container": {"id": CID, "name": "shop-api-1", "image": {"name": "nginx:1.27"}, "labels": {"team": "shop"}},
        "service": {"name": "api", "namespace": "shop"},
        "compose": {"project": "shop", "service": "api"},
        "host": NODE,
    }


def test_swarm_task_of_a_stack() -> None:
    task_name = f"shop_web.1.{TASK_ID}"
    service_labels = {"tier": "frontend", "owner": "team-shop"}
    fields = container_fields(inspect(f"/{task_name}", stack_labels(task_name), "nginx:1.27@sha256:" + "cd" * 32),
                              NODE, service_labels)
    assert fields == {
        "container": {"id": CID, "name": task_name, "image": {"name": "nginx:1.27@sha256:" + "cd" * 32},
                      "labels": {"team": "shop", "org.opencontainers.image.version": "1.27"}},
        "service": {"name": "web", "namespace": "shop"},
        "swarm": {"service": {"id": SERVICE_ID, "name": "shop_web", "labels": service_labels},
                  "task": {"id": TASK_ID, "name": task_name, "slot": 1},
                  "node": {"id": NODE_ID}},
        "host": NODE,
    }


@pytest.mark.parametrize(
    ("task_name", "slot"),
    [
        (f"web.1.{TASK_ID}", 1),
        (f"shop_web.12.{TASK_ID}", 12),
        (f"shop_web.{NODE_ID}.{TASK_ID}", None),  # global service: the node id, not a slot
        (f"svc.{NODE_ID}.{TASK_ID}", None),
    ],
)
def test_swarm_task_slot(task_name: str, slot: int | None) -> None:
    fields = container_fields(inspect(f"/{task_name}", stack_labels(task_name)), NODE, None)
    task = fields["swarm"]["task"]
    assert task["name"] == task_name
    if slot is None:
        assert "slot" not in task
    else:
        assert task["slot"] == slot


def test_swarm_service_labels_left_out_when_unknown() -> None:
    task_name = f"shop_web.1.{TASK_ID}"
    fields = container_fields(inspect(f"/{task_name}", stack_labels(task_name)), NODE, None)
    assert fields["swarm"]["service"] == {"id": SERVICE_ID, "name": "shop_web"}
    fields = container_fields(inspect(f"/{task_name}", stack_labels(task_name)), NODE, {})
    assert "labels" not in fields["swarm"]["service"]


def test_swarm_service_outside_a_stack() -> None:
    labels = stack_labels(f"web.1.{TASK_ID}", service="web")
    del labels["com.docker.stack.namespace"]
    fields = container_fields(inspect(f"/web.1.{TASK_ID}", labels), NODE, None)
    assert fields["service"] == {"name": "web"}


def test_stack_prefix_is_removed_only_at_the_start() -> None:
    labels = stack_labels(f"shop_shop_web.1.{TASK_ID}", service="shop_shop_web")
    fields = container_fields(inspect("/x", labels), NODE, None)
    assert fields["service"] == {"name": "shop_web", "namespace": "shop"}


@pytest.mark.parametrize(
    "labels",
    [COMPOSE_LABELS, stack_labels(f"shop_web.1.{TASK_ID}")],
    ids=["compose", "swarm-stack"],
)
def test_docker_structured_labels_are_not_repeated_in_container_labels(labels: dict[str, str]) -> None:
    fields = container_fields(inspect("/c", labels), NODE, None)
    own = fields["container"].get("labels", {})
    assert not [key for key in own if key.startswith("com.docker.")]
    assert own["team"] == "shop"


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ((), {}),
        ((("env", "prod"),), {"env": "prod"}),
        ((("env.name", "prod"),), {"env": {"name": "prod"}}),
        ((("env.name", "prod"), ("env.region", "eu")), {"env": {"name": "prod", "region": "eu"}}),
        ((("a.b.c", "1"), ("a.b.d", "2"), ("a.e", "3")), {"a": {"b": {"c": "1", "d": "2"}, "e": "3"}}),
        ((("host.name", "edge-1"),), {"host": {"name": "edge-1"}}),
    ],
)
def test_nest_fields(pairs: tuple[tuple[str, str], ...], expected: dict[str, Any]) -> None:
    assert nest_fields(pairs) == expected


@pytest.mark.parametrize(
    ("base", "extra", "expected"),
    [
        ({}, {}, {}),
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"host": {"name": "n", "id": "i"}}, {"host": {"name": "edge"}}, {"host": {"name": "edge", "id": "i"}}),
        ({"a": {"b": {"c": 1}}}, {"a": {"b": {"d": 2}}}, {"a": {"b": {"c": 1, "d": 2}}}),
        ({"a": "scalar"}, {"a": {"b": 1}}, {"a": {"b": 1}}),
        ({"a": {"b": 1}}, {"a": "scalar"}, {"a": "scalar"}),
    ],
)
def test_merge(base: dict[str, Any], extra: dict[str, Any], expected: dict[str, Any]) -> None:
    assert merge(base, extra) == expected
    assert base == expected, "merge works in place"


def test_extra_fields_merged_onto_container_fields() -> None:
    fields = container_fields(inspect("/web", None), NODE, None)
    merged = merge(fields, nest_fields((("env.name", "prod"), ("host.zone", "eu-1"))))
    assert merged["env"] == {"name": "prod"}
    assert merged["host"] == {**NODE, "zone": "eu-1"}
    assert merged["service"] == {"name": "web"}
