"""Records carry the schema's metadata for Swarm tasks and compose containers (real dockerd, real swarm)."""

from __future__ import annotations

import pytest

from tests.support import TEST_IMAGE, TEST_LABEL, DockerHarness, LogshipProcess, wait_until

pytestmark = pytest.mark.docker


def test_swarm_task_and_compose_container_fields(docker: DockerHarness, logship: LogshipProcess) -> None:
    info = docker.client.info()
    node_id = info["Swarm"]["NodeID"]
    assert info["Swarm"]["LocalNodeState"] == "active", "the CI's single-node swarm is needed"
    service_name = f"shop_web{docker.run_id}"
    logship.start()
    service = docker.client.services.create(
        TEST_IMAGE, command=["sh", "-c", "echo svc-line-1; echo svc-line-2 >&2; sleep 3600"], name=service_name,
        labels={"team": "shop", TEST_LABEL: "1", f"{TEST_LABEL}.run": docker.run_id},
        container_labels={**docker.labels, "com.docker.stack.namespace": "shop"})
    compose_name = f"compose-{docker.run_id}"
    docker.run("echo compose-line", name=compose_name, labels={
        "com.docker.compose.project": "shop", "com.docker.compose.service": "api", "tier": "backend"})

    def task_records() -> list[dict]:
        return [r for r in logship.records() if r["container"]["name"].startswith(service_name + ".")]

    records = wait_until(lambda: len(task_records()) >= 2 and task_records(), 60, message="swarm task lines")
    task = service.tasks()[0]
    by_message = {r["message"]: r for r in records}
    assert set(by_message) == {"svc-line-1", "svc-line-2"}
    record = by_message["svc-line-1"]
    assert by_message["svc-line-2"]["stream"] == "stderr"
    assert record["service"] == {"name": f"web{docker.run_id}", "namespace": "shop"}
    assert record["swarm"]["service"]["id"] == service.id
    assert record["swarm"]["service"]["name"] == service_name
    assert record["swarm"]["service"]["labels"]["team"] == "shop"  # read from /services/{id}
    assert record["swarm"]["task"]["id"] == task["ID"]
    assert record["swarm"]["task"]["slot"] == 1
    assert record["swarm"]["task"]["name"] == f"{service_name}.1.{task['ID']}"
    assert record["swarm"]["node"] == {"id": node_id}
    assert record["host"] == {"name": info["Name"], "id": node_id}
    assert record["container"]["id"] == task["Status"]["ContainerStatus"]["ContainerID"]
    assert record["container"]["image"]["name"].startswith(TEST_IMAGE)
    assert "compose" not in record
    assert not any(k.startswith("com.docker.") for k in record["container"].get("labels", {}))

    compose = wait_until(lambda: [r for r in logship.records() if r["container"]["name"] == compose_name], 30,
                         message="compose container line")[0]
    assert compose["message"] == "compose-line"
    assert compose["compose"] == {"project": "shop", "service": "api"}
    assert compose["service"] == {"name": "api", "namespace": "shop"}
    assert compose["container"]["labels"]["tier"] == "backend"
    assert "swarm" not in compose
    assert logship.stop() == 0


def test_extra_fields_and_exclusion_label(docker: DockerHarness, logship: LogshipProcess) -> None:
    logship.env["LOGSHIP_EXTRA_FIELDS"] = "env.name=ci,cluster=test"
    logship.start()
    kept = f"kept-{docker.run_id}"
    skipped = f"skipped-{docker.run_id}"
    docker.run("echo skip-me", name=skipped, labels={"logship.enable": "false"})
    docker.run("echo keep-me", name=kept)
    record = wait_until(lambda: [r for r in logship.records() if r["container"]["name"] == kept], 30,
                        message="kept container line")[0]
    assert record["env"] == {"name": "ci"} and record["cluster"] == "test"
    assert not [r for r in logship.records() if r["container"]["name"] == skipped]
    assert logship.stop() == 0
