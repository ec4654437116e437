"""The ``elasticsearch`` sink: Elasticsearch or OpenSearch ``_bulk``, ``create`` with a deterministic ``_id``.

Wire format (one request per batch)::

    POST {url}/_bulk?filter_path=errors,items.*.status,items.*.error[&pipeline=P]
    Content-Type: application/x-ndjson
    Content-Encoding: gzip
    Authorization: ApiKey <id:key base64> | Basic <user:pass base64> | Bearer <token>   (optional)

    {"create":{"_index":"logs-docker-default","_id":"Jk3v…(22 chars)"}}
    {"@timestamp":"2026-11-25T16:32:42.123456789Z","message":"GET /health 200","stream":"stdout",…}
    …                                              (every line ends with "\\n", the last one too)

- **Action** ``create`` only: data streams accept nothing else, and together with a deterministic
  ``_id`` it makes retries idempotent (a document already there answers 409, counted as delivered).
- **``_index``**: ``LOGSHIP_ELASTICSEARCH_INDEX`` (default the data stream ``logs-docker-default``,
  which ES's built-in ``logs-*-*`` template creates). With strftime ``%`` patterns
  (``docker-%Y.%m.%d``) it is formatted per record with the UTC time of the record's *own*
  timestamp, never the time of sending, so a retried record goes to the same index as before.
- **Document**: the record as it is, its ``timestamp`` renamed ``@timestamp`` (the ECS name, the one
  field data streams require) and its 9 fraction digits kept, which a ``date_nanos`` mapping stores
  exactly and a ``date`` mapping truncates to milliseconds. The other fields are ECS-style already
  (``message``, ``container.*``, ``service.*``, ``host.*``) and are not renamed; so are the parsed
  ``log.level``/``log.lines`` and the ``attributes`` object (map it ``flattened`` against a mapping
  explosion: docs/sinks/elasticsearch.md says why and how).
- **``_id``**: ``base64url(blake2b-128(container.id ␟ stream ␟ timestamp ␟ partial.ordinal ␟ message))``
  without padding, 22 characters (␟ is the unit separator U+001F). Stable across retries and restarts
  (only the line's own data goes in, never metadata that enrichment or configuration could change),
  distinct for distinct lines:
  dockerd gives each line of a stream its own nanosecond timestamp; the parts of a line cut at
  ``LOGSHIP_MAX_LINE_BYTES`` share one and differ by ``partial.ordinal``; the message hash guards against
  equal timestamps anyway (a coarse clock), so only a byte-identical line at the same nanosecond of the
  same container stream would collapse into one document. An ordinal among equal timestamps *within
  the batch* is deliberately not used: a resend of only some items would renumber them and collide
  with documents already stored (a 409 taken for success: a lost line).
- ``filter_path`` keeps ES from echoing ``_index``/``_id``/``_shards`` for every item: only ``status``
  and ``error`` are read, items come back in request order.

Answers (``classify``):

- 2xx with ``errors: false``: delivered. With ``errors: true`` every item is read by ``status``
  (never by error type name: ES says ``es_rejected_execution_exception`` where OpenSearch says
  ``rejected_execution_exception``): < 300 delivered; **409** delivered (the document is there
  already: an earlier attempt whose answer was lost); **429, 5xx** sent again, only those items;
  **401/402/403** sent again as well (privileges, a quota or a read-only block of the index:
  the cluster's state, not the record's fault; dead-lettering would throw away every record until
  someone fixes it); any other 4xx (``mapper_parsing_exception`` 400, …) dead-lettered with
  ``error.type: error.reason``. When every item is to be sent again, the outcome is a plain RETRY
  ``http_<status>`` of the first of them.
- 2xx whose body is not the bulk answer (not JSON, no ``errors``, a wrong number of items): RETRY
  ``malformed``. Some items may have been indexed; sending them again is safe, because ``create``
  with the same ``_id`` answers 409 for those, which counts as delivered.
- 413: REJECTED with ``split`` (``http.max_content_length``, 100mb by default). 429, 5xx and
  ``LOGSHIP_ELASTICSEARCH_RETRY_STATUS``: RETRY honouring ``Retry-After``. 402 (OpenSearch
  Serverless' ``service_quota_exceeded_exception``, transient): RETRY. 401/403: RETRY (credentials,
  as in the ``http`` sink). Any other status: REJECTED with ES's ``error.type: error.reason``.
- No answer (refused, reset, TLS, timeout): RETRY ``connect``/``tls``/``timeout`` (``HttpTransport``).

Healthcheck: ``GET {url}/`` (cluster info): 2xx is healthy; 401/403 "credentials refused".
"""

from __future__ import annotations

import re
from base64 import urlsafe_b64encode as _b64
from collections.abc import Mapping
from datetime import UTC, datetime
from hashlib import blake2b as _blake2b
from typing import Any

import orjson

from logship.config import ElasticsearchSinkConfig
from logship.record import RECORD_OPEN, Reader
from logship.ship.outcome import DELIVERED, Outcome, partial, retry
from logship.sinks.base import Batch, SinkError
from logship.sinks.gzip_body import gzip_compress
from logship.sinks.http import body_excerpt
from logship.sinks.transport import HttpTransport, auth_headers, classify_status, encode_off_loop, status_said
from logship.timestamps import utc_second

FILTER_PATH = "errors,items.*.status,items.*.error"
CONTENT_TYPE = "application/x-ndjson"
_REASON_CHARS = 300
_DOCUMENT_OPEN = b'{"@timestamp":"'  # the record's RECORD_OPEN with the first key renamed
# What ES refuses in an index name (besides upper case and a leading -, _ or +).
_INDEX_FORBIDDEN = re.compile(r'[\\/*?"<>| ,#:]')
RETRY_ITEM_STATUSES = frozenset({401, 402, 403, 429})


# --- encode -------------------------------------------------------------------------------------


def _id_text(container_id: Any, stream: Any, timestamp: Any, ordinal: Any, message: Any) -> str:
    return f"{container_id}\x1f{stream}\x1f{timestamp}\x1f{'' if ordinal is None else ordinal}\x1f{message}"


def document_id(container_id: str, stream: str, timestamp: str, ordinal: int | None, message: str) -> str:
    """The ``_id`` of one line (see the module docstring): 22 URL-safe base64 characters."""
    key = _id_text(container_id, stream, timestamp, ordinal, message)
    return _b64(_blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest())[:22].decode("ascii")


def is_dated(index: str) -> bool:
    """Whether the index setting has strftime patterns (``%%`` is a literal ``%``)."""
    return "%" in index.replace("%%", "")


class IndexNames:
    """The ``_index`` of each record: a constant, or the pattern formatted with the record's UTC time.

    Formatting is cached per second of timestamp (a batch spans few of them); the result is lower-cased,
    because ES index names must be (``%b`` would give ``Nov``).
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.dated = is_dated(pattern)
        self._cache: dict[str, bytes] = {}

    def json(self, timestamp: Any) -> bytes:
        """The index name as a JSON string (bytes) for the record with ``timestamp``."""
        if not self.dated:
            cached = self._cache.get("")
            if cached is None:
                cached = self._cache[""] = orjson.dumps(self.pattern)
            return cached
        key = timestamp[:19] if isinstance(timestamp, str) and timestamp.endswith("Z") else timestamp
        cached = self._cache.get(key) if isinstance(key, str) else None
        if cached is None:
            when = utc_second(timestamp) if isinstance(timestamp, str) else None
            # A record always carries Docker's timestamp; without one (a bug elsewhere) "now" is the best guess.
            cached = orjson.dumps(format_index(self.pattern, when or datetime.now(UTC)))
            if isinstance(key, str):
                self._cache[key] = cached
        return cached


def format_index(pattern: str, when: datetime) -> str:
    """``pattern`` with its strftime patterns formatted for ``when`` (UTC), lower-cased."""
    return when.astimezone(UTC).strftime(pattern).lower() if is_dated(pattern) else pattern


def check_index(pattern: str) -> None:
    """Raise SinkError (not retriable) when ES would refuse the index names ``pattern`` gives."""
    sample = format_index(pattern, datetime(2026, 11, 25, 16, 32, 42, tzinfo=UTC))
    problem = None
    if sample != sample.lower():
        problem = "must be lower case"
    elif sample[:1] in ("-", "_", "+") or sample in (".", ".."):
        problem = "must not start with -, _ or +, nor be . or .."
    elif _INDEX_FORBIDDEN.search(sample):
        problem = 'must not contain \\ / * ? " < > | , # : or spaces'
    elif len(sample.encode()) > 255:
        problem = "must be at most 255 bytes"
    if problem:
        raise SinkError(f"LOGSHIP_ELASTICSEARCH_INDEX={pattern!r}: an Elasticsearch index or data stream name "
                        f"{problem} (gives {sample!r})", retriable=False)


def _renamed(record: bytes, fields: dict[str, Any]) -> bytes:
    """The document of a record whose ``timestamp`` does not come first: rebuilt with ``@timestamp`` first."""
    if "timestamp" not in fields:
        return record  # nothing to rename: ES says what is missing, for this item alone
    document = {"@timestamp": fields["timestamp"]}
    document.update((key, value) for key, value in fields.items() if key != "timestamp")
    return orjson.dumps(document)


def _id_parts(shared: dict[str, Any]) -> tuple[Any, Any]:
    """(container id, stream) of the ``_id``, from the fields a container's lines share."""
    container = shared.get("container")
    return container.get("id", "") if type(container) is dict else "", shared.get("stream", "")


def bulk_lines(batch: Batch, index: str) -> bytes:
    """The uncompressed NDJSON ``_bulk`` body for ``batch`` (see the module docstring).

    The hot loop of the sink (5,000 records in a few milliseconds): the record's per-line head is read
    for the ``_id`` (the container's part once per batch); the document is the record's own bytes with
    the first key renamed.
    """
    names = IndexNames(index)
    constant_index = None if names.dated else names.json(None)
    read = Reader().read
    lines: list[bytes] = []
    append = lines.append
    prefix, prefix_length = RECORD_OPEN, len(RECORD_OPEN)
    for record in batch.records:
        line = read(record)
        if line.undecodable:
            # Not a record (a bug elsewhere): sent as a bare message, which ES refuses for that item alone
            # (no @timestamp), so it is dead-lettered instead of blocking the sink.
            record = orjson.dumps(line.head)
        shared = line.shared
        if shared.encoded is None:
            shared.encoded = _id_parts(shared.fields)
        container_id, stream = shared.encoded
        head = line.head
        part = head.get("partial")
        key = _id_text(container_id, stream, head.get("timestamp", ""),
                       part.get("ordinal") if type(part) is dict else None, head.get("message", ""))
        digest = _blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        index_json = constant_index or names.json(head.get("timestamp"))
        append(b'{"create":{"_index":%b,"_id":"%b"}}' % (index_json, _b64(digest)[:22]))
        append(_DOCUMENT_OPEN + record[prefix_length:] if record.startswith(prefix)
               else _renamed(record, line.fields()))
    append(b"")
    return b"\n".join(lines)


def encode(batch: Batch, config: ElasticsearchSinkConfig) -> tuple[bytes, dict[str, str]]:
    """The gzip-compressed ``_bulk`` body for ``batch`` and its content headers."""
    body = gzip_compress(bulk_lines(batch, config.index))
    return body, {"Content-Type": CONTENT_TYPE, "Content-Encoding": "gzip"}


def request_params(config: ElasticsearchSinkConfig) -> dict[str, str]:
    """The query parameters of every ``_bulk`` request."""
    params = {"filter_path": FILTER_PATH}
    if config.pipeline:
        params["pipeline"] = config.pipeline
    return params


# --- classify -----------------------------------------------------------------------------------


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_CHARS else text[:_REASON_CHARS] + "…"


def error_text(error: Any) -> str:
    """``type: reason`` of an ES error object (its ``caused_by`` too), or the error as text."""
    if isinstance(error, dict):
        kind, reason = error.get("type"), error.get("reason")
        text = f"{kind}: {reason}" if kind and reason else str(kind or reason or error)
        cause = error.get("caused_by")
        if isinstance(cause, dict) and (cause.get("type") or cause.get("reason")):
            text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
        return _shorten(text)
    return _shorten(str(error))


def _request_error(status: int, body: bytes) -> str:
    """``http 400: type: reason`` from ES's ``{"error": {...}, "status": 400}``, else a body excerpt."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and answer.get("error"):
        return f"http {status}: {error_text(answer['error'])}"
    return status_said(status, body_excerpt(body))


def classify(status: int, headers: Mapping[str, str], body: bytes, count: int,
             retry_status: frozenset[int] = frozenset()) -> Outcome:
    """The Outcome of ES's answer to a ``_bulk`` request of ``count`` documents (module docstring)."""
    if 200 <= status < 300:
        return _classify_items(body, count)
    return classify_status(status, headers, _request_error(status, body), retry_status,
                           retriable=status in (402, 429) or status >= 500)


def _malformed(detail: str, body: bytes) -> Outcome:
    return retry("malformed", detail=f"{detail}; sending again is safe (create with the same _id answers 409 for "
                                     f"what was indexed): {body_excerpt(body)}")


def _classify_items(body: bytes, count: int) -> Outcome:
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _malformed("the bulk answer is not JSON", body)
    if not isinstance(answer, dict) or not isinstance(answer.get("errors"), bool):
        return _malformed("the bulk answer has no `errors`", body)
    if not answer["errors"]:
        return DELIVERED
    items = answer.get("items")
    if not isinstance(items, list) or len(items) != count:
        got = len(items) if isinstance(items, list) else "no"
        return _malformed(f"the bulk answer has {got} items for {count} documents", body)
    retry_items: list[int] = []
    rejected_items: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        result = next(iter(item.values()), None) if isinstance(item, dict) and len(item) == 1 else None
        item_status = result.get("status") if isinstance(result, dict) else None
        if not isinstance(item_status, int):
            return _malformed(f"item {index} of the bulk answer has no status", body)
        if item_status < 300 or item_status == 409:
            continue  # 409 on create: the document is there already (an attempt whose answer was lost)
        if item_status in RETRY_ITEM_STATUSES or item_status >= 500:
            retry_items.append(index)
        else:
            rejected_items.append((index, error_text(result.get("error") or f"status {item_status}")))
    if not retry_items and not rejected_items:
        return DELIVERED
    if len(retry_items) == count:
        # Nothing passed (every item rejected for load, say): a plain retry, labelled like a whole-request one.
        first = items[retry_items[0]]
        status = next(iter(first.values()))["status"]
        return retry(f"http_{status}", detail=f"every item answered {status}, such as "
                                              f"{error_text(next(iter(first.values())).get('error'))}")
    return partial(tuple(retry_items), tuple(rejected_items))


# --- the sink -----------------------------------------------------------------------------------


def request_headers(config: ElasticsearchSinkConfig) -> dict[str, str]:
    """``Authorization`` from the API key, user and password, or bearer token (at most one)."""
    return auth_headers("LOGSHIP_ELASTICSEARCH_", username=config.username, password=config.password,
                        bearer_token=config.bearer_token, api_key=config.api_key)


class ElasticsearchSink:
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

    async def start(self) -> None:
        """Open the session (TLS files are loaded here)."""
        await self._transport.start()

    async def send(self, batch: Batch) -> Outcome:
        """POST ``batch`` to ``_bulk`` and classify the answer item by item."""
        if not batch.records:
            return DELIVERED  # ES refuses an empty bulk request
        body, headers = await encode_off_loop(encode, batch, self.config)
        answer = await self._transport.post(self.bulk_url, body, headers, params=self._params)
        if isinstance(answer, Outcome):
            return answer
        return classify(answer.status, answer.headers, answer.body, len(batch.records), self.config.retry_status)

    async def healthcheck(self) -> None:
        """``GET /`` (cluster info): 2xx is healthy; 401/403 and anything else raise SinkError."""
        answer = await self._transport.probe(self.info_url)
        if not 200 <= answer.status < 300:
            raise SinkError(f"{self.info_url}: {_request_error(answer.status, answer.body)}",
                            retriable=answer.status >= 500 or answer.status == 429)

    async def aclose(self) -> None:
        """Close the session and its connections."""
        await self._transport.aclose()
