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

- 2xx with ``errors: false``: delivered, read from the answer's start (``{"errors":false,``) without
  parsing its items: for a 5,000-document batch that parse cost about as much as encoding it. With
  ``errors: true`` every item is read by ``status`` (never by error type name: ES says
  ``es_rejected_execution_exception`` where OpenSearch says ``rejected_execution_exception``): < 300
  delivered; **409** delivered (the document is there
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
