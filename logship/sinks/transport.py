"""The HTTP client every HTTP-speaking sink shares: one aiohttp session, TLS, timeouts, auth headers.

``post`` returns the store's answer as ``Answer`` for the sink's pure ``classify``; a request that
got no answer at all (refused, reset, TLS failure, timeout) comes back as a RETRY ``Outcome``
instead, so sinks never handle transport exceptions themselves. ``probe`` is the healthcheck
request: it raises ``SinkError`` with a reason a person can act on.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from logship import __version__
from logship.config import TlsConfig
from logship.ship.outcome import Outcome, retry
from logship.sinks.base import SinkError
from logship.sinks.tls import ssl_context


@dataclass(frozen=True, slots=True)
class Answer:
    """A store's HTTP answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def auth_headers(prefix: str, *, username: str | None = None, password: str | None = None,
                 bearer_token: str | None = None, api_key: str | None = None) -> dict[str, str]:
    """``Authorization`` for basic, bearer or API-key auth (aiohttp 3.14 deprecates BasicAuth).

    ``prefix`` (``LOGSHIP_LOKI_``, …) names the variables in errors. Raises SinkError (not retriable)
    for contradictory settings.
    """
    given = [name for name, value in (("USERNAME", username), ("BEARER_TOKEN", bearer_token),
                                      ("API_KEY", api_key)) if value is not None]
    if len(given) > 1:
        raise SinkError(f"set only one of {', '.join(prefix + name for name in given)}", retriable=False)
    if bearer_token is not None:
        return {"Authorization": f"Bearer {bearer_token}"}
    if api_key is not None:
        return {"Authorization": f"ApiKey {api_key}"}
    if username is not None or password is not None:
        if not username or ":" in username:
            raise SinkError(f"{prefix}USERNAME must be set, without ':', for basic authentication", retriable=False)
        token = base64.b64encode(f"{username}:{password or ''}".encode()).decode("ascii")
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
            return retry("timeout", detail=f"no answer within {self.timeout:g}s")
        except aiohttp.ClientSSLError as exc:
            return retry("tls", detail=tls_reason(exc))
        except aiohttp.ClientError as exc:
            return retry("connect", detail=f"{type(exc).__name__}: {exc}")

    async def post(self, url: str, body: bytes, headers: Mapping[str, str] | None = None,
                   params: Mapping[str, str] | None = None) -> Answer | Outcome:
        """POST ``body``; redirects are not followed (a 30x would turn the POST into a GET)."""
        return await self.request("POST", url, body=body, headers=headers, params=params)

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
