"""The ``otlp`` sink: OTLP/HTTP logs, POSTed to ``{LOGSHIP_OTLP_ENDPOINT}/v1/logs``.

Wire formats (``LOGSHIP_OTLP_ENCODING``), both an ``ExportLogsServiceRequest``:

- ``protobuf`` (default): written on the wire by hand in one pass over the batch
  (``logship.sinks.otlp.protobuf``, ``encode.export_request``), the bytes the ``opentelemetry-proto``
  classes would give, ``Content-Type: application/x-protobuf``;
- ``json``: OTLP/JSON, written directly with orjson because protobuf's ``MessageToDict`` gets it wrong
  (base64 ids, enum names): lowerCamelCase keys, 64-bit integers (``timeUnixNano``, ``intValue``) as
  decimal strings, enums as integers, ids in hex; ``Content-Type: application/json``.

The body is gzipped (level 1, ``Content-Encoding: gzip``) unless ``LOGSHIP_OTLP_COMPRESSION=none``;
``LOGSHIP_OTLP_HEADERS`` are sent with every request (``Authorization`` goes there).

One ``ResourceLogs`` per distinct resource (in practice per container), with one ``ScopeLogs`` (scope
``logship``, its version) holding the container's records in batch order. Resource attributes, by the
OpenTelemetry semantic conventions where they exist:

================================  =================================================================
record field                      resource attribute
================================  =================================================================
``service.name``/``.namespace``   ``service.name``, ``service.namespace``
``host.name``, ``host.id``        ``host.name``, ``host.id``
``container.id``, ``.name``       ``container.id`` (64 hex), ``container.name``
``container.image.name``          ``nginx:1.27@sha256:…`` → ``container.image.name`` ``nginx``,
                                  ``container.image.tags`` ``["1.27"]`` (only when tagged),
                                  ``container.image.repo_digests`` ``["nginx@sha256:…"]`` (only with a
                                  digest); an image given by id (``sha256:…``) → ``container.image.id``
(always)                          ``container.runtime`` and ``container.runtime.name`` = ``docker``
                                  (the older and the current semconv name)
``container.labels.<k>``          ``container.label.<k>``
``compose.<k>``                   ``docker.compose.<k>`` (``project``, ``service``)
``swarm.<path>``                  ``docker.swarm.<path>``, ``labels`` read as ``label``:
                                  ``docker.swarm.service.id``/``.name``/``.label.<k>``,
                                  ``docker.swarm.task.id``/``.name``/``.slot`` (int),
                                  ``docker.swarm.node.id`` (no semconv exists for Swarm)
================================  =================================================================

Each log record: ``timeUnixNano`` = the Docker timestamp in nanoseconds, ``observedTimeUnixNano`` = the
time of encoding, ``body`` = ``{stringValue: message}``, attribute ``log.iostream`` = ``stdout`` or
``stderr``; ``severityNumber``/``severityText`` from the parsed ``log.level`` (``record.OTLP_SEVERITY``,
the level in upper case), unset without one. Any other field of the record (``LOGSHIP_EXTRA_FIELDS``,
``partial``) becomes a log-record attribute under its dotted path (``partial`` as
``logship.partial.ordinal``/``.last``), then ``log.lines`` of a joined event and a parsed line's
``attributes`` under their own dotted paths. Values keep their JSON type: string, int (``intValue``),
double, bool, array.

Answers (``classify``), per the OTLP/HTTP specification:

- 2xx → delivered. With ``partialSuccess.rejectedLogRecords`` = N > 0 the collector dropped N records
  for good and the client must not retry them; OTLP does not say *which*. When N covers the whole
  batch, the batch is rejected (dead-lettered: every record was refused). Otherwise the batch counts as
  delivered and the sink logs one WARNING for the batch with N and the collector's ``errorMessage``:
  dead-lettering the whole batch would file records that were stored, and picking N of them would be a
  guess. ``partialSuccess`` with 0 rejected is a warning from the collector: delivered, logged when the
  message changes. A 2xx body that is neither valid protobuf nor JSON: delivered (the collector said
  so), logged once.
- 413 → rejected with ``split`` (the payload is not retried as it is: its halves are new payloads).
- 401/403 → retried (credentials are a configuration fault; the records stay in the buffer), as every
  logship sink does; the OTLP spec would call them final.
- a status in ``LOGSHIP_OTLP_RETRY_STATUS`` (default the spec's ``429,502,503,504``) → retried,
  honouring ``Retry-After``.
- any other status, 400 and 500 included → rejected (the spec says not to retry), with the
  ``google.rpc.Status`` message of the body.

Healthcheck: an empty ``ExportLogsServiceRequest`` (valid per the spec) POSTed like a batch; any 2xx is
healthy.
"""
