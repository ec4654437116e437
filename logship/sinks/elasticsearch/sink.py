"""The ``elasticsearch`` sink, the Sink class: send, healthcheck, aclose.

The wire format and the answers are described in ``logship.sinks.elasticsearch``.
"""

from __future__ import annotations

from logship.ship.outcome import DELIVERED, Outcome
from logship.sinks._http import HttpTransport, TransportSink, auth_headers
from logship.sinks.base import Batch, SinkError
from logship.sinks.elasticsearch.classify import _request_error, classify
from logship.sinks.elasticsearch.encode import check_index, encode
from logship.sinks.elasticsearch.spec import ElasticsearchSinkConfig

FILTER_PATH = "errors,items.*.status,items.*.error"


def request_params(config: ElasticsearchSinkConfig) -> dict[str, str]:
    """The query parameters of every ``_bulk`` request."""
    params = {"filter_path": FILTER_PATH}
    if config.pipeline:
        params["pipeline"] = config.pipeline
    return params


# --- the sink -----------------------------------------------------------------------------------


def request_headers(config: ElasticsearchSinkConfig) -> dict[str, str]:
    """``Authorization`` from the API key, user and password, or bearer token (at most one)."""
    return auth_headers("LOGSHIP_ELASTICSEARCH_", username=config.username, password=config.password,
                        bearer_token=config.bearer_token, api_key=config.api_key)


class ElasticsearchSink(TransportSink):
    """Sends each batch as one gzip-compressed ``_bulk`` request (at most ``concurrency`` in flight)."""

    name = "elasticsearch"

    def __init__(self, config: ElasticsearchSinkConfig) -> None:
        check_index(config.index)
        self.config = config
        base = config.url.rstrip("/")
        self.bulk_url = base + "/_bulk"
        self.info_url = base + "/"
        self._params = request_params(config)
        self._transport = HttpTransport(self.name, config.tls, config.timeout, config.concurrency,
                                        request_headers(config))

    async def send(self, batch: Batch) -> Outcome:
        """POST ``batch`` to ``_bulk`` and classify the answer item by item."""
        if not batch.records:
            return DELIVERED  # ES refuses an empty bulk request
        answer = await self._transport.post_batch(self.bulk_url, encode, batch, self.config, params=self._params)
        if isinstance(answer, Outcome):
            return answer
        return classify(answer.status, answer.headers, answer.body, len(batch.records), self.config.retry_status)

    async def healthcheck(self) -> None:
        """``GET /`` (cluster info): 2xx is healthy; 401/403 and anything else raise SinkError."""
        answer = await self._transport.probe(self.info_url)
        if not 200 <= answer.status < 300:
            raise SinkError(f"{self.info_url}: {_request_error(answer.status, answer.body)}",
                            retriable=answer.status >= 500 or answer.status == 429)
