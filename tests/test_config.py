"""Configuration from the environment: defaults, value forms, problems reported together, secrets, CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from logship import __version__
from logship.config import (
    SINK_NAMES,
    VARIABLES,
    BacklogLimits,
    BatchConfig,
    ConfigError,
    load,
    markdown_table,
    parse_duration,
    parse_size,
)
from logship.settings.auth import auth_problems
from logship.sinks._http import auth_headers
from logship.sinks.base import SinkError
from logship.sinks.file.spec import FileSinkConfig
from logship.sinks.http.spec import HttpSinkConfig
from logship.sinks.registry import specs

REPO_ROOT = Path(__file__).resolve().parent.parent
HTTP = {"LOGSHIP_SINK": "http", "LOGSHIP_HTTP_URL": "https://logs.example.com/ingest"}


def problems_of(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(environ)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


# --- defaults ------------------------------------------------------------------------------------


def test_defaults_from_an_empty_environment() -> None:
    config = load({})
    assert config.sinks == ("file",)
    assert config.data_dir == Path("/var/lib/logship")
    assert config.checkpoint_path == Path("/var/lib/logship/checkpoints.json")
    assert config.buffer.directory == Path("/var/lib/logship/buffer")
    assert config.sink_configs == {
        "file": FileSinkConfig(path=Path("/var/lib/logship/output/containers.ndjson"), max_bytes=100 * 1024**2,
                               keep=5, batch=BatchConfig(5000, 8 * 1024**2, 1.0))}
    assert config.listen == ("0.0.0.0", 9880)
    assert config.engine.host == "unix:///var/run/docker.sock"
    assert config.engine.cert_path is None
    assert config.collect.max_line_bytes == 1024 * 1024
    assert config.buffer.max_bytes == 1024**3
    assert config.buffer.when_full == "block"
    assert (config.batch.max_lines, config.batch.max_bytes, config.batch.max_wait) == (2000, 4 * 1024**2, 1.0)
    assert config.shutdown_timeout == 10.0
    assert config.collect.include_self is False


def test_variables_outside_logship_are_ignored() -> None:
    config = load({"PATH": "/usr/bin", "HOME": "/root", "LOGSHIPX": "1", "LOGSHIP_TEST_DOCKER": "1"})
    assert config.sinks == ("file",)


def test_data_dir_moves_every_path() -> None:
    config = load({"LOGSHIP_DATA_DIR": "/data"})
    assert config.checkpoint_path == Path("/data/checkpoints.json")
    assert config.sink_configs["file"].path == Path("/data/output/containers.ndjson")


# --- value forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("5s", 5.0), ("2m", 120.0), ("1h", 3600.0), ("1.5s", 1.5), (" 10s ", 10.0), ("0ms", 0.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "soon", "5 sec", "-1s", "1.5.2s", "5S", "1d", "ms"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="500ms"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [("512KiB", 512 * 1024), ("64MiB", 64 * 1024**2), ("1GiB", 1024**3), ("1000", 1000), ("0", 0), ("10B", 10),
     ("1KB", 1000), ("2MB", 2_000_000), ("1GB", 10**9), (" 16 KiB ", 16384)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "1.5GiB", "10kib", "64M", "-1", "1TiB", "KiB"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="512KiB"):
        parse_size(text)


@pytest.mark.parametrize(
    ("name", "text", "read", "expected"),
    [
        ("LOGSHIP_BATCH_MAX_WAIT", "500ms", lambda c: c.batch.max_wait, 0.5),
        ("LOGSHIP_SHUTDOWN_TIMEOUT", "2m", lambda c: c.shutdown_timeout, 120.0),
        ("LOGSHIP_BUFFER_FSYNC_INTERVAL", "5s", lambda c: c.buffer.fsync_interval, 5.0),
        ("LOGSHIP_BATCH_MAX_BYTES", "512KiB", lambda c: c.batch.max_bytes, 512 * 1024),
        ("LOGSHIP_BUFFER_MAX_BYTES", "64MiB", lambda c: c.buffer.max_bytes, 64 * 1024**2),
        ("LOGSHIP_BUFFER_MAX_BYTES", "1GiB", lambda c: c.buffer.max_bytes, 1024**3),
        ("LOGSHIP_BATCH_MAX_BYTES", "1000000", lambda c: c.batch.max_bytes, 1_000_000),
        ("LOGSHIP_MAX_LINE_BYTES", "16KiB", lambda c: c.collect.max_line_bytes, 16384),
        ("LOGSHIP_MAX_LINE_BYTES", "16384", lambda c: c.collect.max_line_bytes, 16384),
        ("LOGSHIP_SINK", "file, stdout", lambda c: c.sinks, ("file", "stdout")),
        ("LOGSHIP_SINK", "STDOUT", lambda c: c.sinks, ("stdout",)),
        ("LOGSHIP_BUFFER_WHEN_FULL", "drop_oldest", lambda c: c.buffer.when_full, "drop_oldest"),
        ("LOGSHIP_INCLUDE_SELF", "yes", lambda c: c.collect.include_self, True),
        ("LOGSHIP_LISTEN", "127.0.0.1:0", lambda c: c.listen, ("127.0.0.1", 0)),
        ("LOGSHIP_LISTEN", "[::1]:9880", lambda c: c.listen, ("::1", 9880)),
        ("LOGSHIP_EXTRA_FIELDS", "env.name=prod, team=shop", lambda c: c.collect.extra_fields,
         (("env.name", "prod"), ("team", "shop"))),
        ("LOGSHIP_INCLUDE_LABELS", "team,env=prod", lambda c: c.collect.include_labels,
         (("team", None), ("env", "prod"))),
        ("DOCKER_HOST", "tcp://10.0.0.5:2376", lambda c: c.engine.host, "tcp://10.0.0.5:2376"),
        ("DOCKER_CERT_PATH", "/certs", lambda c: c.engine.cert_path, Path("/certs")),
    ],
)
def test_values_reach_the_config(name: str, text: str, read, expected) -> None:
    assert read(load({name: text})) == expected


# --- problems ------------------------------------------------------------------------------------


def test_several_problems_are_reported_together() -> None:
    problems = problems_of({
        "LOGSHIP_BATCH_MAX_WAIT": "soon",
        "LOGSHIP_BUFFER_MAX_BYTES": "lots",
        "LOGSHIP_SINK": "kafka",
        "LOGSHIP_SINKS": "file",
    })
    assert len(problems) == 4, problems
    by_variable = {problem.split("=")[0].split(":")[0]: problem for problem in problems}
    wait = by_variable["LOGSHIP_BATCH_MAX_WAIT"]
    assert "'soon'" in wait and "500ms" in wait and "5s" in wait and "2m" in wait
    size = by_variable["LOGSHIP_BUFFER_MAX_BYTES"]
    assert "'lots'" in size and "512KiB" in size and "64MiB" in size and "1GiB" in size
    sink = by_variable["LOGSHIP_SINK"]
    assert "'kafka'" in sink and all(name in sink for name in ("file", "stdout", "http"))
    unknown = by_variable["LOGSHIP_SINKS"]
    assert "unknown variable" in unknown and "did you mean LOGSHIP_SINK?" in unknown


@pytest.mark.parametrize(
    ("environ", "variable", "shown", "form"),
    [
        ({"LOGSHIP_BATCH_MAX_LINES": "0"}, "LOGSHIP_BATCH_MAX_LINES", "'0'", "at least 1"),
        ({"LOGSHIP_BATCH_MAX_WAIT": "0s"}, "LOGSHIP_BATCH_MAX_WAIT", "'0s'", "greater than zero"),
        ({"LOGSHIP_BUFFER_WHEN_FULL": "drop"}, "LOGSHIP_BUFFER_WHEN_FULL", "'drop'", "block, drop_oldest"),
        ({"LOGSHIP_LOG_LEVEL": "trace"}, "LOGSHIP_LOG_LEVEL", "'trace'", "debug, info, warning, error"),
        ({"LOGSHIP_INCLUDE_SELF": "maybe"}, "LOGSHIP_INCLUDE_SELF", "'maybe'", "true or false"),
        ({"LOGSHIP_INCLUDE_NAMES": "web("}, "LOGSHIP_INCLUDE_NAMES", "'web('", "regular expression"),
        ({"LOGSHIP_LISTEN": "9880"}, "LOGSHIP_LISTEN", "'9880'", "host:port"),
        ({"LOGSHIP_EXTRA_FIELDS": "env"}, "LOGSHIP_EXTRA_FIELDS", "'env'", "key=value"),
        ({"LOGSHIP_SINK": "file,file"}, "LOGSHIP_SINK", "'file,file'", "at most once"),
        ({"LOGSHIP_SINK": ""}, "LOGSHIP_SINK", "''", "file, stdout, http"),
        ({"DOCKER_HOST": "/var/run/docker.sock"}, "DOCKER_HOST", "'/var/run/docker.sock'", "unix://"),
        ({**HTTP, "LOGSHIP_HTTP_URL": "logs.example.com"}, "LOGSHIP_HTTP_URL", "'logs.example.com'", "https://"),
        ({**HTTP, "LOGSHIP_HTTP_RETRY_STATUS": "500,oops"}, "LOGSHIP_HTTP_RETRY_STATUS", "'500,oops'",
         "HTTP status codes"),
        ({"LOGSHIP_MAX_LINE_BYTES": "8KiB"}, "LOGSHIP_MAX_LINE_BYTES", "'8KiB'", "at least 16KiB"),
        ({"LOGSHIP_MAX_LINE_BYTES": "16383"}, "LOGSHIP_MAX_LINE_BYTES", "'16383'", "at least 16KiB"),
    ],
)
def test_each_problem_names_variable_value_and_form(environ: dict[str, str], variable: str, shown: str,
                                                    form: str) -> None:
    (problem,) = problems_of(environ)
    assert problem.startswith(variable)
    assert shown in problem
    assert form in problem


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("LOGSHIP_SINKS", "LOGSHIP_SINK"), ("LOGSHIP_LOG_LEVL", "LOGSHIP_LOG_LEVEL"),
     ("LOGSHIP_HTTP_ULR", "LOGSHIP_HTTP_URL"), ("LOGSHIP_BATCH_MAX_WAITS", "LOGSHIP_BATCH_MAX_WAIT")],
)
def test_unknown_variable_with_a_did_you_mean_hint(typo: str, meant: str) -> None:
    (problem,) = problems_of({typo: "x"})
    assert problem.startswith(typo)
    assert f"did you mean {meant}?" in problem


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("LOGSHIP_DATADIR", "LOGSHIP_DATA_DIR"), ("LOGSHIP_HTTP_PASWORD", "LOGSHIP_HTTP_PASSWORD"),
     ("LOGSHIP_BATCH_MAXWAIT", "LOGSHIP_BATCH_MAX_WAIT"),
     ("LOGSHIP_BUFER_MAX_BYTES", "LOGSHIP_BUFFER_MAX_BYTES")],
)
def test_did_you_mean_for_a_letter_dropped_mid_name(typo: str, meant: str) -> None:
    # One missing character is the commonest typo; the hint must not depend on where it is.
    (problem,) = problems_of({typo: "x"})
    assert f"did you mean {meant}?" in problem


def test_unknown_variable_without_a_close_name_has_no_hint() -> None:
    (problem,) = problems_of({"LOGSHIP_NOPE": "1"})
    assert problem.startswith("LOGSHIP_NOPE: unknown variable")
    assert "did you mean" not in problem


def test_file_suffix_only_for_secrets() -> None:
    (problem,) = problems_of({"LOGSHIP_HTTP_URL_FILE": "/run/secrets/url"})
    assert problem.startswith("LOGSHIP_HTTP_URL_FILE: unknown variable")


def test_http_sink_without_url() -> None:
    (problem,) = problems_of({"LOGSHIP_SINK": "file,http"})
    assert "LOGSHIP_HTTP_URL" in problem and "http" in problem


def test_http_sink_config() -> None:
    config = load({**HTTP, "LOGSHIP_HTTP_HEADERS": "X-Scope-OrgID=shop", "LOGSHIP_HTTP_TIMEOUT": "5s"})
    http = config.sink_configs["http"]
    assert isinstance(http, HttpSinkConfig)
    assert http.url == "https://logs.example.com/ingest"
    assert http.headers == (("X-Scope-OrgID", "shop"),)
    assert http.timeout == 5.0
    assert http.retry_status == frozenset({408, 429, 500, 502, 503, 504})
    assert http.compression == "gzip"


def test_segment_bytes_above_half_of_buffer_rejected() -> None:
    (problem,) = problems_of({"LOGSHIP_BUFFER_MAX_BYTES": "64MiB", "LOGSHIP_BUFFER_SEGMENT_BYTES": "33MiB"})
    assert problem.startswith("LOGSHIP_BUFFER_SEGMENT_BYTES='33MiB'")
    assert "half of LOGSHIP_BUFFER_MAX_BYTES" in problem
    config = load({"LOGSHIP_BUFFER_MAX_BYTES": "64MiB", "LOGSHIP_BUFFER_SEGMENT_BYTES": "32MiB"})
    assert config.buffer.segment_bytes * 2 == config.buffer.max_bytes


def test_small_buffer_with_default_segment_rejected() -> None:
    (problem,) = problems_of({"LOGSHIP_BUFFER_MAX_BYTES": "32MiB"})
    assert problem.startswith("LOGSHIP_BUFFER_SEGMENT_BYTES='32MiB'")


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"LOGSHIP_SINK": "http", "LOGSHIP_BATCH_MAX_WAIT": "soon"},
                     ["LOGSHIP_BATCH_MAX_WAIT", "LOGSHIP_HTTP_URL"], id="missing-url-and-bad-duration"),
        pytest.param({"LOGSHIP_BUFFER_MAX_BYTES": "32MiB", "LOGSHIP_NOPE": "1"},
                     ["LOGSHIP_NOPE", "LOGSHIP_BUFFER_SEGMENT_BYTES"], id="segment-too-big-and-unknown-variable"),
    ],
)
def test_cross_variable_problems_are_reported_with_the_others(environ: dict[str, str], expected: list[str]) -> None:
    # design.md: "All problems are reported together" -- not the first batch, then the next on the next try.
    problems = problems_of(environ)
    for variable in expected:
        assert any(variable in problem for problem in problems), (variable, problems)


# --- secrets through NAME_FILE -----------------------------------------------------------------------


@pytest.mark.parametrize(("content", "expected"), [("s3cret\n", "s3cret"), ("s3cret", "s3cret"),
                                                    ("s3cret\r\n", "s3cret"), ("with space \n", "with space ")])
def test_secret_from_file(tmp_path: Path, content: str, expected: str) -> None:
    secret = tmp_path / "password"
    secret.write_text(content)
    config = load({**HTTP, "LOGSHIP_HTTP_USERNAME": "shipper", "LOGSHIP_HTTP_PASSWORD_FILE": str(secret)})
    assert config.sink_configs["http"].password == expected
    assert config.sink_configs["http"].username == "shipper"


def test_bearer_token_from_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("eyJhbGciOi.token\n")
    config = load({**HTTP, "LOGSHIP_HTTP_BEARER_TOKEN_FILE": str(secret)})
    assert config.sink_configs["http"].bearer_token == "eyJhbGciOi.token"


def test_secret_and_secret_file_both_set(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-file\n")
    (problem,) = problems_of({**HTTP, "LOGSHIP_HTTP_PASSWORD": "inline", "LOGSHIP_HTTP_PASSWORD_FILE": str(secret)})
    assert "LOGSHIP_HTTP_PASSWORD" in problem and "LOGSHIP_HTTP_PASSWORD_FILE" in problem
    assert "inline" not in problem and "from-file" not in problem, "a secret is never printed"


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_unreadable_secret_file(tmp_path: Path, make: str) -> None:
    path = tmp_path / "password"
    if make == "directory":
        path.mkdir()
    (problem,) = problems_of({**HTTP, "LOGSHIP_HTTP_PASSWORD_FILE": str(path)})
    assert problem.startswith(f"LOGSHIP_HTTP_PASSWORD_FILE={str(path)!r}")
    assert "cannot read" in problem


def test_secret_file_that_is_not_utf8_is_a_config_problem(tmp_path: Path) -> None:
    # A Latin-1 password (or a binary file by mistake) must be a configuration problem, not a traceback.
    secret = tmp_path / "password"
    secret.write_bytes(b"p\xe4sswort\n")
    (problem,) = problems_of({**HTTP, "LOGSHIP_HTTP_PASSWORD_FILE": str(secret)})
    assert problem.startswith("LOGSHIP_HTTP_PASSWORD_FILE")


def test_tls_files_must_exist_and_come_in_pairs(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    problems = problems_of({**HTTP, "LOGSHIP_HTTP_TLS_CERT_FILE": str(cert),
                            "LOGSHIP_HTTP_TLS_CA_FILE": str(tmp_path / "nope.pem")})
    assert len(problems) == 2, problems
    assert any(p.startswith("LOGSHIP_HTTP_TLS_CA_FILE=") and "readable file" in p for p in problems)
    assert any("CERT_FILE" in p and "KEY_FILE" in p and "both or neither" in p for p in problems)


# --- documentation -------------------------------------------------------------------------------


def test_markdown_table_has_a_row_for_every_variable() -> None:
    table = markdown_table().splitlines()
    assert table[0] == "| Variable | Default | Description |"
    assert len(table) == len(VARIABLES) + 2
    for variable, row in zip(VARIABLES, table[2:], strict=True):
        assert row.startswith(f"| `{variable.name}`")
        assert variable.help in row
        assert row.count("|") == 4, "a | inside a cell would break the table"
        if variable.secret:
            assert "(or `_FILE`)" in row
        if variable.default:
            assert f"`{variable.default}`" in row


def test_every_variable_is_named_by_the_rules() -> None:
    names = [variable.name for variable in VARIABLES]
    assert len(names) == len(set(names))
    for name in names:
        assert name.startswith("LOGSHIP_") or name in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
    for variable in VARIABLES:
        if variable.default is not None:
            variable.parse(variable.default)  # every default is valid in its own form


# --- the command line ------------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LOGSHIP_")}
    return subprocess.run([sys.executable, "-m", "logship", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**base, "PYTHONPATH": str(REPO_ROOT), **(env or {})}, timeout=60, check=False)


def test_cli_bad_configuration_exits_2_with_every_problem() -> None:
    result = run_cli(env={"LOGSHIP_BATCH_MAX_WAIT": "soon", "LOGSHIP_NOPE": "1"})
    assert result.returncode == 2, result.stderr
    assert "LOGSHIP_BATCH_MAX_WAIT='soon'" in result.stderr
    assert "500ms" in result.stderr
    assert "LOGSHIP_NOPE: unknown variable" in result.stderr
    assert "2 configuration problem(s)" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_version() -> None:
    result = run_cli("version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"logship {__version__}"


def test_cli_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("run", "check", "version"):
        assert command in result.stdout
    assert "--help-config" in result.stdout


def test_cli_help_config_prints_the_table() -> None:
    result = run_cli("--help-config")
    assert result.returncode == 0
    assert result.stdout.strip() == markdown_table()


def test_an_empty_secret_file_counts_as_unset(tmp_path: Path) -> None:
    # compose.yaml ships a placeholder secret holding only a newline (Swarm refuses an empty one)
    secret = tmp_path / "loki_password"
    secret.write_text("\n")
    config = load({"LOGSHIP_SINK": "loki", "LOGSHIP_LOKI_URL": "http://loki:3100",
                   "LOGSHIP_LOKI_PASSWORD_FILE": str(secret)})
    assert config.sink_configs["loki"].password is None


@pytest.mark.parametrize(("environ", "file_batch", "loki_batch"), [
    ({}, (5000, 8 * 1024**2), (2000, 1024**2)),  # each sink's own defaults
    ({"LOGSHIP_BATCH_MAX_LINES": "500"}, (500, 8 * 1024**2), (500, 1024**2)),  # the global value wins when set
    ({"LOGSHIP_BATCH_MAX_LINES": "500", "LOGSHIP_FILE_BATCH_MAX_LINES": "700",
      "LOGSHIP_LOKI_BATCH_MAX_BYTES": "64KiB"}, (700, 8 * 1024**2), (500, 64 * 1024)),  # the sink's own wins
])
def test_batch_limits_per_sink(environ: dict[str, str], file_batch: tuple[int, int],
                               loki_batch: tuple[int, int]) -> None:
    config = load({"LOGSHIP_SINK": "file,loki", "LOGSHIP_LOKI_URL": "http://127.0.0.1:3100", **environ})
    for sink, (lines, size) in (("file", file_batch), ("loki", loki_batch)):
        assert config.sink_configs[sink].batch == BatchConfig(lines, size, 1.0), sink


# --- backlog limits per sink (issue 12, point 6) --------------------------------------------------------


def test_no_backlog_limit_by_default() -> None:
    assert load({"LOGSHIP_SINK": "file,stdout"}).backlog == {}


def test_every_sink_has_its_backlog_limits() -> None:
    names = {variable.name for variable in VARIABLES}
    for sink in SINK_NAMES:
        assert {f"LOGSHIP_{sink.upper()}_MAX_BACKLOG", f"LOGSHIP_{sink.upper()}_MAX_BACKLOG_AGE"} <= names, sink


def test_backlog_limits_reach_the_config_for_the_configured_sinks_only() -> None:
    config = load({**HTTP, "LOGSHIP_SINK": "file,http", "LOGSHIP_HTTP_MAX_BACKLOG": "256MiB",
                   "LOGSHIP_FILE_MAX_BACKLOG_AGE": "6h", "LOGSHIP_LOKI_MAX_BACKLOG": "1MiB"})
    assert config.backlog == {"http": BacklogLimits(max_bytes=256 * 1024**2),
                              "file": BacklogLimits(max_age=6 * 3600.0)}


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("LOGSHIP_HTTP_MAX_BACKLOG", "lots", "LOGSHIP_HTTP_MAX_BACKLOG='lots': expected a size such as 512KiB"),
    ("LOGSHIP_HTTP_MAX_BACKLOG", "0", "LOGSHIP_HTTP_MAX_BACKLOG='0': expected a value greater than zero"),
    ("LOGSHIP_HTTP_MAX_BACKLOG_AGE", "1d", "LOGSHIP_HTTP_MAX_BACKLOG_AGE='1d': expected a duration such as"),
    # The buffer (1 GiB by default) would fill before the sink gives anything up.
    ("LOGSHIP_HTTP_MAX_BACKLOG", "1GiB", "LOGSHIP_HTTP_MAX_BACKLOG='1GiB': expected at most "
                                         "LOGSHIP_BUFFER_MAX_BYTES minus two LOGSHIP_BUFFER_SEGMENT_BYTES "
                                         "(1006632960 bytes)"),
])
def test_bad_backlog_limits_are_reported(variable: str, value: str, expected: str) -> None:
    (problem,) = problems_of({**HTTP, variable: value})
    assert problem.startswith(expected), problem


# --- authentication: one set of rules (issue 13.2) ----------------------------------------------------


@pytest.mark.parametrize("auth", [{"USERNAME": "shipper:1", "PASSWORD": "p"}, {"USERNAME": "u", "BEARER_TOKEN": "t"},
                                  {"PASSWORD": "p"}])
def test_auth_rules_are_the_same_at_start_and_in_the_sink(auth: dict[str, str]) -> None:
    problems = problems_of({**HTTP, **{f"LOGSHIP_HTTP_{name}": value for name, value in auth.items()}})
    settings = {name.lower(): value for name, value in auth.items()}
    assert problems == auth_problems("LOGSHIP_HTTP_", **settings)
    with pytest.raises(SinkError) as caught:  # a config made in code meets the same rules
        auth_headers("LOGSHIP_HTTP_", **settings)
    assert str(caught.value) == "; ".join(problems) and not caught.value.retriable


def test_every_network_sink_says_where_it_sends() -> None:
    # logship.plaintext reads each sink's address through its spec: a new network sink must give it.
    for spec in specs():
        assert (spec.required is None) == (spec.destination is None), spec.name


# --- LOGSHIP_LOKI_STRUCTURED_METADATA (issue 15.4) ----------------------------------------------------

LOKI = {"LOGSHIP_SINK": "loki", "LOGSHIP_LOKI_URL": "http://loki:3100"}


@pytest.mark.parametrize(("text", "structured", "names"), [
    (None, True, frozenset({"container_name", "container_image_name", "swarm_task_slot"})),
    ("all", True, None),
    ("true", True, None),  # what the setting meant when it was a boolean
    ("none", True, frozenset()),
    ("false", False, None),
    (" container_name , container_label_* ", True, frozenset({"container_name", "container_label_*"})),
])
def test_loki_structured_metadata_takes_all_none_or_a_list(text: str | None, structured: bool,
                                                            names: frozenset[str] | None) -> None:
    environ = LOKI if text is None else {**LOKI, "LOGSHIP_LOKI_STRUCTURED_METADATA": text}
    config = load(environ).sink_configs["loki"]
    assert (config.structured_metadata, config.metadata_names) == (structured, names)


@pytest.mark.parametrize("text", ["container.name", "container_name,2x", "a-b", "*", ","])
def test_a_bad_loki_structured_metadata_stops_at_start_naming_variable_value_and_choices(text: str) -> None:
    [problem] = problems_of({**LOKI, "LOGSHIP_LOKI_STRUCTURED_METADATA": text})
    assert problem.startswith(f"LOGSHIP_LOKI_STRUCTURED_METADATA={text!r}: expected all, none, false")
    assert "comma list of metadata names" in problem
