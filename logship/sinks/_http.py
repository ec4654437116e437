"""What the sinks share to send: the HTTP client, the status rows of ``classify``, encoding off the loop.

``HttpTransport`` is every HTTP-speaking sink's client: one aiohttp session, TLS, timeouts, auth
headers. ``post`` returns the store's answer as ``Answer`` for the sink's pure ``classify``; a request
that got no answer at all (refused, reset, TLS failure, timeout) comes back as a RETRY ``Outcome``
instead, so sinks never handle transport exceptions themselves. ``probe`` is the healthcheck
request: it raises ``SinkError`` with a reason a person can act on.

``classify_status`` holds the rows every HTTP store's ``classify`` ends with, for an answer that is not
a success; each sink keeps its store's own rows (bodies it reads, statuses it always retries) before
it; ``classify_answer`` is the whole of it for a store that says nothing more than its status, and
``body_excerpt`` the store's text for a reason. ``encode_once`` encodes a batch once for all its attempts.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar, cast

import aiohttp

from logship import __version__
from logship.settings.auth import auth_problems
from logship.settings.types import TlsConfig
from logship.ship.outcome import DELIVERED, Outcome, RetryReason, rejected, retry
from logship.ship.retry import parse_retry_after
from logship.sinks.base import Batch, SinkError
from logship.sinks.tls import ssl_context

# Above this size a ``threaded`` encoding (compressing a few MiB, which releases the GIL) runs in a worker thread.
THREAD_ENCODE_BYTES = 256 * 1024
CREDENTIAL_STATUSES = (401, 403)

_Setting = TypeVar("_Setting")
_Encoded = TypeVar("_Encoded")


@dataclass(frozen=True, slots=True)
class Answer:
    """A store's HTTP answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes


async def encode_once(encode: Callable[[Batch, _Setting], _Encoded], batch: Batch, setting: _Setting, *,
                      threaded: bool = False) -> _Encoded:
    """``encode(batch, setting)``, kept in ``batch.encoded``: a retry of the same Batch with the same
    encoding and setting gets it back without encoding again.

    A store's encoding is Python work that holds the GIL, so it runs on the event loop: in a worker thread
    the collectors and it take turns at the GIL anyway, and there it cost more memory (peak RSS of a
    backlog shipped to Loki 70 against 60 MB, Elasticsearch 100 against 80) and, for Loki, more CPU (5.0
    against 4.5 µs per line, means of six runs each of ``python -m bench backlog --pin``, side by side).
    A batch takes milliseconds (about 1 µs per line, 4 MiB at most), which the collectors wait out with
    their data in the sockets. ``threaded``: in a worker thread when the batch is large: where the work is
    mostly compression, which releases the GIL (the http sink's gzip or zstd), and for ClickHouse, whose
    backlog measured 10 % more CPU per line on the loop (5.5 against 5.0, four runs each; not understood
    yet, though its peak RSS was 122 against 157-187 MB)."""
    cached = batch.encoded
    if cached is not None and cached[0] is encode and (cached[1] is setting or cached[1] == setting):
        return cast(_Encoded, cached[2])
    if threaded and batch.nbytes >= THREAD_ENCODE_BYTES:
        encoded = await asyncio.to_thread(encode, batch, setting)
    else:
        encoded = encode(batch, setting)
    batch.encoded = (encode, setting, encoded)
    return encoded


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name``, whatever its case (a plain dict is not case-insensitive like aiohttp's
    headers)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The delay ``Retry-After`` asks for, in seconds, or None."""
    value = header(headers, "Retry-After")
    return parse_retry_after(value) if value is not None else None


def status_said(status: int, text: str) -> str:
    """``http 503: <what the store said>``, or ``http 503`` when it said nothing."""
    return f"http {status}: {text}" if text else f"http {status}"


def classify_status(status: int, headers: Mapping[str, str], said: str, retry_status: frozenset[int], *,
                    retriable: bool = False, credentials_hint: str = "") -> Outcome:
    """The Outcome of an answer that is not a success, by the rows every HTTP store shares.

    - 413: REJECTED with ``split`` (the batch is too large; halves may pass);
    - 401/403: RETRY (credentials are a configuration fault, not a fault of the records: dead-lettering
      would throw every record away until someone fixes them, while retrying keeps them in the buffer),
      ``credentials_hint`` appended to the detail;
    - a status in ``retry_status``, or ``retriable`` by the store's own rules: RETRY, honouring Retry-After;
    - any other: REJECTED.

    ``said`` tells the answer (``status_said``): the reason of a rejection, the detail of a retry.
    """
    if status == 413:
        return rejected(said, split=True)
    if status in CREDENTIAL_STATUSES:
        return retry(RetryReason.http(status), detail=f"credentials refused ({said}){credentials_hint}")
    if retriable or status in retry_status:
        return retry(RetryReason.http(status), after=retry_after(headers), detail=said)
    return rejected(said)


def auth_headers(prefix: str, *, username: str | None = None, password: str | None = None,
                 bearer_token: str | None = None, api_key: str | None = None,
                 password_needs_user: bool = True) -> dict[str, str]:
    """``Authorization`` for basic, bearer or API-key auth (aiohttp 3.14 deprecates BasicAuth).

    ``prefix`` (``LOGSHIP_LOKI_``, …) names the variables in errors. The rules are
    ``logship.settings.auth.auth_problems`` (``config.load`` reports the same problems at start); a config
    built otherwise that breaks them raises SinkError (not retriable).
    """
    problems = auth_problems(prefix, username=username, password=password, bearer_token=bearer_token,
                             api_key=api_key, password_needs_user=password_needs_user)
    if problems:
        raise SinkError("; ".join(problems), retriable=False)
    if bearer_token is not None:
        return {"Authorization": f"Bearer {bearer_token}"}
    if api_key is not None:
        return {"Authorization": f"ApiKey {api_key}"}
    if username is not None or password is not None:
        token = base64.b64encode(f"{username or ''}:{password or ''}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}
    return {}


def tls_reason(exc: aiohttp.ClientSSLError) -> str:
    """What went wrong in a TLS handshake, for a person."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        message = getattr(error, "verify_message", None)
        return f"TLS: certificate verify failed: {message}" if message else f"TLS: {error}"
    return f"TLS: {exc.os_error}"


class HttpTransport:
    """One sink's HTTP session: at most ``concurrency`` connections, ``timeout`` per request."""

    def __init__(self, sink: str, tls: TlsConfig, timeout: float, concurrency: int,
                 headers: Mapping[str, str] | None = None) -> None:
        self.sink = sink
        self.timeout = timeout
        self._tls = tls
        self._concurrency = concurrency
        self._headers = {"User-Agent": f"logship/{__version__}", **(headers or {})}
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the session (TLS files are loaded here)."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._concurrency, ssl=ssl_context(self._tls, sink=self.sink))
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers,
                                                  timeout=aiohttp.ClientTimeout(total=self.timeout))

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"sink {self.sink}: start() must be awaited first")
        return self._session

    async def request(self, method: str, url: str, *, body: bytes | None = None,
                      headers: Mapping[str, str] | None = None,
                      params: Mapping[str, str] | None = None) -> Answer | Outcome:
        """Send one request; the answer, or a RETRY outcome when there was none."""
        try:
            async with self.session.request(method, url, data=body, headers=headers, params=params,
                                            allow_redirects=False) as response:
                return Answer(response.status, response.headers, await response.read())
        except (TimeoutError, aiohttp.ServerTimeoutError):
            return retry(RetryReason.TIMEOUT, detail=f"no answer within {self.timeout:g}s")
        except aiohttp.ClientSSLError as exc:
            return retry(RetryReason.TLS, detail=tls_reason(exc))
        except aiohttp.ClientError as exc:
            return retry(RetryReason.CONNECT, detail=f"{type(exc).__name__}: {exc}")

    async def post(self, url: str, body: bytes, headers: Mapping[str, str] | None = None,
                   params: Mapping[str, str] | None = None) -> Answer | Outcome:
        """POST ``body``; redirects are not followed (a 30x would turn the POST into a GET)."""
        return await self.request("POST", url, body=body, headers=headers, params=params)

    async def post_batch(self, url: str, encode: Callable[[Batch, _Setting], tuple[bytes, Mapping[str, str]]],
                         batch: Batch, setting: _Setting, params: Mapping[str, str] | None = None) -> Answer | Outcome:
        """POST ``encode(batch, setting)`` (its body and headers, made once for every attempt: ``encode_once``)."""
        body, headers = await encode_once(encode, batch, setting)
        return await self.post(url, body, headers, params=params)

    async def probe(self, url: str, method: str = "GET", params: Mapping[str, str] | None = None) -> Answer:
        """A healthcheck request: the answer, or SinkError saying why there was none."""
        try:
            async with self.session.request(method, url, params=params, allow_redirects=False) as response:
                answer = Answer(response.status, response.headers, await response.read())
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise SinkError(f"{url}: no answer within {self.timeout:g}s") from exc
        except aiohttp.ClientSSLError as exc:
            # A certificate is a configuration problem: waiting does not help.
            raise SinkError(f"{url}: {tls_reason(exc)}", retriable=False) from exc
        except aiohttp.ClientError as exc:
            raise SinkError(f"{url}: cannot connect: {exc}") from exc
        if answer.status in (401, 403):
            raise SinkError(f"{url}: credentials refused (HTTP {answer.status})", retriable=False)
        return answer

    async def aclose(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class TransportSink:
    """The ``start`` and ``aclose`` of an HTTP sink: its ``HttpTransport`` (``self._transport``)."""

    _transport: HttpTransport

    async def start(self) -> None:
        """Open the session (TLS files are loaded here)."""
        await self._transport.start()

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._transport.aclose()


_EXCERPT_CHARS = 200
_WHITESPACE = re.compile(r"\s+")


def body_excerpt(body: bytes) -> str:
    """The start of a response body as one short line of text (invalid UTF-8 replaced)."""
    text = _WHITESPACE.sub(" ", body[: _EXCERPT_CHARS * 4].decode("utf-8", errors="replace")).strip()
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"


def classify_answer(status: int, headers: Mapping[str, str], body: bytes, retry_status: frozenset[int]) -> Outcome:
    """The Outcome of one answer of the store (rows in the module docstring)."""
    if 200 <= status < 300:
        return DELIVERED
    return classify_status(status, headers, status_said(status, body_excerpt(body)), retry_status)
