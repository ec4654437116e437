"""A real ClickHouse server for the tests: Debian's ``clickhouse-server`` (18.16) on free loopback ports.

Minimal configuration (``../shared/reference/stores.md`` §3.4): HTTP and native ports on 127.0.0.1,
data, logs and temporary files in a scratch folder, the server's time zone ``UTC``, and two users:
``default`` (no password, 127.0.0.1 only) and ``shipper`` (password ``s3cret``). The server runs in the
foreground as a child of the test process and is stopped (SIGTERM) at the end of the session.

In pytest: ``from tests.servers.clickhouse import clickhouse_server  # noqa: F401``; the fixture fails
the test in CI (``CI=true`` or ``LOGSHIP_TEST_DOCKER=1``) when the binary is missing, and skips
elsewhere. By hand: ``python -m tests.servers.clickhouse`` starts one until Ctrl-C.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import orjson
import pytest

from tests.servers.common import ServerProcess, free_port, require_binary, run_by_hand, serve_session

USER = "shipper"
PASSWORD = "s3cret"
START_TIMEOUT = 60.0

_CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>{dir}/log/clickhouse-server.log</log>
        <errorlog>{dir}/log/clickhouse-server.err.log</errorlog>
        <size>10M</size>
        <count>1</count>
    </logger>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{dir}/data/</path>
    <tmp_path>{dir}/tmp/</tmp_path>
    <user_files_path>{dir}/user_files/</user_files_path>
    <format_schema_path>{dir}/format_schemas/</format_schema_path>
    <users_config>{dir}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <max_concurrent_queries>50</max_concurrent_queries>
</yandex>
"""

_USERS = """<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
        <{user}>
            <password>{password}</password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </{user}>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"""


class QueryError(Exception):
    """ClickHouse answered a query with an error."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body.decode(errors='replace').strip()}")
        self.status = status
        self.body = body


class ClickHouseServer(ServerProcess):
    """One ``clickhouse-server`` process with its configuration and data in ``directory``."""

    def __init__(self, directory: Path, binary: str = "clickhouse-server") -> None:
        super().__init__(directory, binary)
        self.http_port = 0
        self.tcp_port = 0
        self.version = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_file(self) -> Path:
        return self.directory / "log" / "clickhouse-server.err.log"

    def start(self) -> None:
        """Write the configuration, start the server and wait until ``/ping`` answers."""
        for sub in ("data", "tmp", "user_files", "format_schemas", "log"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self.http_port, self.tcp_port = free_port(), free_port()
        while self.tcp_port == self.http_port:
            self.tcp_port = free_port()
        config = self.directory / "config.xml"
        config.write_text(_CONFIG.format(dir=escape(str(self.directory)), http_port=self.http_port,
                                         tcp_port=self.tcp_port))
        (self.directory / "users.xml").write_text(_USERS.format(user=USER, password=escape(PASSWORD)))
        self.launch([self.binary, f"--config-file={config}"], self.directory / "log" / "stdout.log", self._pinged,
                    START_TIMEOUT, f"clickhouse-server on port {self.http_port}", self.log_file)
        self.version = self.query("SELECT version()").decode().strip()

    def _pinged(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/ping", timeout=1) as response:
                return response.read().startswith(b"Ok")
        except OSError:
            return False

    def query(self, sql: str, *, user: str = "default", password: str = "", data: bytes | None = None,
              params: dict[str, str] | None = None, timeout: float = 30) -> bytes:
        """Run ``sql`` over HTTP (the query in the URL when ``data`` is the body, else the body itself);
        the answer's body. Raises QueryError for an error answer."""
        query = {"query": sql, **(params or {})} if data is not None else dict(params or {})
        request = urllib.request.Request(f"{self.url}/?{urllib.parse.urlencode(query)}",
                                         data=data if data is not None else sql.encode(), method="POST")
        request.add_header("X-ClickHouse-User", user)
        if password:
            request.add_header("X-ClickHouse-Key", password)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise QueryError(exc.code, exc.read()) from exc

    def rows(self, sql: str) -> list[dict[str, Any]]:
        """``sql`` (without FORMAT) as a list of rows (JSONEachRow)."""
        body = self.query(sql + " FORMAT JSONEachRow")
        return [orjson.loads(line) for line in body.splitlines() if line]

    def major_minor(self) -> tuple[int, int]:
        major, minor, *_ = (int(part) for part in self.version.split(".")[:2])
        return major, minor


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    """A running ClickHouse for the whole session (see the module docstring)."""
    binary = require_binary("clickhouse-server", "clickhouse-server")
    yield from serve_session(ClickHouseServer(tmp_path_factory.mktemp("clickhouse"), binary))


def main() -> None:  # pragma: no cover - a manual helper
    run_by_hand("clickhouse", "clickhouse-server", ClickHouseServer, lambda server: (
        f"ClickHouse {server.version} on {server.url} (native port {server.tcp_port}, user {USER}/{PASSWORD}, "
        f"data in {server.directory}); ready in {server.startup_seconds:.2f}s"))


if __name__ == "__main__":
    main()
