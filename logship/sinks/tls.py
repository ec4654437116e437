"""TLS for every HTTP-based sink: one function from ``TlsConfig`` to what aiohttp's ``ssl=`` takes."""

from __future__ import annotations

import logging
import ssl

from logship.settings.types import TlsConfig
from logship.sinks.base import SinkError

log = logging.getLogger(__name__)


def ssl_context(tls: TlsConfig, *, sink: str = "sink") -> ssl.SSLContext | bool:
    """The ``ssl`` argument of an aiohttp connector for ``tls``.

    - nothing configured: ``True`` (verify against the system's CA store);
    - ``ca_file``: verify against that bundle only; ``cert_file``/``key_file``: present a client
      certificate (mutual TLS);
    - ``insecure``: no verification (``False``, or a non-verifying context when a client certificate
      must still be presented), announced by one WARNING.

    Raises ``SinkError`` (not retriable) when a file cannot be loaded.
    """
    if tls.insecure:
        log.warning("sink %s: TLS certificate verification is off (TLS_INSECURE); the server is not "
                    "authenticated", sink)
    if not (tls.ca_file or tls.cert_file):
        return not tls.insecure
    try:
        context = ssl.create_default_context(cafile=None if tls.insecure else tls.ca_file)
        if tls.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if tls.cert_file:
            context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise SinkError(f"sink {sink}: cannot load TLS files (CA {tls.ca_file!r}, certificate "
                        f"{tls.cert_file!r}, key {tls.key_file!r}): {exc}", retriable=False) from exc
    return context
