"""The ``otlp`` sink, the Sink class: send, healthcheck, aclose.

The wire format and the answers are described in ``logship.sinks.otlp``.
"""

from __future__ import annotations

import logging

from logship.ship.outcome import DELIVERED, Delivered, Outcome
from logship.sinks._http import HttpTransport, TransportSink
from logship.sinks.base import Batch, SinkError
from logship.sinks.otlp.classify import PARTIAL_SUCCESS, UNREADABLE, WARNING, classify, status_message
from logship.sinks.otlp.encode import _compressed, check, encode
from logship.sinks.otlp.spec import OtlpSinkConfig

log = logging.getLogger(__package__)  # the sink's logger name: logship.sinks.otlp

LOGS_PATH = "/v1/logs"


# --- the sink ---------------------------------------------------------------------------------


def logs_url(endpoint: str) -> str:
    """``{endpoint}/v1/logs``, unless the endpoint already ends with it."""
    base = endpoint.rstrip("/")
    return base if base.endswith(LOGS_PATH) else base + LOGS_PATH


class OtlpSink(TransportSink):
    """Exports batches over OTLP/HTTP on one aiohttp session (at most ``concurrency`` connections)."""

    name = "otlp"

    def __init__(self, config: OtlpSinkConfig) -> None:
        check(config)
        self.config = config
        self.url = logs_url(config.endpoint)
        self._transport = HttpTransport(self.name, config.tls, config.timeout, config.concurrency,
                                        dict(config.headers))
        self._last_warning = ""
        self._unreadable_logged = False

    async def send(self, batch: Batch) -> Outcome:
        """Export ``batch`` and classify the answer; no answer at all becomes a RETRY."""
        if not batch.records:
            return DELIVERED
        answer = await self._transport.post_batch(self.url, encode, batch, self.config)
        if isinstance(answer, Outcome):
            return answer
        outcome = classify(answer.status, answer.headers, answer.body, self.config.retry_status,
                           records=len(batch.records))
        self._log(outcome)
        return outcome

    def _log(self, outcome: Outcome) -> None:
        """One line per batch with rejected records; collector warnings when they change; an unreadable
        answer once."""
        if not isinstance(outcome, Delivered):
            return
        if outcome.reason == PARTIAL_SUCCESS:
            log.warning("sink otlp: %s", outcome.detail)
        elif outcome.reason == WARNING and outcome.detail != self._last_warning:
            self._last_warning = outcome.detail
            log.warning("sink otlp: the collector accepted the batch with a warning: %s", outcome.detail)
        elif outcome.reason == UNREADABLE and not self._unreadable_logged:
            self._unreadable_logged = True
            log.warning("sink otlp: counted as delivered: %s (logged once)", outcome.detail)

    async def healthcheck(self) -> None:
        """POST an empty ExportLogsServiceRequest: a 2xx is healthy, anything else a SinkError."""
        body, headers = _compressed(b"{}" if self.config.encoding == "json" else b"", self.config)
        answer = await self._transport.post(self.url, body, headers)
        if isinstance(answer, Outcome):
            if answer.reason == "connect":
                raise SinkError(f"{self.url}: cannot connect: {answer.detail}")
            raise SinkError(f"{self.url}: {answer.detail}", retriable=answer.reason != "tls")
        if 200 <= answer.status < 300:
            return
        message = status_message(answer.headers, answer.body)
        said = f"HTTP {answer.status}" + (f": {message}" if message else "")
        if answer.status in (401, 403):
            raise SinkError(f"{self.url}: credentials refused ({said})", retriable=False)
        if answer.status >= 500:
            raise SinkError(f"{self.url}: the collector failed ({said})")
        hint = ""
        if answer.status == 404:
            hint = "; LOGSHIP_OTLP_ENDPOINT should be the OTLP/HTTP base URL, such as http://collector:4318"
        elif answer.status == 415:
            hint = "; try the other LOGSHIP_OTLP_ENCODING"
        raise SinkError(f"{self.url}: refused an empty export ({said}){hint}", retriable=False)
