"""The stores' side of the end-to-end scenarios: cheap fakes that accept what each sink sends.

``python -m bench backlog --sink loki`` (or ``elasticsearch``, ``otlp``, ``clickhouse``, ``gelf``,
``syslog``) runs logship's real sink against ``bench.receiver --store <sink>``, which answers the way
the store answers a success (Loki ``204``; Elasticsearch ``{"errors":false,"items":[…]}`` with one
``{"create":{"status":201}}`` per document, which logship parses as it would parse ES's; OTLP an empty
``ExportLogsServiceResponse``; ClickHouse the ``SELECT version()`` row at start and ``200`` to the
inserts; GELF over TCP and syslog over TCP nothing, as the stores) and does nothing else that costs:
it decompresses the body (gzip, or raw snappy for Loki's protobuf) and finds the bench's lines in it
by a literal search for their padding, whatever the encoding (every sink carries the message verbatim:
JSON needs no escape for ``CCCC NNNNNNNNN xxx…``, protobuf and syslog carry its bytes), so the CPU
measured is logship's and dockerd's, not a store's. Under ``--pin`` the fake runs on the CPUs logship
runs on: what it costs is taken from logship's time, so it must stay a small part of it (under 2 µs per
Elasticsearch document: 1.6 ms decompressing a 5,000-document body and 7 ms finding its lines).

What it keeps, for the bench's check that every line arrived once: per line found, one record
``{"timestamp":"<placeholder>","message":"CCCC NNNNNNNNN"}`` in the layout ``bench.analysis`` reads
(the backlog scenario reports no latency: the placeholder time is never read).
"""

from __future__ import annotations

import re

import cramjam

try:
    from isal.isal_zlib import decompress as _gunzip
except ImportError:  # no isal wheel for this machine (logship then compresses with zlib too)
    from zlib import decompress as _gunzip

from bench.workload import PAD

STORES = ("loki", "elasticsearch", "otlp", "clickhouse", "gelf", "syslog")
SINKS = ("file", "http", *STORES)
STREAM_STORES = ("gelf", "syslog")  # TCP streams, not HTTP
# The bench's line: "CCCC NNNNNNNNN " and its padding; 16 x's make it the message and nothing else.
LINE = re.compile(rb"(\d{4} \d{9}) " + PAD[:16].encode())
_OPEN = b'{"timestamp":"0000-00-00T00:00:00.000000000Z","message":"'
_CLOSE = b'"}\n'
_SEPARATOR = _CLOSE + _OPEN
CLICKHOUSE_INFO = b'{"version":"24.8.4.13","settings":["insert_deduplication_token","async_insert"]}\n'
_ES_ITEM = b'{"create":{"status":201}}'
_PAD16 = b" " + PAD[:16].encode()
_NUMBER_BYTES = len(b"CCCC NNNNNNNNN")
_NUMBERS = re.compile(rb"(?:\d{4} \d{9}\n)*")


def logship_env(sink: str, port: int) -> dict[str, str]:
    """The variables that point logship's ``sink`` at the fake on ``port`` (defaults otherwise)."""
    base = f"http://127.0.0.1:{port}"
    return {
        "http": {"LOGSHIP_HTTP_URL": f"{base}/ingest"},
        "loki": {"LOGSHIP_LOKI_URL": base},
        "elasticsearch": {"LOGSHIP_ELASTICSEARCH_URL": base},
        "otlp": {"LOGSHIP_OTLP_ENDPOINT": base},
        "clickhouse": {"LOGSHIP_CLICKHOUSE_URL": base},
        "gelf": {"LOGSHIP_GELF_URL": f"tcp://127.0.0.1:{port}"},
        "syslog": {"LOGSHIP_SYSLOG_ADDRESS": f"tcp://127.0.0.1:{port}"},
    }[sink] | {"LOGSHIP_SINK": sink}


def decompress(body: bytes, encoding: bytes, content_type: bytes, path: bytes) -> bytes:
    """The body as the store reads it: gzip by ``Content-Encoding`` (isal's, 2.5x faster than zlib's where
    logship has it: 1.6 against 4.0 ms for a 5,000-line Elasticsearch body); Loki's protobuf is raw snappy."""
    if encoding == b"gzip":
        return _gunzip(body, 31)
    if b"protobuf" in content_type and path.startswith(b"/loki/"):
        return bytes(cramjam.snappy.decompress_raw(body))
    return body


def found(data: bytes) -> tuple[bytes, int, int]:
    """The bench's lines in ``data``: (the records to keep, how many, where the last one ends).

    The padding's first 16 bytes after a space are found by ``bytes.split`` (a fast literal search in C)
    and the 14 bytes before each taken as the numbers, checked all at once; where that check fails (a
    line cut by a stream's read, say), by the regular expression. The expression alone, which starts at
    every digit of the body, cost ~15 ns per byte: 50-80 ms for one 5,000-line Elasticsearch request,
    more than logship's own work on it, on the CPUs it shares with logship.
    """
    numbers = _numbers(data)
    if not numbers:
        return b"", 0, 0
    tail = numbers[-1] + _PAD16
    last = data.rfind(tail) + len(tail)
    return _OPEN + _SEPARATOR.join(numbers) + _CLOSE, len(numbers), last


def _numbers(data: bytes) -> list[bytes]:
    """Each bench line's ``CCCC NNNNNNNNN`` in ``data``, in order (as ``LINE.findall`` gives them)."""
    pieces = data.split(_PAD16)
    del pieces[-1]  # what follows the last padding
    numbers = [piece[-_NUMBER_BYTES:] for piece in pieces]
    # LINE matches the 14 bytes before each padding where they are numbers, whatever comes before them.
    if _NUMBERS.fullmatch(b"\n".join([*numbers, b""])):
        return numbers
    return LINE.findall(data)


def answer(store: str, method: bytes, target: bytes, body: bytes, documents: int) -> tuple[bytes, bytes, bytes]:
    """(status line, Content-Type, body) of the store's answer to a request that succeeded."""
    if store == "loki":
        return b"204 No Content", b"", b""
    if store == "elasticsearch":
        if method == b"POST" and target.startswith(b"/_bulk"):
            return b"200 OK", b"application/json", (
                b'{"errors":false,"items":[' + b",".join([_ES_ITEM] * documents) + b"]}")
        return b"200 OK", b"application/json", b'{"version":{"number":"8.15.0"},"tagline":"You Know, for Search"}'
    if store == "otlp":
        return b"200 OK", b"application/x-protobuf", b""
    if store == "clickhouse":
        if method == b"POST" and body.startswith(b"SELECT version()"):
            return b"200 OK", b"application/x-ndjson", CLICKHOUSE_INFO
        if method == b"POST" and body.startswith(b"EXISTS"):
            return b"200 OK", b"text/plain", b"1\n"
        return b"200 OK", b"text/plain", b""
    if store == "gelf":
        return b"202 Accepted", b"", b""
    return b"200 OK", b"", b""
