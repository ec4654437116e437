"""Operators see it before users do (issue 12.9): alert rules, the dashboard, compose's Prometheus, /metrics.

- configs/prometheus/alerts.yaml parses as Prometheus rule groups (promtool is not installable here: the
  structure promtool checks is checked by hand) and covers each required alert;
- configs/compose/grafana/logship.json is a dashboard on the provisioned Prometheus data source;
- compose.yaml provisions both, and its Prometheus scrapes every logship task (tasks.logship, :9880);
- every metric the rules and the dashboard name, with the labels they use, is served by a real logship
  process's /metrics (``up`` is Prometheus's own series for each target);
- ``logship_tailers{state}`` counts the tailers by state, paused ones included.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from logship.agent import Agent
from logship.config import VARIABLES_BY_NAME, load
from logship.metrics import TAILER_STATES, Metrics
from tests.support import REPO_ROOT, LogshipProcess, closed_port, http_get

ALERTS = REPO_ROOT / "configs" / "prometheus" / "alerts.yaml"
DASHBOARD = REPO_ROOT / "configs" / "compose" / "grafana" / "logship.json"
DATASOURCES = REPO_ROOT / "configs" / "compose" / "grafana" / "datasources.yaml"
PROVIDERS = REPO_ROOT / "configs" / "compose" / "grafana" / "dashboards.yaml"
PROMETHEUS = REPO_ROOT / "configs" / "compose" / "prometheus.yaml"
COMPOSE = REPO_ROOT / "compose.yaml"

_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
_METRIC = re.compile(r"\b(logship_[a-z0-9_]+|up)\b(?!\s*\()")
# Labels Prometheus adds to every series (instance, job) or that a histogram has (le).
_TARGET_LABELS = {"instance", "job", "le"}
# The series Prometheus makes itself for each scraped target, not served by logship.
_PROMETHEUS_SERIES = {"up"}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    expressions += [v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return expressions


def expressions() -> list[str]:
    return [rule["expr"] for rule in rules()] + dashboard_expressions()


def _balanced(text: str) -> bool:
    stack = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for char in re.sub(r'"[^"]*"', '""', text):  # label values may hold anything
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


# ------------------------------------------------------------------------------ the rule file


def test_the_alert_rules_have_what_prometheus_requires() -> None:
    document = yaml.safe_load(ALERTS.read_text())
    names = set()
    for group in document["groups"]:
        assert isinstance(group["name"], str) and group["name"] and isinstance(group["rules"], list)
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"]) and rule["alert"] not in names, rule["alert"]
            names.add(rule["alert"])
            assert isinstance(rule["expr"], str) and _balanced(rule["expr"]), rule["alert"]
            assert "for" not in rule or _DURATION.match(rule["for"]), rule["alert"]
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
            for text in (rule["annotations"].values()):
                assert text.count("{{") == text.count("}}"), rule["alert"]


def test_every_required_alert_is_there() -> None:
    by_metric = {name: [r["alert"] for r in rules() if re.search(rf"\b{name}\b", r["expr"])] for name in (
        "logship_lines_dropped_total", "logship_buffer_lines_dropped_total", "logship_lines_rejected_total",
        "logship_oldest_unshipped_age_seconds", "logship_buffer_max_bytes", "logship_buffer_write_errors_total",
        "logship_tailers")}
    assert all(by_metric.values()), by_metric  # lost, dead-lettered, behind, 80 % full, write errors, paused
    behind = next(r for r in rules() if r["alert"] == "LogshipSinkBehind")
    assert re.search(r"> 600\b", behind["expr"])  # N = 10 minutes
    full = next(r for r in rules() if r["alert"] == "LogshipBufferNearlyFull")
    assert "> 0.8" in full["expr"]
    paused = next(r for r in rules() if r["alert"] == "LogshipTailerPaused")
    assert 'state="paused"' in paused["expr"]


# ------------------------------------------------------------------------------ dashboard and compose


def test_the_dashboard_reads_the_provisioned_prometheus() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    sources = {s["name"]: s for s in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    uid = sources["Prometheus"]["uid"]
    assert sources["Prometheus"]["url"] == "http://prometheus:9090" and sources["Loki"]["isDefault"] is True
    assert dashboard["uid"] == "logship"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 8
    for panel in panels:
        assert panel["datasource"]["uid"] == uid and panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert _balanced(target["expr"]), target["expr"]
    titles = " ".join(p["title"] for p in panels).lower()
    for topic in ("lines read", "lines shipped", "buffer bytes", "sink lag", "sink outcomes", "errors"):
        assert topic in titles, topic


def test_compose_provisions_the_dashboard_and_scrapes_every_logship_task() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    configs = compose["configs"]
    mounts = {c["source"]: c["target"] for name in ("grafana", "prometheus")
              for c in compose["services"][name]["configs"]}
    files = {name: REPO_ROOT / entry["file"] for name, entry in configs.items()}
    by_file = {path.resolve(): mounts.get(name) for name, path in files.items()}
    # Grafana: the data sources, the provider, and the dashboard where the provider looks.
    provider_path = yaml.safe_load(PROVIDERS.read_text())["providers"][0]["options"]["path"]
    assert by_file[DATASOURCES.resolve()].startswith("/etc/grafana/provisioning/datasources/")
    assert by_file[PROVIDERS.resolve()].startswith("/etc/grafana/provisioning/dashboards/")
    assert Path(by_file[DASHBOARD.resolve()]).parent == Path(provider_path)
    # Prometheus: its configuration, and the rules where it loads them.
    prometheus = yaml.safe_load(PROMETHEUS.read_text())
    assert by_file[PROMETHEUS.resolve()] == "/etc/prometheus/prometheus.yaml"
    assert prometheus["rule_files"] == [by_file[ALERTS.resolve()]]
    assert "--config.file=/etc/prometheus/prometheus.yaml" in compose["services"]["prometheus"]["command"]
    (job,) = prometheus["scrape_configs"]
    listen_port = VARIABLES_BY_NAME["LOGSHIP_LISTEN"].parse(VARIABLES_BY_NAME["LOGSHIP_LISTEN"].default or "")[1]
    assert job["job_name"] == "logship"  # LogshipDown's up{job="logship"}
    assert job["dns_sd_configs"] == [{"names": ["tasks.logship"], "type": "A", "port": listen_port,
                                      "refresh_interval": "30s"}]
    assert "logship" in compose["services"] and compose["services"]["prometheus"]["networks"] == ["logship"]


# ------------------------------------------------------------------------------ names on /metrics


def served(exposition: str) -> dict[str, set[str]]:
    """Every series name /metrics serves (histograms with _bucket/_sum/_count), with the labels seen."""
    names: dict[str, set[str]] = {}
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.setdefault(name, set())
            if kind == "histogram":
                for suffix in ("_bucket", "_sum", "_count"):
                    names.setdefault(name + suffix, set())
        elif line and not line.startswith("#"):
            name, _, rest = line.partition("{")
            labels = set(re.findall(r'(\w+)="', rest.partition("}")[0])) if rest else set()
            names.setdefault(name.split()[0], set()).update(labels)
    return names


def declared_labels() -> dict[str, set[str]]:
    """The label names each metric is declared with (for families with no series yet, such as
    logship_buffer_write_errors_total{errno} before the first error)."""
    metrics = Metrics()
    labels: dict[str, set[str]] = {}
    for metric in vars(metrics).values():
        for family in getattr(metric, "describe", lambda: [])():
            for sample_name in {family.name, family.name + "_total", family.name + "_bucket"}:
                labels[sample_name] = set(getattr(metric, "_labelnames", ()))
    return labels


def used_labels(expression: str) -> set[str]:
    """Label names an expression selects on or aggregates by."""
    found = set()
    for selector in re.findall(r"\{([^}]*)\}", expression):
        found.update(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
    for clause in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expression):
        found.update(label.strip() for label in clause.split(",") if label.strip())
    return found


@pytest.fixture
def metrics_text(tmp_path: Path) -> str:
    """/metrics of a real logship process (two sinks; no engine needed for the exposition)."""
    with closed_port() as port:
        process = LogshipProcess(tmp_path, {"LOGSHIP_SINK": "file,http", "LOGSHIP_HTTP_URL": "http://127.0.0.1:9/",
                                            "DOCKER_HOST": f"tcp://127.0.0.1:{port}"})
        process.start()
        try:
            status, body = http_get(process.health_url() + "/metrics")
            assert status == 200
            assert process.stop() == 0
        finally:
            process.ensure_stopped()
    return body.decode()


def test_every_metric_the_rules_and_the_dashboard_name_is_served(metrics_text: str) -> None:
    names = served(metrics_text)
    declared = declared_labels()
    used = {name for expression in expressions() for name in _METRIC.findall(expression)}
    assert len(used) >= 15, used  # the extraction found them (guards this test itself)
    missing = sorted(name for name in used - _PROMETHEUS_SERIES if name not in names)
    assert missing == [], f"named by the rules or the dashboard but not on /metrics: {missing}"
    for expression in expressions():
        metrics_in = set(_METRIC.findall(expression)) - _PROMETHEUS_SERIES
        allowed_labels = _TARGET_LABELS | {label for name in metrics_in
                                           for label in names.get(name, set()) | declared.get(name, set())}
        assert used_labels(expression) <= allowed_labels, (expression, used_labels(expression) - allowed_labels)


# ------------------------------------------------------------------------------ logship_tailers{state}


def test_the_tailers_gauge_counts_each_state(tmp_path: Path) -> None:
    agent = Agent(load({"LOGSHIP_DATA_DIR": str(tmp_path / "data")}))
    states = ["following", "following", "paused", "reading", "paused", "paused"]
    agent.supervisor = SimpleNamespace(tailers={str(i): SimpleNamespace(state=s) for i, s in enumerate(states)})
    agent.refresh_gauges()
    registry = agent.metrics.registry

    def value(state: str) -> float | None:
        return registry.get_sample_value("logship_tailers", {"state": state})

    assert value("paused") == 3 and value("following") == 2 and value("reading") == 1
    assert all(value(state) == 0 for state in TAILER_STATES if state not in states)  # every state, even at 0
    agent.supervisor.tailers["5"].state = "following"  # one resumed
    agent.refresh_gauges()
    assert value("paused") == 2 and value("following") == 3
    assert registry.get_sample_value("logship_buffer_max_bytes") == agent.config.buffer.max_bytes


def test_the_node_info_names_the_current_node_only(tmp_path: Path) -> None:
    agent = Agent(load({"LOGSHIP_DATA_DIR": str(tmp_path / "data")}))
    agent.refresh_gauges()  # before the engine answered /info: no series
    registry = agent.metrics.registry
    assert registry.get_sample_value("logship_node_info", {"node": "", "node_id": ""}) is None
    agent.enricher = SimpleNamespace(node={"name": "worker-3", "id": "n3"})
    agent.refresh_gauges()
    assert registry.get_sample_value("logship_node_info", {"node": "worker-3", "node_id": "n3"}) == 1
    agent.enricher = SimpleNamespace(node={"name": "worker-3b", "id": "n3"})  # renamed: the old series goes
    agent.refresh_gauges()
    assert registry.get_sample_value("logship_node_info", {"node": "worker-3", "node_id": "n3"}) is None
    assert registry.get_sample_value("logship_node_info", {"node": "worker-3b", "node_id": "n3"}) == 1
