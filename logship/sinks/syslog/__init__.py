"""The ``syslog`` sink: RFC 5424 messages, octet-counted over TCP or TLS, or one per UDP datagram.

Message (RFC 5424 §6), one per record::

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG

- PRI = facility * 8 + severity; facility from LOGSHIP_SYSLOG_FACILITY (default ``daemon``), severity
  the parsed ``log.level``'s (``record.SYSLOG_SEVERITY``), else the stream's: stdout → 6
  (informational), stderr → 3 (error).
- TIMESTAMP: the record's time (Docker's, UTC) with at most 6 fraction digits (RFC 5424 allows no more:
  the nanoseconds are truncated, never rounded); ``-`` when the record has none.
- HOSTNAME: ``host.name`` (the Docker node) if it is 1..255 printable US-ASCII characters, else ``-``.
- APP-NAME: ``service.name`` with every character outside printable US-ASCII replaced by ``_``, cut to 48.
- PROCID: the short container id (12 characters). MSGID: the stream (``stdout``/``stderr``).
- STRUCTURED-DATA: ``[docker@32473 container_id="…" container_name="…" image="…" service="…"
  service_namespace="…" compose_project="…" compose_service="…" swarm_service="…" swarm_service_id="…"
  swarm_task="…" swarm_task_id="…" swarm_task_slot="…" node_id="…"]`` (only the fields the record has),
  then ``[label@32473 …]`` with the container's and the Swarm service's labels and ``[fields@32473 …]``
  with any other field (flattened with dots, e.g. ``partial.ordinal`` for a cut line), then for a
  parsed line ``[log@32473 level="…" lines="N"]`` and ``[attributes@32473 …]``. Parameter names
  are made valid SD-NAMEs (printable US-ASCII but ``= ] "`` and space, at most 32), values escape ``"``,
  ``\\`` and ``]`` with a backslash. 32473 is the private enterprise number reserved for examples.
- MSG: the message as UTF-8, without BOM (rsyslog would keep the BOM in the text).
- The whole message is cut to LOGSHIP_SYSLOG_MAX_MESSAGE_BYTES at a UTF-8 character boundary *before*
  framing: a frame larger than the receiver's limit corrupts the stream (rsyslog then reads the length
  as text and loses the next message). When the header and structured data alone pass the limit, the
  label and field elements are left out, then the structured data altogether.

Transports (LOGSHIP_SYSLOG_ADDRESS):

- ``tcp://host:port``: RFC 6587 octet counting, ``MSG-LEN SP SYSLOG-MSG``, never newline framing (a
  multi-line message arrives whole). ``tls://host:port``: the same inside TLS (RFC 5425), the server
  verified with the system's CAs or LOGSHIP_SYSLOG_TLS_CA_FILE, ``server_hostname`` = host, a client
  certificate when configured. One persistent connection, opened at the first send and again after any
  failure. A failed connect or write is a RETRY (``connect``, ``tls``, ``timeout``, ``write``) and the
  shipper sends the whole batch again on a new connection: delivery is at least once, the frames written
  before the failure arrive twice. Syslog has no acknowledgements: DELIVERED means written to the
  socket; what the receiver had not processed when it died is lost. Order holds with concurrency 1 (the
  default); writes never interleave.
- ``udp://host:port``: one message per datagram, no framing (RFC 5426), cut to at most 65,507 bytes.
  Explicitly lossy: nothing tells a lost datagram, and logship says so once at start.
"""
