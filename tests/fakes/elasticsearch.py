"""A contract fake of Elasticsearch / OpenSearch for the ``elasticsearch`` sink: ``POST /_bulk`` and ``GET /``.

It checks each bulk request as ES documents it (stores.md §2) and answers as ES does:

- ``Content-Type`` must be ``application/x-ndjson`` (else 406, ES's own answer); a ``gzip``
  ``Content-Encoding`` is decoded; the body must end with ``\\n`` (else 400
  ``illegal_argument_exception``, ES's message);
- action/source line pairs; the action must be ``create`` (data streams accept nothing else; logship
  never sends another) with ``_index`` and ``_id``; the source must be a JSON object. A malformed
  request gets a whole-request 400 with ES's error shape ``{"error": {"root_cause": […], "type",
  "reason"}, "status"}``;
- per item: a source without ``@timestamp``, or with one that a ``date_nanos`` field cannot read,
  gets 400 ``document_parsing_exception`` (a data stream's answer); a ``create`` for an ``_id`` already
  in that index gets **409** ``version_conflict_engine_exception`` with ES's reason
  ``[<id>]: version conflict, document already exists (current version [1])``; otherwise the
  document is stored (``documents``, by index and ``_id``) and the item answers 201 ``created``;
- the answer is ``{"took", "errors", "items"}`` with items in request order, filtered by
  ``filter_path`` when the request has one (``items.*.status`` and the like, as ES does).

Scripting: ``fail(status, times, headers, body)`` answers the next bulk requests as a whole (429
with ``Retry-After``, 413, 401, 503…; ES-shaped bodies by default); ``fail_items({position:
ItemError})`` makes items of the next bulk request fail (429 ``es_rejected_execution_exception``, 400
``mapper_parsing_exception``…) without storing them; ``lose_responses(n)`` indexes the next ``n``
bulk requests and then drops the connection without answering (a lost response);
``require_authorization`` answers 401 ``security_exception`` (with ``WWW-Authenticate``) to any
request without exactly that ``Authorization``; ``malformed_responses(n)`` indexes and answers 200
with a body that is not JSON. ``requests`` keeps every bulk request as parsed.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import ssl
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.base import Answer, FakeServer

# What a date_nanos field with the default format (strict_date_optional_time_nanos) reads.
DATE_NANOS = re.compile(r"^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:?\d\d)?)?$")
ACTIONS = ("create", "index", "update", "delete")


@dataclass(frozen=True)
class ItemError:
    """A scripted failure of one item of a bulk request."""

    status: int
    type: str
    reason: str


REJECTED_EXECUTION = ItemError(429, "es_rejected_execution_exception",
                               "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, "
                               "replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, "
                               "max_coordinating_and_primary_bytes=1024]")
MAPPER_PARSING = ItemError(400, "mapper_parsing_exception",
                           "failed to parse field [container.labels.team] of type [long] in document with id "
                           "'x'. Preview of field's value: 'shop'")


def error_body(status: int, kind: str, reason: str, **extra: Any) -> bytes:
    """ES's error answer: ``{"error": {"root_cause": [...], "type", "reason", ...}, "status"}``."""
    cause = {"type": kind, "reason": reason, **extra}
    return orjson.dumps({"error": {"root_cause": [cause], **cause}, "status": status})


DEFAULT_BODIES = {
    401: error_body(401, "security_exception", "unable to authenticate user [logship] for REST request [/_bulk]",
                    header={"WWW-Authenticate": ["Basic realm=\"security\" charset=\"UTF-8\"", "ApiKey"]}),
    403: error_body(403, "security_exception",
                    "action [indices:data/write/bulk] is unauthorized for user [logship] with effective roles "
                    "[viewer]"),
    429: error_body(429, "es_rejected_execution_exception", "rejected execution of coordinating operation"),
    503: error_body(503, "cluster_block_exception",
                    "blocked by: [SERVICE_UNAVAILABLE/2/no master];"),
    400: error_body(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"),
}


@dataclass
class BulkRequest:
    """One bulk request as the fake parsed it, and its answer."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]
    actions: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    status: int = 0
    answer: Any = None


def filter_path(value: Any, paths: list[list[str]]) -> Any:
    """``value`` reduced to ``paths`` (dotted, ``*`` matches any key), as ES's ``filter_path`` does."""
    if isinstance(value, list):
        return [filter_path(item, paths) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        matching = [path for path in paths if path and path[0] in (key, "*")]
        if not matching:
            continue
        if any(len(path) == 1 for path in matching):
            out[key] = item
        else:
            out[key] = filter_path(item, [path[1:] for path in matching])
    return out


class BadRequest(Exception):
    """A malformed bulk request: a whole-request 400 with ES's error shape."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class FakeElasticsearch(FakeServer[Answer]):
    """The fake cluster (see the module docstring). ``async with FakeElasticsearch() as es: es.url``, what
    ``LOGSHIP_ELASTICSEARCH_URL`` should be."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None,
                 distribution: str = "elasticsearch") -> None:
        super().__init__(host, port, ssl_context)
        self.distribution = distribution
        self.documents: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[BulkRequest] = []
        self.probes: list[dict[str, str]] = []
        self._item_script: deque[dict[int, ItemError]] = deque()
        self._lose = 0
        self._malformed = 0
        self._seq_no = 0

    # --- scripting ------------------------------------------------------------------------------

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None,
             body: bytes | None = None) -> None:
        """Answer the next ``times`` bulk requests with ``status`` (ES-shaped body unless given)."""
        self.script(Answer(status, headers or {}, DEFAULT_BODIES.get(status, b"") if body is None else body), times)

    def fail_items(self, failures: dict[int, ItemError]) -> None:
        """Make the items at these positions of the next bulk request fail (they are not stored)."""
        self._item_script.append(dict(failures))

    def lose_responses(self, times: int = 1) -> None:
        """Index the next ``times`` bulk requests, then close the connection without answering."""
        self._lose += times

    def malformed_responses(self, times: int = 1) -> None:
        """Index the next ``times`` bulk requests, then answer 200 with a body that is not JSON."""
        self._malformed += times

    # --- what it holds --------------------------------------------------------------------------

    def sources(self, index: str | None = None) -> list[dict[str, Any]]:
        """The stored documents (of ``index``, or all), in the order they were indexed."""
        return [doc for (name, _), doc in self.documents.items() if index is None or name == index]

    @property
    def statuses(self) -> list[int]:
        return [request.status for request in self.requests]

    def item_statuses(self, request: int = -1) -> list[int]:
        """The status of each item of a bulk request's answer (before filter_path)."""
        answer = self.requests[request].answer
        return [next(iter(item.values()))["status"] for item in answer["items"]]

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/_bulk", self._bulk)
        app.router.add_get("/", self._info)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    # --- handlers -------------------------------------------------------------------------------

    def _refusal(self, request: web.Request) -> web.Response | None:
        if not self.unauthorized(request):
            return None
        return web.Response(status=401, body=DEFAULT_BODIES[401], content_type="application/json",
                            headers={"WWW-Authenticate": 'Basic realm="security" charset="UTF-8"'})

    async def _info(self, request: web.Request) -> web.Response:
        self.probes.append(dict(request.headers))
        refused = self._refusal(request)
        if refused is not None:
            return refused
        version = {"number": "8.15.3", "build_flavor": "default", "lucene_version": "9.11.1"}
        if self.distribution == "opensearch":
            version = {"distribution": "opensearch", "number": "2.17.0", "lucene_version": "9.11.1"}
        return web.json_response({"name": "es-1", "cluster_name": "logs", "cluster_uuid": "fake",
                                  "version": version, "tagline": "You Know, for Search"})

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.Response(status=404, content_type="application/json", body=error_body(
            404, "index_not_found_exception", f"no such index [{request.path.strip('/').split('/')[0]}]"))

    async def _bulk(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        received = BulkRequest(request.path, dict(request.query), dict(request.headers))
        self.requests.append(received)
        response = self._refusal(request)
        scripted = self.next_scripted() if response is None else None
        if scripted is not None:
            with contextlib.suppress(BadRequest):  # noted, not indexed
                for action, source in self._parse(body, request.headers.get("Content-Encoding", "")):
                    received.actions.append(action)
                    received.sources.append(source)
            response = web.Response(status=scripted.status, headers=scripted.headers, body=scripted.body,
                                    content_type="application/json")
        if response is None:
            response = self._index(request, body, received)
        received.status = response.status
        if self._lose and response.status == 200:
            self._lose -= 1
            assert request.transport is not None
            request.transport.close()  # indexed, but the answer never arrives
            return response
        if self._malformed and response.status == 200:
            self._malformed -= 1
            return web.Response(status=200, text="<html>502 from a proxy, disguised as 200</html>")
        return response

    def _index(self, request: web.Request, body: bytes, received: BulkRequest) -> web.Response:
        content_type = request.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() != "application/x-ndjson":
            return web.json_response({"error": f"Content-Type header [{content_type}] is not supported",
                                      "status": 406}, status=406)
        try:
            pairs = self._parse(body, request.headers.get("Content-Encoding", ""))
        except BadRequest as exc:
            return web.Response(status=400, body=error_body(400, exc.kind, exc.reason), content_type="application/json")
        started = time.monotonic()
        failures = self._item_script.popleft() if self._item_script else {}
        items = []
        for position, (action, source) in enumerate(pairs):
            received.actions.append(action)
            received.sources.append(source)
            items.append({"create": self._create(action["create"], source, failures.get(position))})
        answer = {"took": int((time.monotonic() - started) * 1000),
                  "errors": any("error" in item["create"] for item in items), "items": items}
        received.answer = answer
        shown: Any = answer
        if "filter_path" in request.query:
            shown = filter_path(answer, [path.split(".") for path in request.query["filter_path"].split(",")])
        return web.json_response(shown)

    def _parse(self, body: bytes, encoding: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        encoding = encoding.strip().lower()
        if encoding == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as exc:
                raise BadRequest("parse_exception", f"cannot decode the gzip body: {exc}") from None
        elif encoding not in ("", "identity"):
            raise BadRequest("illegal_argument_exception", f"unsupported Content-Encoding [{encoding}]")
        if not body.endswith(b"\n"):
            raise BadRequest("illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
        lines = body[:-1].split(b"\n")
        if len(lines) % 2:
            raise BadRequest("illegal_argument_exception", "fake: a create action without its source line")
        pairs = []
        for number in range(0, len(lines), 2):
            try:
                action = orjson.loads(lines[number])
            except orjson.JSONDecodeError:
                raise BadRequest("x_content_parse_exception",
                                 f"Malformed action/metadata line [{number + 1}]: not JSON") from None
            if not isinstance(action, dict) or len(action) != 1:
                raise BadRequest("illegal_argument_exception",
                                 f"Malformed action/metadata line [{number + 1}], expected START_OBJECT")
            name, meta = next(iter(action.items()))
            if name not in ACTIONS:
                raise BadRequest("illegal_argument_exception",
                                 f"Malformed action/metadata line [{number + 1}], expected field [create], "
                                 f"[delete], [index] or [update] but found [{name}]")
            if name != "create":
                raise BadRequest("illegal_argument_exception",
                                 f"fake: line [{number + 1}] is [{name}]: data streams accept only create")
            if not isinstance(meta, dict) or not meta.get("_index"):
                raise BadRequest("action_request_validation_exception", "Validation Failed: 1: index is missing;")
            if not meta.get("_id"):
                raise BadRequest("illegal_argument_exception",
                                 f"fake: line [{number + 1}] has no _id: retries would duplicate documents")
            try:
                source = orjson.loads(lines[number + 1])
            except orjson.JSONDecodeError:
                raise BadRequest("x_content_parse_exception",
                                 f"line [{number + 2}]: the source is not JSON") from None
            if not isinstance(source, dict):
                raise BadRequest("mapper_parsing_exception", f"line [{number + 2}]: the source is not an object")
            pairs.append((action, source))
        return pairs

    def _create(self, meta: dict[str, Any], source: dict[str, Any], failure: ItemError | None) -> dict[str, Any]:
        index, doc_id = meta["_index"], meta["_id"]
        item: dict[str, Any] = {"_index": index, "_id": doc_id}
        error = None
        if failure is not None:
            error = (failure.status, {"type": failure.type, "reason": failure.reason})
        elif "@timestamp" not in source:
            error = (400, {"type": "document_parsing_exception",
                           "reason": "[1:2] failed to parse: data stream timestamp field [@timestamp] is missing"})
        elif not (isinstance(source["@timestamp"], str) and DATE_NANOS.match(source["@timestamp"])):
            error = (400, {"type": "document_parsing_exception",
                           "reason": f"[1:15] failed to parse field [@timestamp] of type [date_nanos] in document "
                                     f"with id '{doc_id}'. Preview of field's value: '{source['@timestamp']}'"})
        elif (index, doc_id) in self.documents:
            error = (409, {"type": "version_conflict_engine_exception",
                           "reason": f"[{doc_id}]: version conflict, document already exists (current version [1])",
                           "index_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, index)), "shard": "0",
                           "index": index})
        if error is not None:
            item.update(status=error[0], error=error[1])
            return item
        self.documents[(index, doc_id)] = source
        self._seq_no += 1
        item.update(_version=1, result="created", _shards={"total": 2, "successful": 1, "failed": 0},
                    _seq_no=self._seq_no, _primary_term=1, status=201)
        return item
