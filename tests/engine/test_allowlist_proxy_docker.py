"""logship through a socket proxy that allows only ``ENGINE_API_ALLOWLIST`` (issue 16.3), on the real dockerd.

A real logship process reads the engine only through a proxy (its ``DOCKER_HOST`` is the proxy's Unix
socket, as in the README's Swarm set-up) which refuses with 403 anything outside the list: the minimal
aiohttp one of ``tests/engine/allowlist_proxy.py``, which records every request, and HAProxy with the
configuration the README gives users (configs/compose/socket-proxy/haproxy.cfg), read from its log.

Three plain containers (one of them with a TTY, one that exits) and a Swarm service write numbered
lines: every line arrives, exactly once, the task's records carry the service's labels (read from
``/services/{id}``), and the proxy saw no request outside the list. A last check sends a request
outside the list through the same proxy to show that it does refuse.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.engine.allowlist_proxy import AllowListProxy, HaproxyProxy
from tests.support import TEST_IMAGE, TEST_LABEL, DockerHarness, LogshipProcess, wait_until

pytestmark = pytest.mark.docker

LINES = 200


def _numbers(prefix: str, count: int, then: str = "sleep 3600") -> str:
    return f"i=1; while [ $i -le {count} ]; do echo \"{prefix} $i\"; i=$((i+1)); done; {then}"


async def _post_through(proxy: AllowListProxy | HaproxyProxy, path: str) -> tuple[int, str]:
    connector = aiohttp.UnixConnector(path=str(proxy.socket_path))
    async with aiohttp.ClientSession(connector=connector) as session, \
            session.post(f"http://docker{path}", json={"Image": TEST_IMAGE}) as response:
        return response.status, await response.text()


@pytest.mark.parametrize("proxy_class", [AllowListProxy, HaproxyProxy], ids=["aiohttp", "haproxy"])
def test_logship_through_an_allow_list_proxy(docker: DockerHarness, logship: LogshipProcess, tmp_path: Path,
                                             proxy_class: type[AllowListProxy | HaproxyProxy]) -> None:
    info = docker.client.info()
    assert info["Swarm"]["LocalNodeState"] == "active" and info["Swarm"]["ControlAvailable"], \
        "a swarm manager is needed (/services/{id} answers on managers only)"
    with proxy_class(tmp_path / "proxy.sock") as proxy:
        logship.env["DOCKER_HOST"] = proxy.docker_host
        logship.start()
        logship.health_url()
        plain = docker.run(_numbers("plain", LINES), name=f"plain-{docker.run_id}")
        tty = docker.run(_numbers("tty", LINES), name=f"tty-{docker.run_id}", tty=True)
        short = docker.run(_numbers("short", LINES, then="exit 0"), name=f"short-{docker.run_id}")
        service_name = f"allow{docker.run_id}"
        service = docker.client.services.create(
            TEST_IMAGE, command=["sh", "-c", _numbers("task", LINES)], name=service_name,
            labels={"team": "proxy", TEST_LABEL: "1", f"{TEST_LABEL}.run": docker.run_id},
            container_labels=docker.labels)

        for container, prefix in ((plain, "plain"), (tty, "tty"), (short, "short")):
            name = container.name
            try:
                messages = [m.rstrip("\r") for m in logship.wait_for_messages(name, LINES, timeout=90)]
            except AssertionError as exc:
                raise AssertionError(f"{exc}\nbeing forwarded: {getattr(proxy, 'active', list)()}") from None
            assert messages == [f"{prefix} {i}" for i in range(1, LINES + 1)], name

        def task_records() -> list[dict] | None:
            found = [r for r in logship.records() if r["container"]["name"].startswith(service_name + ".")]
            return found if len(found) >= LINES else None

        try:
            records = wait_until(task_records, 90, message="the Swarm task's lines")
        except AssertionError:
            raise AssertionError(f"proxy saw {proxy.paths()[-20:]}\nbeing forwarded: "
                                 f"{getattr(proxy, 'active', list)()}\n{logship.log_text()[-3000:]}") from None
        assert [r["message"] for r in records] == [f"task {i}" for i in range(1, LINES + 1)]
        assert records[0]["swarm"]["service"]["id"] == service.id
        assert records[0]["swarm"]["service"]["labels"]["team"] == "proxy"  # from /services/{id}
        assert logship.stop() == 0

        assert proxy.forbidden() == [], proxy.forbidden()
        # HAProxy logs a request when it ends, and notices that its client went away only when it next writes
        # to it: events (the containers stopping) end the streams logship left open.
        for container in (plain, tty):
            container.kill()
        service.remove()

        # The proxy carried everything: discovery, the logs of each container, the service's labels.
        def carried(paths: list[str]) -> bool:
            return (any(p.split("?")[0].endswith("/events") for p in paths)
                    and all(any(f"/containers/{c.id}/logs" in p for p in paths) for c in (plain, tty, short))
                    # the catch-up read ended and following began, through the proxy
                    and all(any(f"/containers/{c.id}/logs" in p and "follow=1" in p for p in paths)
                            for c in (plain, tty))
                    and any(f"/services/{service.id}" in p for p in paths))

        try:
            wait_until(lambda: carried(proxy.paths()), 15, message="every kind of request through the proxy")
        except AssertionError:
            raise AssertionError(f"the proxy saw: {proxy.paths()}") from None
        assert proxy.forbidden() == []

        # And it does refuse: a request outside the list never reaches the engine.
        status, _ = asyncio.run(_post_through(proxy, "/v1.41/containers/create"))
        assert status == 403
        wait_until(proxy.forbidden, 10, message="the refusal recorded")
        assert proxy.forbidden() == [("POST", "/v1.41/containers/create")]
