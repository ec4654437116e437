"""compose.yaml's logship service, as an image built here, deployed with ``docker stack deploy``.

End to end on the CI's single-node swarm: the image is built with the local engine (the base image
from debootstrap and the wheels from the host, via ``.ci/images.sh``: nothing is pulled), the stack
file is compose.yaml's own ``logship`` service (loaded with PyYAML, changed only where a test must:
its environment points it at a receiver on this host and at this test's containers, its volume and
service carry the test's labels) next to a busybox service writing numbered lines. The receiver
(``tests.fakes.http_receiver``) listens on the gateway of ``docker_gwbridge``, the bridge through
which swarm tasks reach their host.

Checked: the lines arrive, none missing, with their Swarm metadata; a task added by
``docker service scale`` is followed too; ``docker stack rm`` stops logship gracefully (exit code 0,
its log says it drained) and its named volume keeps the buffer and the checkpoints. The stack, the
volume and the image are removed at the end; the base image, the wheels and BuildKit's cache stay.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker as docker_sdk
import orjson
import pytest
import yaml

from tests.support import REPO_ROOT, TEST_IMAGE, DockerHarness, ReceiverProcess, wait_until

pytestmark = pytest.mark.docker

DOCKER_CLI = os.environ.get("CI_DOCKER", "/usr/bin/docker")  # Debian's 20.10 CLI (see .ci/lib.sh)
COMPOSE_FILE = REPO_ROOT / "compose.yaml"
IMAGES_SCRIPT = REPO_ROOT / ".ci" / "images.sh"
SOCKET = "/var/run/docker.sock"


# ------------------------------------------------------------------------------------ helpers


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120, check: bool = True,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, env=env, timeout=timeout, capture_output=True, text=True, cwd=cwd)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {result.returncode}\n"
                             f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}")
    return result


def build_image(tag: str) -> None:
    """The Dockerfile on logship-base:bookworm with the host's wheels (each made first if missing)."""
    print(run_cli("bash", str(IMAGES_SCRIPT), "image", tag, timeout=900).stdout, end="")  # its "[ci] …" lines


def gateway_of_docker_gwbridge(client: docker_sdk.DockerClient) -> str:
    """The host's address on docker_gwbridge: what a swarm task reaches its host through."""
    network = client.networks.get("docker_gwbridge")
    configs = network.attrs["IPAM"]["Config"] or []
    gateways = [c["Gateway"] for c in configs if c.get("Gateway") and ":" not in c["Gateway"]]
    assert gateways, f"docker_gwbridge has no IPv4 gateway: {configs}"
    return gateways[0]


def derived_stack(stack: str, run_id: str, labels: dict[str, str], receiver_url: str) -> dict[str, Any]:
    """compose.yaml with only its ``logship`` service, changed minimally, plus a service to follow."""
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    logship = compose["services"]["logship"]
    # Where the records go and which containers to follow: this test's receiver and containers only
    # (other tests run their own containers on this engine at the same time).
    logship["environment"].update({
        "LOGSHIP_HTTP_URL": receiver_url,
        "LOGSHIP_INCLUDE_LABELS": f"logship.test.run={run_id}",
        "LOGSHIP_BATCH_MAX_WAIT": "200ms",
        "LOGSHIP_LOG_FORMAT": "text",
    })
    # The service carries the test's labels, so that .ci's cleanup finds it after an interrupted run.
    logship["deploy"].setdefault("labels", {}).update(labels)
    used_volumes = [v["source"] for v in logship.get("volumes", []) if isinstance(v, dict) and v["type"] == "volume"]
    used_secrets = [s if isinstance(s, str) else s["source"] for s in logship.get("secrets", [])]
    volumes = {name: {**(compose["volumes"][name] or {}), "labels": labels} for name in used_volumes}
    secrets = {name: compose["secrets"][name] for name in used_secrets}
    networks = {name: compose["networks"][name] for name in logship.get("networks", [])}
    numbers = {
        "image": TEST_IMAGE,
        # `$$`: the stack file is interpolated by the CLI; the shell gets a single `$`.
        "command": ["sh", "-c", "trap 'exit 0' TERM; i=0; while true; do i=$$((i+1)); echo \"line $$i\"; "
                                "sleep 0.1; done"],
        "labels": labels,  # on the containers: what LOGSHIP_INCLUDE_LABELS selects
        "stop_grace_period": "2s",
        "deploy": {"replicas": 1, "labels": {**labels, "team": "deploy-test"},
                   "restart_policy": {"condition": "none"}},
    }
    if networks:
        numbers["networks"] = list(networks)
    return {"version": compose["version"], "services": {"logship": logship, "numbers": numbers},
            "volumes": volumes, "secrets": secrets, **({"networks": networks} if networks else {})}


class ContainerWatch:
    """Follows one container's log and waits for its ``die`` event (with the exit code), in threads,
    so that both survive the container's removal by the swarm right after it stops."""

    def __init__(self, client: docker_sdk.DockerClient, container_id: str) -> None:
        self.log = bytearray()
        self.exit_code: int | None = None
        self._died = threading.Event()
        container = client.containers.get(container_id)
        self._events = client.events(decode=True, filters={"container": container_id, "event": "die"})
        self._logs = container.logs(stream=True, follow=True, stdout=True, stderr=True)
        threading.Thread(target=self._read_logs, daemon=True).start()
        threading.Thread(target=self._read_events, daemon=True).start()

    def _read_logs(self) -> None:
        with contextlib.suppress(Exception):
            for chunk in self._logs:
                self.log += chunk

    def _read_events(self) -> None:
        with contextlib.suppress(Exception):
            for event in self._events:
                self.exit_code = int(event["Actor"]["Attributes"].get("exitCode", -1))
                self._died.set()
                return

    def wait_died(self, timeout: float) -> int:
        assert self._died.wait(timeout), f"the container did not stop within {timeout}s\n{self.text()[-3000:]}"
        assert self.exit_code is not None
        return self.exit_code

    def text(self) -> str:
        return self.log.decode(errors="replace")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._events.close()
        with contextlib.suppress(Exception):
            self._logs.close()


def stack_gone(client: docker_sdk.DockerClient, stack: str) -> bool:
    namespace = f"com.docker.stack.namespace={stack}"
    return not (client.services.list(filters={"label": namespace})
                or client.containers.list(all=True, sparse=True, filters={"label": namespace})  # sparse: no inspect
                or client.networks.list(filters={"label": namespace}))


def remove_stack(client: docker_sdk.DockerClient, stack: str, env: dict[str, str], timeout: float = 90) -> None:
    """``docker stack rm`` until services, task containers and the network are all gone."""
    deadline = time.monotonic() + timeout
    while not stack_gone(client, stack):
        run_cli(DOCKER_CLI, "stack", "rm", stack, env=env, check=False)  # a network may still be in use
        if time.monotonic() > deadline:
            raise AssertionError(f"stack {stack} not gone after {timeout}s")
        time.sleep(1)


def remove_volume(client: docker_sdk.DockerClient, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.volumes.get(name).remove(force=True)
            return
        except docker_sdk.errors.NotFound:
            return
        except docker_sdk.errors.APIError:  # still in use by a container being removed
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def receiver(tmp_path: Path, docker: DockerHarness) -> Iterator[ReceiverProcess]:
    """The NDJSON receiver on the host's docker_gwbridge address, reachable from swarm tasks only
    from this machine."""
    process = ReceiverProcess(tmp_path)
    process.start("--host", gateway_of_docker_gwbridge(docker.client))
    yield process
    process.stop()


# ------------------------------------------------------------------------------------ the test


def test_compose_stack_ships_swarm_tasks_and_stops_gracefully(docker: DockerHarness, receiver: ReceiverProcess,
                                                              tmp_path: Path) -> None:
    client = docker.client
    started = time.monotonic()
    info = client.info()
    assert info["Swarm"]["LocalNodeState"] == "active" and info["Swarm"]["ControlAvailable"], \
        "a swarm manager is needed (.ci/run initialises a single-node swarm)"
    node_id = info["Swarm"]["NodeID"]
    assert os.path.exists(SOCKET), f"compose.yaml mounts {SOCKET}; the engine must listen there"

    run_id = docker.run_id
    stack = f"lsdeploy{run_id}"
    tag = f"logship:test-{run_id}"
    volume = f"{stack}_logship-data"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("LOGSHIP_")}
    deploy_env = {
        **base_env,
        # compose.yaml's own variables: the image, the socket's group, the sink.
        "LOGSHIP_IMAGE": tag,
        "DOCKER_GID": str(os.stat(SOCKET).st_gid),
        "LOGSHIP_SINK": "http",
        # compose.yaml's secret file is relative to compose.yaml, not to the derived file.
        "LOKI_PASSWORD_FILE": str(REPO_ROOT / "configs" / "compose" / "secrets" / "loki_password"),
    }
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text(yaml.safe_dump(derived_stack(stack, run_id, docker.labels, receiver.url),
                                         sort_keys=False))
    watch: ContainerWatch | None = None
    try:
        build_image(tag)
        built = time.monotonic()

        run_cli(DOCKER_CLI, "stack", "deploy", "--resolve-image", "never", "-c", str(stack_file), stack,
                env=deploy_env)
        logship_service = client.services.get(f"{stack}_logship")
        spec = logship_service.attrs["Spec"]
        # compose.yaml's settings, as the swarm got them.
        assert spec["Mode"] == {"Global": {}}
        container_spec = spec["TaskTemplate"]["ContainerSpec"]
        assert container_spec["ReadOnly"] is True
        assert container_spec["User"] == f"10001:{deploy_env['DOCKER_GID']}"
        assert container_spec["StopGracePeriod"] == 30 * 10**9
        assert {"Type": "bind", "Source": SOCKET, "Target": SOCKET, "ReadOnly": True} in container_spec["Mounts"]
        assert spec["TaskTemplate"]["Resources"]["Limits"] == {"NanoCPUs": 500_000_000, "MemoryBytes": 256 * 2**20}
        assert spec["UpdateConfig"]["Order"] == "stop-first"
        assert spec["UpdateConfig"]["FailureAction"] == "rollback"

        def logship_container() -> Any:
            found = client.containers.list(sparse=True,
                                           filters={"label": f"com.docker.swarm.service.name={stack}_logship"})
            return client.containers.get(found[0].id) if found else None

        container = wait_until(logship_container, 60, message="logship's task container running")
        healthcheck = container.attrs["Config"]["Healthcheck"]  # the image's test, compose.yaml's timing
        assert "/healthz" in " ".join(healthcheck["Test"]) and healthcheck["Interval"] == 30 * 10**9, healthcheck
        watch = ContainerWatch(client, container.id)
        service_name = f"{stack}_numbers"

        def records_of(slot: int) -> list[dict[str, Any]]:
            records = [orjson.loads(line) for line in receiver.lines()]
            return [r for r in records if r.get("swarm", {}).get("service", {}).get("name") == service_name
                    and r["swarm"]["task"].get("slot") == slot]

        def arrived(slot: int, count: int) -> list[dict[str, Any]]:
            def enough() -> list[dict[str, Any]] | None:
                records = records_of(slot)
                return records if len(records) >= count else None

            try:
                return wait_until(enough, 90, interval=0.5, message=f"{count} lines of task slot {slot}")
            except AssertionError:
                tasks = run_cli(DOCKER_CLI, "service", "ps", "--no-trunc", f"{stack}_logship", f"{stack}_numbers",
                                env=deploy_env, check=False).stdout
                raise AssertionError(f"{len(records_of(slot))} of {count} lines of slot {slot} arrived\n"
                                     f"--- tasks ---\n{tasks}\n--- logship ---\n{watch.text()[-3000:]}\n"
                                     f"--- receiver ---\n{receiver.log_path.read_text()[-2000:]}") from None

        # The lines of the first task, none missing, with the Swarm metadata.
        records = arrived(1, 20)
        numbers_service = client.services.get(service_name)
        task = next(t for t in numbers_service.tasks() if t["Slot"] == 1 and t["Status"].get("ContainerStatus"))
        first = records[0]
        assert [r["message"] for r in records[:20]] == [f"line {i}" for i in range(1, 21)]
        assert first["stream"] == "stdout"
        assert first["service"] == {"name": "numbers", "namespace": stack}
        assert first["swarm"]["service"]["id"] == numbers_service.id
        assert first["swarm"]["service"]["labels"]["team"] == "deploy-test"  # /services/{id}: a manager's API
        assert first["swarm"]["task"]["id"] == task["ID"]
        assert first["swarm"]["task"]["name"] == f"{service_name}.1.{task['ID']}"
        assert first["swarm"]["node"] == {"id": node_id}
        assert first["container"]["name"] == f"{service_name}.1.{task['ID']}"
        assert first["container"]["id"] == task["Status"]["ContainerStatus"]["ContainerID"]
        assert first["host"]["name"] == info["Name"]
        # logship's own container is not followed (LOGSHIP_INCLUDE_LABELS and the self-exclusion).
        assert not any(r["container"]["id"] == container.id for r in map(orjson.loads, receiver.lines()))

        # A second task: followed as soon as it starts.
        numbers_service.scale(2)
        second = arrived(2, 10)
        assert [r["message"] for r in second[:10]] == [f"line {i}" for i in range(1, 11)]
        assert second[0]["swarm"]["task"]["id"] != first["swarm"]["task"]["id"]
        assert second[0]["service"] == {"name": "numbers", "namespace": stack}

        # docker stack rm: SIGTERM, a drain, exit code 0, well within stop_grace_period.
        run_cli(DOCKER_CLI, "stack", "rm", stack, env=deploy_env)
        stop_started = time.monotonic()
        code = watch.wait_died(60)
        stop_seconds = time.monotonic() - stop_started
        log = watch.text()
        assert code == 0, f"logship exited with {code}\n{log[-3000:]}"
        assert "SIGTERM received: draining" in log and "draining (at most 20s)" in log, log[-3000:]
        assert log.rstrip().endswith("stopped"), log[-3000:]
        assert stop_seconds < 25, f"logship took {stop_seconds:.1f}s to stop"
        remove_stack(client, stack, deploy_env)

        # The named volume outlives the stack, with the buffer and the checkpoints in it.
        assert client.volumes.get(volume).attrs["Labels"]["logship.test.run"] == run_id
        listing = client.containers.run(
            TEST_IMAGE, ["sh", "-c", "ls -1A /data; echo --; ls -1A /data/buffer"], remove=True, labels=docker.labels,
            volumes={volume: {"bind": "/data", "mode": "ro"}}).decode()
        top, _, buffer = listing.partition("--\n")
        assert {"buffer", "checkpoints.json"} <= set(top.split()), listing
        assert any(name.startswith("segment-") and name.endswith(".log") for name in buffer.split()), listing
        print(f"image built in {built - started:.1f}s; whole test {time.monotonic() - started:.1f}s; "
              f"logship stopped {stop_seconds:.1f}s after stack rm")
    finally:
        if watch is not None:
            watch.close()
        with contextlib.suppress(Exception):
            remove_stack(client, stack, deploy_env)
        with contextlib.suppress(Exception):
            remove_volume(client, volume)
        with contextlib.suppress(docker_sdk.errors.NotFound):
            client.images.remove(tag)
