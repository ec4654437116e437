"""The ``syslog`` sink, the classify step: pure, the store's answers → Outcome.

The wire format and the answers are described in ``logship.sinks.syslog``.
"""

from __future__ import annotations

import socket
import ssl


def describe_error(exc: BaseException, timeout: float) -> tuple[str, str]:
    """(RETRY reason, what a person reads) for a failed connect or write."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls", f"TLS: certificate verify failed: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return "tls", f"TLS: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "timeout", f"no answer within {timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return "connect", "connection refused"
    if isinstance(exc, socket.gaierror):
        return "connect", f"cannot resolve the host: {exc.strerror}"
    if isinstance(exc, OSError):
        return "connect", f"{type(exc).__name__}: {exc.strerror or exc}"
    return "connect", f"{type(exc).__name__}: {exc}"
