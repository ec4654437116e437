"""Real stores started by the tests: Debian's ClickHouse and rsyslog on free loopback ports.

Each module exposes a session-scoped pytest fixture (import it into a test module with
``from tests.servers.clickhouse import clickhouse_server  # noqa: F401``) and a class that also runs
outside pytest (``python -m tests.servers.clickhouse`` starts one and prints where it listens).
"""
