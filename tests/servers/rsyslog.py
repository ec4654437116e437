"""A real rsyslog for the tests: ``rsyslogd -n`` with a plain TCP and an RFC 5425 TLS listener.

Both listeners (imtcp, octet counting accepted) are on free loopback ports in one process
(``../shared/reference/stores.md`` §5.3); the TLS one uses the GnuTLS driver with a server certificate
for localhost/127.0.0.1 issued by a throw-away CA (``tests/fakes/certs.py``), clients are not asked for
certificates (``authMode="anon"``). ``maxMessageSize`` is rsyslog's default 8k unless given.
Control characters are kept as they arrive (``parser.escapeControlCharactersOnReceive="off"``), so a
multi-line message is stored with its newlines.

Every message is written by omfile as one JSON object per line with each header field parsed by rsyslog:
``pri``, ``version``, ``timestamp`` (as received), ``hostname``, ``app_name``, ``procid``, ``msgid``,
``structured_data``, ``msg`` and ``raw`` (the message as received, without the octet count), plus
``input`` (which listener: ``tcp`` or ``tls``). ``messages()`` reads them back.

In pytest: ``from tests.servers.rsyslog import rsyslog_server  # noqa: F401``; the fixture fails the
test in CI (``CI=true`` or ``LOGSHIP_TEST_DOCKER=1``) when rsyslogd or its GnuTLS driver is missing, and
skips elsewhere. By hand: ``python -m tests.servers.rsyslog``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.fakes.certs import CertificateAuthority
from tests.servers.common import IN_CI, ServerProcess, free_port, port_open, require_binary, run_by_hand, serve_session

START_TIMEOUT = 30.0
GTLS_DRIVER = "lmnsd_gtls.so"
_MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog", "/usr/lib/rsyslog",
                "/usr/lib64/rsyslog")

_CONFIG = """
global(
    workDirectory="{dir}/work"
    maxMessageSize="{max_message_size}"
    parser.escapeControlCharactersOnReceive="off"
    defaultNetstreamDriverCAFile="{ca}"
    defaultNetstreamDriverCertFile="{cert}"
    defaultNetstreamDriverKeyFile="{key}"
)
module(load="imtcp" maxSessions="200")

template(name="fields" type="list" option.jsonf="on") {{
    property(outname="pri" name="pri" format="jsonf")
    property(outname="version" name="protocol-version" format="jsonf")
    property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
    property(outname="hostname" name="hostname" format="jsonf")
    property(outname="app_name" name="app-name" format="jsonf")
    property(outname="procid" name="procid" format="jsonf")
    property(outname="msgid" name="msgid" format="jsonf")
    property(outname="structured_data" name="structured-data" format="jsonf")
    property(outname="msg" name="msg" format="jsonf")
    property(outname="raw" name="rawmsg" format="jsonf")
    property(outname="input" name="inputname" format="jsonf")
}}

ruleset(name="tofile") {{
    action(type="omfile" file="{dir}/out/messages.ndjson" template="fields")
}}

input(type="imtcp" name="tcp" address="127.0.0.1" port="{tcp_port}" ruleset="tofile")
input(type="imtcp" name="tls" address="127.0.0.1" port="{tls_port}" ruleset="tofile"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
"""


def gtls_available() -> bool:
    return any((Path(directory) / GTLS_DRIVER).is_file() for directory in _MODULE_DIRS)


class RsyslogServer(ServerProcess):
    """One ``rsyslogd -n`` with its configuration, certificates and output in ``directory``."""

    def __init__(self, directory: Path, binary: str = "rsyslogd", max_message_size: str = "8k") -> None:
        super().__init__(directory, binary)
        self.max_message_size = max_message_size
        self.tcp_port = 0
        self.tls_port = 0
        self.ca: CertificateAuthority | None = None

    @property
    def output(self) -> Path:
        return self.directory / "out" / "messages.ndjson"

    @property
    def log_file(self) -> Path:
        return self.directory / "rsyslogd.log"

    @property
    def ca_file(self) -> Path:
        assert self.ca is not None, "start() first"
        return self.ca.ca_file

    def start(self) -> None:
        """Make the certificates and the configuration, check it (``-N1``), start and wait for both ports."""
        for sub in ("work", "out", "tls"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self.ca = CertificateAuthority(self.directory / "tls", name="rsyslog-test-ca")
        server = self.ca.issue("localhost")
        self.tcp_port = free_port()
        self.tls_port = free_port()
        while self.tls_port == self.tcp_port:
            self.tls_port = free_port()
        config = self.directory / "rsyslog.conf"
        config.write_text(_CONFIG.format(dir=self.directory, max_message_size=self.max_message_size,
                                         ca=self.ca.ca_file, cert=server.cert_file, key=server.key_file,
                                         tcp_port=self.tcp_port, tls_port=self.tls_port))
        checked = subprocess.run([self.binary, "-N1", "-f", str(config)], capture_output=True, timeout=60)
        if checked.returncode != 0:
            raise RuntimeError(f"rsyslogd -N1 refused {config}:\n{checked.stdout.decode()}{checked.stderr.decode()}")
        self.launch([self.binary, "-n", "-f", str(config), "-i", str(self.directory / "rsyslogd.pid")], self.log_file,
                    lambda: port_open(self.tcp_port) and port_open(self.tls_port), START_TIMEOUT,
                    f"rsyslogd on ports {self.tcp_port}/{self.tls_port}", self.log_file)

    def messages(self) -> list[dict[str, Any]]:
        """Every message written so far, oldest first (a line rsyslog is still writing is left out)."""
        if not self.output.is_file():
            return []
        data = self.output.read_bytes()
        complete = data[:data.rfind(b"\n") + 1]
        return [orjson.loads(line) for line in complete.splitlines() if line.strip()]

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], count: int,
                 timeout: float = 15.0) -> list[dict[str, Any]]:
        """The messages matching ``predicate`` once there are at least ``count`` (AssertionError after
        ``timeout``, with what did arrive and the end of rsyslogd's own log)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [message for message in self.messages() if predicate(message)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                own_log = self.log_file.read_text(errors="replace")[-3000:] if self.log_file.is_file() else ""
                raise AssertionError(f"{len(found)} of {count} messages arrived within {timeout}s: {found!r}\n"
                                     f"--- rsyslogd's log ---\n{own_log}")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def rsyslog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RsyslogServer]:
    """A running rsyslog for the whole session (see the module docstring)."""
    binary = require_binary("rsyslogd", "rsyslog")
    if not gtls_available():
        message = f"rsyslog's GnuTLS driver ({GTLS_DRIVER}) is not installed (apt-get install rsyslog-gnutls)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    yield from serve_session(RsyslogServer(tmp_path_factory.mktemp("rsyslog"), binary))


def main() -> None:  # pragma: no cover - a manual helper
    run_by_hand("rsyslog", "rsyslogd", RsyslogServer, lambda server: (
        f"rsyslog on tcp://127.0.0.1:{server.tcp_port} and tls://127.0.0.1:{server.tls_port} "
        f"(CA {server.ca_file}); messages in {server.output}; ready in {server.startup_seconds:.2f}s"))


if __name__ == "__main__":
    main()
