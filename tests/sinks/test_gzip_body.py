"""gzip_compress: standard gzip any store can read, the same bytes for the same records."""

from __future__ import annotations

import gzip
import os

from logship.sinks.gzip_body import gzip_compress


def test_bodies_are_standard_gzip_and_deterministic() -> None:
    records = b"\n".join(b'{"message":"line %d","pad":"%s"}' % (n, os.urandom(n % 50).hex().encode())
                         for n in range(5000))
    body = gzip_compress(records)
    assert body[:2] == b"\x1f\x8b"  # a gzip member (RFC 1952)
    assert gzip.decompress(body) == records
    assert gzip_compress(records) == body  # a retried request is byte-identical (mtime 0)
    assert len(body) < len(records) // 2
    assert gzip.decompress(gzip_compress(b"")) == b""
