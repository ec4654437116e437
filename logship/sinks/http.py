"""The ``http`` sink: each batch is POSTed as NDJSON to ``LOGSHIP_HTTP_URL``.

Wire format: one record per line, each line ending with ``\\n`` (the last one too), ``Content-Type:
application/x-ndjson``, body compressed per ``LOGSHIP_HTTP_COMPRESSION`` (``gzip``, level 1: fast;
``zstd``, level 3, needs the optional ``zstandard`` package; ``none``) and announced by
``Content-Encoding``. Authentication: ``Authorization: Bearer <token>`` or ``Basic <base64(user:pass)>``
(built here: aiohttp 3.14 deprecates ``BasicAuth``), plus any extra headers. Redirects are not followed
(a 30x would turn the POST into a GET and lose the body); they count as rejections.

Answers (``classify``): 2xx delivered; 413 rejected, split the batch; 401/403 retried (credentials are
a configuration fault, not a fault of the records: dead-lettering would throw every record away until
someone fixes them, while retrying keeps them in the buffer); a status in ``retry_status`` retried,
honouring ``Retry-After``; any other status rejected. No answer: ``connect``, ``tls`` or ``timeout``
retry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import ModuleType

from yarl import URL

from logship.config import HttpSinkConfig
from logship.ship.outcome import DELIVERED, Outcome
from logship.sinks.base import Batch, SinkError
from logship.sinks.gzip_body import gzip_compress
from logship.sinks.transport import HttpTransport, auth_headers, classify_status, encode_off_loop, status_said

COMPRESSIONS = ("none", "gzip", "zstd")
_ZSTD_LEVEL = 3
_EXCERPT_CHARS = 200
_WHITESPACE = re.compile(r"\s+")


def _zstandard() -> ModuleType:
    try:
        import zstandard
    except ImportError as exc:
        raise SinkError("LOGSHIP_HTTP_COMPRESSION=zstd needs the optional `zstandard` package "
                        "(pip install zstandard), or choose gzip", retriable=False) from exc
    return zstandard


def check_compression(compression: str) -> None:
    """Raise SinkError (not retriable) when ``compression`` is unknown or its module is missing."""
    if compression not in COMPRESSIONS:
        raise SinkError(f"unknown compression {compression!r}: expected one of {', '.join(COMPRESSIONS)}",
                        retriable=False)
    if compression == "zstd":
        _zstandard()


def encode(batch: Batch, compression: str) -> tuple[bytes, dict[str, str]]:
    """The request body and its content headers for ``batch`` (see the module docstring)."""
    body = b"\n".join([*batch.records, b""])
    headers = {"Content-Type": "application/x-ndjson"}
    if compression == "gzip":
        body = gzip_compress(body)
        headers["Content-Encoding"] = "gzip"
    elif compression == "zstd":
        body = _zstandard().ZstdCompressor(level=_ZSTD_LEVEL).compress(body)
        headers["Content-Encoding"] = "zstd"
    elif compression != "none":
        check_compression(compression)
    return body, headers


def body_excerpt(body: bytes) -> str:
    """The start of a response body as one short line of text (invalid UTF-8 replaced)."""
    text = _WHITESPACE.sub(" ", body[: _EXCERPT_CHARS * 4].decode("utf-8", errors="replace")).strip()
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"


def classify(status: int, headers: Mapping[str, str], body: bytes, retry_status: frozenset[int]) -> Outcome:
    """The Outcome of one answer of the store (rows in the module docstring)."""
    if 200 <= status < 300:
        return DELIVERED
    return classify_status(status, headers, status_said(status, body_excerpt(body)), retry_status)


def request_headers(config: HttpSinkConfig) -> dict[str, str]:
    """Headers sent with every request: the extra headers and Authorization.

    Raises SinkError (not retriable) for contradictory settings.
    """
    headers = dict(config.headers)
    auth = auth_headers("LOGSHIP_HTTP_", username=config.username, password=config.password,
                        bearer_token=config.bearer_token)
    if auth and any(name.lower() == "authorization" for name in headers):
        raise SinkError("LOGSHIP_HTTP_HEADERS sets Authorization and so do the token or user settings: "
                        "give only one", retriable=False)
    return {**headers, **auth}


class HttpSink:
    """POSTs batches as NDJSON on one aiohttp session (at most ``concurrency`` connections)."""

    name = "http"

    def __init__(self, config: HttpSinkConfig) -> None:
        check_compression(config.compression)
        self.config = config
        self._origin = str(URL(config.url).origin()) + "/"
        self._transport = HttpTransport(self.name, config.tls, config.timeout, config.concurrency,
                                        request_headers(config))

    async def start(self) -> None:
        """Open the session (TLS files are loaded here)."""
        await self._transport.start()

    async def send(self, batch: Batch) -> Outcome:
        """POST ``batch`` and classify the answer; no answer at all becomes a RETRY."""
        body, headers = await encode_off_loop(encode, batch, self.config.compression,
                                              threaded=self.config.compression != "none")
        answer = await self._transport.post(self.config.url, body, headers)
        if isinstance(answer, Outcome):
            return answer
        return classify(answer.status, answer.headers, answer.body, self.config.retry_status)

    async def healthcheck(self) -> None:
        """HEAD the URL's origin: any answer below 500 but 401/403 means reachable, else SinkError."""
        answer = await self._transport.probe(self._origin, method="HEAD")
        if answer.status >= 500:
            raise SinkError(f"{self._origin}: answered HTTP {answer.status}")

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._transport.aclose()
