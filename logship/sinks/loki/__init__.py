"""The ``loki`` sink: batches POSTed to Grafana Loki's push API, ``{LOGSHIP_LOKI_URL}/loki/api/v1/push``.

Wire formats (``LOGSHIP_LOKI_ENCODING``):

- ``protobuf`` (default, what Promtail and Alloy send): ``logproto.PushRequest`` from Loki's
  ``pkg/push/push.proto``, written by hand (``logship.sinks.protowire``)::

      PushRequest      { repeated StreamAdapter streams = 1; }
      StreamAdapter    { string labels = 1; repeated EntryAdapter entries = 2; }
      EntryAdapter     { google.protobuf.Timestamp timestamp = 1; string line = 2;
                         repeated LabelPairAdapter structuredMetadata = 3; }
      LabelPairAdapter { string name = 1; string value = 2; }

  compressed with *raw (block)* snappy (``cramjam.snappy.compress_raw``; the framed format, which
  starts ``\\xff\\x06\\x00\\x00sNaPpY``, is unreadable to Loki), ``Content-Type: application/x-protobuf``,
  no ``Content-Encoding`` (snappy is implied).
- ``json``: ``{"streams":[{"stream":{labels},"values":[["<unix ns>","<line>",{structured metadata}]]}]}``
  (the timestamp a *string* of nanoseconds; the third element only when there is metadata), gzip
  (level 1), ``Content-Type: application/json``, ``Content-Encoding: gzip``.

What goes where, for each record:

- **labels** (the stream): the ``LOGSHIP_LOKI_LABELS`` pairs (label name, record field path); a field
  that is missing, empty or not a scalar leaves its label out. Names are sanitised to Loki's rule
  ``[a-zA-Z_][a-zA-Z0-9_]*`` (other characters become ``_``; a leading digit gets a ``_`` prefix; the
  reserved ``__`` prefix is cut to ``_``). A record left with no label at all gets
  ``service_name="unknown_service"`` (Loki refuses a stream without labels; it is Loki's own name for
  an unknown service). The label set is written in Prometheus syntax, sorted by name:
  ``{host="node-3", service_name="web"}``, values escaped as Go string literals (``\\\\``, ``\\"``,
  ``\\n``, ``\\r``, ``\\t``, other control characters as ``\\xNN``).
- **line**: the record's ``message``.
- **timestamp**: the record's ``timestamp`` (Docker's, nanoseconds kept).
- **structured metadata** (Loki 3): the other fields ``LOGSHIP_LOKI_STRUCTURED_METADATA`` names (by
  default ``container_name``, ``container_image_name``, ``swarm_task_slot``; ``all``: every one; the
  fields outside the container's metadata, ``LOGSHIP_EXTRA_FIELDS`` and ``partial``, always), each
  flattened: the dotted path joined with ``_`` and sanitised like a label name, a ``labels`` object
  read as ``label`` (``container.labels.team`` → ``container_label_team``,
  ``swarm.service.labels.tier`` → ``swarm_service_label_tier``); values as strings (numbers and
  booleans in their JSON form, empty strings and nulls left out). Fields used as labels are not
  repeated here. A parsed line (RECORD.md) adds its own, before the container's: ``detected_level``
  (``log.level``: the name Loki 3 gives the level it detects and Grafana reads), ``log_lines`` and each
  attribute under its path joined with ``_`` (a name the container's metadata or a label has is left
  to it). A label may read a per-line field (``level=log.level`` in LOGSHIP_LOKI_LABELS); none does by
  default. With ``false`` the line is instead a JSON object ``{"message": …, <the other fields,
  nested as in the record>}``, for Loki 2 or ``allow_structured_metadata: false``.

Entries are grouped by label set (one ``StreamAdapter`` per stream, streams sorted by label set) and
sorted by timestamp within a stream (stable: lines with the same timestamp keep their order).

**Long lines** (Loki refuses a line over ``max_line_size``, 256KB by default, with a 400 for that
entry): a line longer than ``LOGSHIP_LOKI_MAX_LINE_BYTES`` is *split* into parts of at most that many
bytes (cut at UTF-8 character boundaries; in the JSON-line form each part is a complete JSON object
holding a piece of the message), never truncated: nothing is lost. Each part carries ``line_part`` =
``"<n>/<count>"`` (structured metadata, or a key of the JSON line), and part *n* is stamped
``timestamp + (n - 1)`` nanoseconds, so that the parts sort in order and two identical parts are not
taken by Loki for a duplicate (Loki drops an entry whose timestamp and line equal the previous one's).

Headers: ``X-Scope-OrgID`` when ``LOGSHIP_LOKI_TENANT_ID`` is set; ``Authorization`` Basic or Bearer.

Answers (``classify``), from Loki's distributor and Promtail's client:

- 2xx (204 normally) → delivered; but a 2xx whose body says ``ingestion blocked`` (Loki's
  ``block_ingestion_until``, status 260 by default) stored nothing → rejected, dead-lettered.
- 400 → rejected, not retried: Loki validates entry by entry and *stores the valid ones* before
  answering 400 with the joined messages, so a retry would duplicate them (or loop forever on the
  invalid ones). The reason says so and carries Loki's message.
- 413 (a gateway's body limit) → rejected with ``split``.
- 401/403 → retried (credentials or a missing tenant are a configuration fault; the records stay in
  the buffer), with a hint for Loki's ``no org id``.
- 429 and every 5xx → retried (as Promtail and Alloy do), honouring ``Retry-After``; a status listed in
  ``LOGSHIP_LOKI_RETRY_STATUS`` (408 by default) is retried too.
- anything else → rejected.

Healthcheck: ``GET {url}/ready``: 200 is ready; otherwise a ``SinkError`` with Loki's text (``Ingester
not ready: …`` comes with 503 while Loki starts).
"""
