"""The ``loki`` sink, the Sink class: send, healthcheck, aclose.

The wire format and the answers are described in ``logship.sinks.loki``.
"""

from __future__ import annotations

from typing import get_args

from logship.ship.outcome import DELIVERED, Outcome
from logship.sinks._http import HttpTransport, TransportSink, auth_headers, body_excerpt
from logship.sinks.base import Batch, SinkError
from logship.sinks.loki.body import encode
from logship.sinks.loki.classify import classify
from logship.sinks.loki.spec import LokiEncoding, LokiSinkConfig

PUSH_PATH = "/loki/api/v1/push"


# --- the sink ---------------------------------------------------------------------------------


def endpoints(url: str) -> tuple[str, str]:
    """(push URL, ready URL) for ``LOGSHIP_LOKI_URL`` given as Loki's base URL or its push URL."""
    base = url.rstrip("/")
    if base.endswith(PUSH_PATH):
        base = base[: -len(PUSH_PATH)]
    return base + PUSH_PATH, base + "/ready"


def request_headers(config: LokiSinkConfig) -> dict[str, str]:
    """Headers sent with every request: Authorization and X-Scope-OrgID. Raises SinkError (not
    retriable) for contradictory auth settings."""
    headers = auth_headers("LOGSHIP_LOKI_", username=config.username, password=config.password,
                           bearer_token=config.bearer_token)
    if config.tenant_id:
        headers["X-Scope-OrgID"] = config.tenant_id
    return headers


class LokiSink(TransportSink):
    """Pushes batches to Loki on one aiohttp session (at most ``concurrency`` connections)."""

    name = "loki"

    def __init__(self, config: LokiSinkConfig) -> None:
        # A config made in code rather than by config.load is not held to its Literal type at run time.
        if config.encoding not in get_args(LokiEncoding):
            raise SinkError(f"LOGSHIP_LOKI_ENCODING={config.encoding!r}: expected one of "
                            f"{', '.join(get_args(LokiEncoding))}", retriable=False)
        self.config = config
        self.push_url, self.ready_url = endpoints(config.url)
        self._transport = HttpTransport(self.name, config.tls, config.timeout, config.concurrency,
                                        request_headers(config))

    async def send(self, batch: Batch) -> Outcome:
        """Push ``batch`` and classify the answer; no answer at all becomes a RETRY."""
        if not batch.records:
            return DELIVERED
        answer = await self._transport.post_batch(self.push_url, encode, batch, self.config)
        if isinstance(answer, Outcome):
            return answer
        return classify(answer.status, answer.headers, answer.body, self.config.retry_status)

    async def healthcheck(self) -> None:
        """GET /ready: 200 is ready, anything else a SinkError with Loki's words."""
        answer = await self._transport.probe(self.ready_url)
        if answer.status == 200:
            return
        excerpt = body_excerpt(answer.body)
        said = f"HTTP {answer.status}" + (f": {excerpt}" if excerpt else "")
        if answer.status >= 500:
            raise SinkError(f"{self.ready_url}: Loki is not ready ({said})")
        raise SinkError(f"{self.ready_url}: not Loki's readiness endpoint ({said}); LOGSHIP_LOKI_URL should be "
                        f"Loki's base URL, such as http://loki:3100", retriable=False)
