"""What the stream sinks (syslog, GELF over TCP/TLS) share: the TLS context of their connection.

Only the context builder is shared so far: the two clients differ on purpose in what they do after a
failed write (syslog aborts the connection so that a half-written frame is never completed; GELF closes
it) and in the reasons they report, so merging them is a change of behaviour, not a move.
"""

from __future__ import annotations

import ssl

from logship.settings.types import TlsConfig
from logship.sinks.tls import ssl_context


def stream_ssl_context(tls: TlsConfig, *, sink: str) -> ssl.SSLContext:
    """The ``ssl`` argument of ``asyncio.open_connection`` for ``tls://`` (never a plain connection).

    ``tls.ssl_context`` gives aiohttp's forms (True, False or a context); a stream needs a context.
    """
    context = ssl_context(tls, sink=sink)
    if isinstance(context, ssl.SSLContext):
        return context
    if context:
        return ssl.create_default_context()
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    return unverified
