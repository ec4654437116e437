"""Sinks that send logs in plain text to another machine: said once at start, and by ``logship check``.

The rule (issue 16.4): a sink sends in plain text when its address is ``http://`` (``http``, ``loki``,
``elasticsearch``, ``clickhouse``, ``otlp``, GELF over HTTP) or ``tcp://``/``udp://`` (syslog, GELF over TCP).
That is worth a warning only when the host is *remote*: neither loopback (``localhost``, 127.0.0.0/8,
``::1``) nor a name on the stack's own network. Names on the stack's network are single-label names
(``loki``, a compose service name, ``logship_loki``) and Swarm's ``tasks.<service>``: Docker's embedded
DNS answers them on the stack's overlay network, which compose.yaml encrypts (IPsec), so they never
cross the wire in clear. Anything else (a dotted name, a routable or private address) does.

Only the configuration is read: each sink's spec says where its config sends (``SinkSpec.destination``)
and which variable holds it; the sinks themselves are not touched, so that the rule lives here once.
The credentials of a URL (``http://user:password@host``) never appear in a message.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from logship.config import Config
from logship.sinks.registry import spec_of

log = logging.getLogger("logship.plaintext")

_PLAIN_SCHEMES = frozenset({"http", "tcp", "udp"})
_TLS_HINT = {
    "http": "https://",
    "tcp": "tls://",
}


@dataclass(frozen=True)
class PlainTextSink:
    """A sink configured to send in plain text to a remote host.

    ``address`` is the configured address without any credentials; ``advice`` says how to turn TLS on.
    """

    sink: str
    variable: str
    address: str
    host: str
    advice: str

    @property
    def detail(self) -> str:
        """What is wrong and how to fix it, without the sink's name (``logship check`` puts it first)."""
        return (f"sends logs in plain text to {self.host} ({self.variable}={self.address}), which is neither "
                f"loopback nor a name on the stack's own network: {self.advice}")

    @property
    def message(self) -> str:
        """The one line logged at start."""
        return f"sink {self.sink} {self.detail}"


def is_local(host: str) -> bool:
    """True for a loopback host or a name on the stack's own network (single label, ``tasks.<name>``)."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    if name.startswith("tasks."):  # Swarm DNS: every task of a service on this network
        name = name.removeprefix("tasks.")
    return bool(name) and "." not in name


def _advice(sink: str, variable: str, scheme: str) -> str:
    tls = f"LOGSHIP_{sink.upper()}_TLS_CA_FILE for a private CA"
    if scheme == "udp":  # syslog over UDP has no TLS: TCP with TLS instead
        return f"set {variable}=tls://host:port (RFC 5425; UDP has no TLS), with {tls}"
    return f"use {_TLS_HINT[scheme]} in {variable}, with {tls}"


def _without_credentials(url: str) -> tuple[str, str, str]:
    """(scheme, host, the URL's scheme://host[:port]/path without user and password)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return parts.scheme.lower(), parts.hostname or "", f"{parts.scheme}://{netloc}{parts.path}"


def _addresses(config: Config) -> Iterator[tuple[str, str, str, str, str]]:
    """(sink, variable, scheme, host, shown address) of every configured network sink."""
    for sink in config.sinks:
        spec = spec_of(sink)
        sink_config = config.sink_configs.get(sink)
        if sink_config is None or spec.destination is None or spec.required is None:
            continue  # not configured (a problem already reported), or not a network sink
        scheme, host, shown = _without_credentials(spec.destination(sink_config))
        yield sink, spec.required, scheme, host, shown


def plaintext_sinks(config: Config) -> list[PlainTextSink]:
    """The sinks of ``config`` that would send in plain text to a remote host, in LOGSHIP_SINK's order."""
    found = []
    for sink, variable, scheme, host, shown in _addresses(config):
        if scheme in _PLAIN_SCHEMES and not is_local(host):
            found.append(PlainTextSink(sink, variable, shown, host, _advice(sink, variable, scheme)))
    return found


def warn_plaintext(config: Config) -> list[PlainTextSink]:
    """Log one warning per sink that sends in plain text to a remote host (once, at start)."""
    found = plaintext_sinks(config)
    for item in found:
        log.warning("%s", item.message)
    return found
