"""The ``gelf`` sink (Graylog): GELF 1.1 messages over HTTP, or null-delimited over TCP/TLS.

Message (one per record; ``encode``)::

    {"version":"1.1","host":"node-3","short_message":"multi","full_message":"multi\\nline …",
     "timestamp":1795624362.123,"level":6,"_stream":"stdout","_container_id":"6ca5…",
     "_container_name":"shop_web.1.atuvfibd6g47","_image_name":"nginx:1.27","_label_team":"shop",
     "_service_name":"web","_service_namespace":"shop","_compose_project":"shop","_compose_service":"web",
     "_swarm_service_id":"hot4…","_swarm_service_name":"shop_web","_swarm_service_label_tier":"front",
     "_swarm_task_id":"atuv…","_swarm_task_name":"shop_web.1.atuv…","_swarm_task_slot":1,
     "_swarm_node_id":"zacq…","_host_id":"zacq…"}

- ``host``: the record's ``host.name`` (the Docker node), else the container name.
- ``short_message``: the first non-blank line of the message, at most 250 characters;
  ``full_message``: the whole message, only when it differs from ``short_message`` (several lines,
  longer, or leading blank lines). Graylog refuses a blank ``short_message``: an empty line is sent
  as ``(empty line)``, with ``full_message`` "".
- ``timestamp``: Unix seconds with the milliseconds of Docker's timestamp (truncated), Graylog's
  precision, as Docker's own ``gelf`` log driver sends it.
- ``level``: the parsed ``log.level`` as a syslog severity (``record.SYSLOG_SEVERITY``); a line without
  one: 6 (informational) for stdout, 3 (error) for stderr, as Docker's ``gelf`` driver does. A parsed
  line's ``attributes`` become additional fields under their own path (``_user``, ``_db_host``; a name
  the metadata has is left to it); ``log`` gives ``_log_level`` and ``_log_lines``.
- Additional fields: every other field of the record flattened with ``_`` (``container.id`` →
  ``_container_id``), except ``container.image.name`` → ``_image_name``, ``container.labels.K`` →
  ``_label_K`` and ``swarm.service.labels.K`` → ``_swarm_service_label_K``. Names keep only
  ``[A-Za-z0-9_.-]`` (Graylog's ``^[\\w\\.\\-]*$``), ``_id`` (reserved) becomes ``__id``. Values are strings or
  numbers as GELF requires: booleans become ``"true"``/``"false"``, lists their JSON text, nulls are
  left out.

Transports, by the scheme of ``LOGSHIP_GELF_URL``:

- ``http(s)://host:12201/gelf``: one message per POST (the GELF HTTP input takes one message per
  request), ``Content-Type: application/json``, gzip when ``LOGSHIP_GELF_COMPRESSION=gzip``. A batch's
  messages are POSTed at most ``concurrency`` at a time over keep-alive connections. Answer per
  message (``classify``): 2xx (Graylog: 202 Accepted) delivered; 401/403 retried (credentials);
  a status in ``LOGSHIP_GELF_RETRY_STATUS`` retried honouring ``Retry-After``; any other (400: not valid
  GELF, 413) rejected. The first retriable answer stops the batch: what was not sent yet is retried
  with it. The batch's outcome (``combine``): DELIVERED when every message was; a plain RETRY when
  none was delivered or rejected (nothing is sent twice); else a partial outcome that resends only
  the retried messages and dead-letters the rejected ones.
- ``tcp://host:12201`` / ``tls://host:12201``: each message followed by a ``\\0`` byte on one persistent
  connection (no compression: GELF TCP has none), a batch written at once. GELF TCP has no
  acknowledgement: a batch is delivered once written and flushed to the kernel. A connection the
  server closed is noticed before writing and replaced; a failed write or connect closes it and
  gives RETRY ``connect``/``tls``/``timeout`` (the batch is written again on a new connection, so a
  connection cut in the middle of a batch can duplicate its first messages: at least once).

Healthcheck: HTTP: ``HEAD`` on the URL, any answer counts as reachable (Graylog's input answers only
POST) except 401/403, "credentials refused"; TCP/TLS: a connection opened and closed.
"""
