"""Plain text to a remote store is said out loud (issue 16.4): the rule, the warning at start, ``logship check``.

The rule is tested on configurations parsed by ``logship.config.load`` (as a user would write them); the
warning and the WARN line on a real ``python -m logship`` process (no engine needed: the warning comes
before it is reached, and ``check`` reports the engine as one more line).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from logship.config import load
from logship.plaintext import is_local, plaintext_sinks, warn_plaintext
from tests.support import REPO_ROOT, check_report, closed_port, logship_env, wait_until


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "api.localhost", "127.0.0.1", "127.3.2.1", "::1",
                                  "[::1]", "loki", "logship_loki", "clickhouse", "tasks.logship", "loki."])
def test_loopback_and_names_on_the_stack_network_are_local(host: str) -> None:
    assert is_local(host)


@pytest.mark.parametrize("host", ["loki.example.com", "10.0.0.7", "192.168.1.20", "172.18.0.1", "8.8.8.8",
                                  "2001:db8::1", "tasks.loki.example.com", "logs.internal", ""])
def test_other_hosts_are_remote(host: str) -> None:
    assert not is_local(host)


def _found(env: dict[str, str]) -> list[tuple[str, str]]:
    return [(p.sink, p.address) for p in plaintext_sinks(load({"LOGSHIP_DATA_DIR": "/tmp/x", **env}))]


def test_every_plain_text_scheme_to_a_remote_host_is_found() -> None:
    env = {
        "LOGSHIP_SINK": "http,loki,elasticsearch,clickhouse,otlp,syslog,gelf",
        "LOGSHIP_HTTP_URL": "http://logs.example.com/ingest",
        "LOGSHIP_LOKI_URL": "http://10.1.2.3:3100",
        "LOGSHIP_ELASTICSEARCH_URL": "http://es.example.com:9200",
        "LOGSHIP_CLICKHOUSE_URL": "http://ch.example.com:8123",
        "LOGSHIP_OTLP_ENDPOINT": "http://[2001:db8::1]:4318",
        "LOGSHIP_SYSLOG_ADDRESS": "udp://syslog.example.com:514",
        "LOGSHIP_GELF_URL": "tcp://graylog.example.com:12201",
    }
    assert _found(env) == [
        ("http", "http://logs.example.com/ingest"), ("loki", "http://10.1.2.3:3100"),
        ("elasticsearch", "http://es.example.com:9200"), ("clickhouse", "http://ch.example.com:8123"),
        ("otlp", "http://[2001:db8::1]:4318"), ("syslog", "udp://syslog.example.com:514"),
        ("gelf", "tcp://graylog.example.com:12201")]


def test_tls_or_a_local_host_is_not_reported() -> None:
    env = {
        "LOGSHIP_SINK": "http,loki,elasticsearch,otlp,syslog,gelf,file,stdout",
        "LOGSHIP_HTTP_URL": "https://logs.example.com/ingest",
        "LOGSHIP_LOKI_URL": "http://loki:3100",  # compose.yaml's default: the stack's encrypted network
        "LOGSHIP_ELASTICSEARCH_URL": "http://127.0.0.1:9200",
        "LOGSHIP_OTLP_ENDPOINT": "http://localhost:4318",
        "LOGSHIP_SYSLOG_ADDRESS": "tls://syslog.example.com:6514",
        "LOGSHIP_GELF_URL": "https://graylog.example.com/gelf",
    }
    assert _found(env) == []


def test_the_message_names_the_sink_and_how_to_turn_tls_on_without_credentials() -> None:
    config = load({"LOGSHIP_DATA_DIR": "/tmp/x", "LOGSHIP_SINK": "loki,syslog",
                   "LOGSHIP_LOKI_URL": "http://user:s3cret@loki.example.com:3100/",
                   "LOGSHIP_SYSLOG_ADDRESS": "tcp://10.0.0.9:514"})
    loki, syslog = plaintext_sinks(config)
    assert loki.message == (
        "sink loki sends logs in plain text to loki.example.com (LOGSHIP_LOKI_URL=http://loki.example.com:3100/), "
        "which is neither loopback nor a name on the stack's own network: use https:// in LOGSHIP_LOKI_URL, "
        "with LOGSHIP_LOKI_TLS_CA_FILE for a private CA")
    assert "s3cret" not in loki.message and "user" not in loki.message
    assert syslog.advice.startswith("use tls:// in LOGSHIP_SYSLOG_ADDRESS")


def test_udp_syslog_is_told_to_use_tls_over_tcp() -> None:
    (syslog,) = plaintext_sinks(load({"LOGSHIP_DATA_DIR": "/tmp/x", "LOGSHIP_SINK": "syslog",
                                      "LOGSHIP_SYSLOG_ADDRESS": "udp://10.0.0.9:514"}))
    assert "tls://host:port" in syslog.advice and "UDP has no TLS" in syslog.advice


def test_one_warning_per_sink(caplog: pytest.LogCaptureFixture) -> None:
    config = load({"LOGSHIP_DATA_DIR": "/tmp/x", "LOGSHIP_SINK": "http,loki",
                   "LOGSHIP_HTTP_URL": "http://logs.example.com/", "LOGSHIP_LOKI_URL": "http://loki:3100"})
    with caplog.at_level(logging.WARNING, logger="logship.plaintext"):
        warn_plaintext(config)
    assert [r.getMessage() for r in caplog.records] == [plaintext_sinks(config)[0].message]
    assert caplog.records[0].getMessage().startswith("sink http sends logs in plain text to logs.example.com")


def test_check_shows_a_warn_line_and_still_passes_the_rest(tmp_path: Path) -> None:
    with closed_port() as port:
        result = check_report(tmp_path, {"LOGSHIP_SINK": "http", "LOGSHIP_HTTP_URL": "http://192.0.2.10:8080/",
                                         "LOGSHIP_HTTP_TIMEOUT": "1s",
                                         "DOCKER_HOST": f"tcp://127.0.0.1:{port}"}, timeout=60)
    warns = [line for line in result.stdout.splitlines() if line.startswith("WARN")]
    assert warns == ["WARN sink http (plain text): sends logs in plain text to 192.0.2.10 "
                     "(LOGSHIP_HTTP_URL=http://192.0.2.10:8080/), which is neither loopback nor a name on the "
                     "stack's own network: use https:// in LOGSHIP_HTTP_URL, with LOGSHIP_HTTP_TLS_CA_FILE for a "
                     "private CA"], result.stdout


def test_check_has_no_warn_line_for_tls(tmp_path: Path) -> None:
    with closed_port() as port:
        result = check_report(tmp_path, {"LOGSHIP_SINK": "http", "LOGSHIP_HTTP_URL": "https://192.0.2.10:8443/",
                                         "LOGSHIP_HTTP_TIMEOUT": "1s",
                                         "DOCKER_HOST": f"tcp://127.0.0.1:{port}"}, timeout=60)
    assert "ok   configuration" in result.stdout and "WARN" not in result.stdout, result.stdout


def test_the_agent_warns_once_at_start(tmp_path: Path) -> None:
    """A real process: the warning is in its log exactly once, before it serves (and not again later)."""
    log_path = tmp_path / "logship.log"
    with closed_port() as port, open(log_path, "wb") as log_file:
        env = logship_env({"LOGSHIP_DATA_DIR": str(tmp_path / "data"), "LOGSHIP_SINK": "loki",
                           "LOGSHIP_LOKI_URL": "http://loki.example.invalid:3100", "LOGSHIP_LISTEN": "127.0.0.1:0",
                           "LOGSHIP_LOG_FORMAT": "text", "DOCKER_HOST": f"tcp://127.0.0.1:{port}"})
        process = subprocess.Popen([sys.executable, "-m", "logship"], env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        try:
            wait_until(lambda: "health and metrics on" in log_path.read_text(), 30, message="logship started")
            time.sleep(1)  # a second of running: the engine retried meanwhile, the warning must not repeat
        finally:
            process.terminate()
            process.wait(30)
    text = log_path.read_text()
    assert text.count("sends logs in plain text") == 1, text
    line = next(line for line in text.splitlines() if "sends logs in plain text" in line)
    assert "WARNING" in line and "sink loki" in line and "use https:// in LOGSHIP_LOKI_URL" in line, line
