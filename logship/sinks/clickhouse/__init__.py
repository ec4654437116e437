"""The ``clickhouse`` sink: each batch is one ``INSERT INTO db.table FORMAT JSONEachRow`` over HTTP.

Wire format: ``POST <LOGSHIP_CLICKHOUSE_URL>?query=INSERT INTO `db`.`table` FORMAT JSONEachRow
&input_format_skip_unknown_fields=1[&insert_deduplication_token=<hash>][&async_insert=0]``; the body is
one JSON object per line (the last line too ends with ``\\n``), gzip level 1 with ``Content-Encoding:
gzip`` (every server decompresses a request body without ``enable_http_compression``, which only
governs responses: checked on 18.16). Authentication: ``Authorization: Basic`` from
LOGSHIP_CLICKHOUSE_USER / _PASSWORD (ClickHouse 18.16 and later accept it). One batch is one insert,
and ClickHouse inserts it atomically (one block: up to ``max_insert_block_size``, 1,048,576 rows).

Row layouts (``LOGSHIP_CLICKHOUSE_SCHEMA``), each the column list of a shipped table definition, every
column always sent (18.16 fills a missing column with its type's default, not the DDL's DEFAULT):

- ``compat`` (``configs/clickhouse/compat.sql``: 18.16 has no Map, DateTime64 or TTL): ``Timestamp``
  Unix seconds (a JSON integer: time-zone free) plus ``TimestampNs`` (0..999,999,999), ``EventDate`` (UTC
  day, the partition), one String column per metadata field, ``LabelKeys``/``LabelValues`` (the
  container's labels) and ``AttributeKeys``/``AttributeValues`` (every other field, flattened with dots).
- ``modern`` (``configs/clickhouse/modern.sql``, OpenTelemetry exporter style): ``Timestamp`` as the
  string ``"<seconds>.<9 digits>"`` (DateTime64(9) overflows on a nanosecond integer), ``TimestampTime``,
  ``ResourceAttributes`` (OpenTelemetry names) and ``LogAttributes`` as JSON objects (Map columns).
- ``auto``: ``SELECT version()`` at start; ``modern`` from 22.3 on (MODERN_MIN_VERSION), else ``compat``.

Severity: ``SeverityText``/``SeverityNumber`` are the parsed ``log.level`` (upper case; OpenTelemetry's
numbers, ``record.OTLP_SEVERITY``); a line without a level takes the stream's (stdout → INFO/9, stderr →
ERROR/17), the convention of Google Cloud Logging's agent; the ``Stream`` column keeps the fact itself.
A parsed line's ``attributes`` (and ``log.lines``) go to ``LogAttributes`` / ``AttributeKeys``+``Values``
under their own dotted paths, after the container's fields (a name those have is left to them).
A record that is not a JSON object (never made by the collector) is stored with its text as ``Body``
and ``logship.error`` among the attributes.

Deduplication: ``insert_deduplication_token`` (a SHA-256 of the batch's compressed body, the same bytes
for the same records) is sent only when the server has that setting (looked up in ``system.settings`` at
start: ClickHouse refuses unknown settings, 18.16 with ``Code: 115``). A resent batch (after a timeout
whose insert did land) is then dropped by the server, within the table's
``non_replicated_deduplication_window`` (modern.sql sets 1000) or ``replicated_deduplication_window``.
``async_insert=0`` is sent where it exists, so that the token and the batch stay one insert. Without
either (compat on old servers) delivery is at least once.

Answers (``classify``): the ``Code: N`` in the body (or ``X-ClickHouse-Exception-Code``) decides, not the
status alone (18.16 answers 500 to a parse error, 404 to an unknown table):

- 2xx: delivered;
- a row ClickHouse cannot take (parse/type/range codes, DATA_CODES): rejected with ``split``: one bad
  row fails the whole insert, so the shipper bisects until the bad row alone is dead-lettered;
- credentials (192, 193, 194, 195, 497, 516): retried, reason ``auth``, "credentials refused" (a
  configuration fault: dead-lettering would throw every record away until someone fixes it);
- table or database missing (60, 81), or another configuration fault (CONFIG_CODES): retried, with what
  to do in the detail (with LOGSHIP_CLICKHOUSE_CREATE_TABLE the table is created again first);
- overload and transient faults (TRANSIENT_CODES: 241 memory, 252 too many parts, timeouts…): retried;
- no code (a proxy, a server that died): as the ``http`` sink: 413 split, 401/403 and the statuses in
  LOGSHIP_CLICKHOUSE_RETRY_STATUS retried (Retry-After honoured), others rejected;
- another code: retried if its status is in LOGSHIP_CLICKHOUSE_RETRY_STATUS, else rejected.
No answer at all: ``connect``, ``tls`` or ``timeout`` retry (HttpTransport).
"""
