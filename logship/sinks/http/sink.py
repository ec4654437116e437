"""The ``http`` sink, the Sink class: send, healthcheck, aclose.

The wire format and the answers are described in ``logship.sinks.http``.
"""

from __future__ import annotations

from yarl import URL

from logship.ship.outcome import Outcome
from logship.sinks._http import HttpTransport, TransportSink, auth_headers, encode_once
from logship.sinks.base import Batch, SinkError
from logship.sinks.http.classify import classify
from logship.sinks.http.encode import check_compression, encode
from logship.sinks.http.spec import HttpSinkConfig


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


class HttpSink(TransportSink):
    """POSTs batches as NDJSON on one aiohttp session (at most ``concurrency`` connections)."""

    name = "http"

    def __init__(self, config: HttpSinkConfig) -> None:
        check_compression(config.compression)
        self.config = config
        self._origin = str(URL(config.url).origin()) + "/"
        self._transport = HttpTransport(self.name, config.tls, config.timeout, config.concurrency,
                                        request_headers(config))

    async def send(self, batch: Batch) -> Outcome:
        """POST ``batch`` and classify the answer; no answer at all becomes a RETRY."""
        body, headers = await encode_once(encode, batch, self.config.compression,
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
