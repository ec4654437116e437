"""The ``file`` sink, the encode step: pure functions that turn records into the request body.

The wire format and the answers are described in ``logship.sinks.file``.
"""

from __future__ import annotations

from logship.sinks.base import Batch

# The kernel copies one big write into the page cache much more slowly than the same bytes in pieces
# that stay in the CPU cache: a 6 MiB batch written at once cost 3x the system time of 1,000-record
# pieces (measured here: 0.7-1.2 against 0.35 µs per 600-byte record, write + fsync).
WRITE_PIECE_BYTES = 512 * 1024


def encode(batch: Batch) -> list[bytes]:
    """NDJSON, one record per line, in pieces of about WRITE_PIECE_BYTES (each ends with a newline)."""
    records = batch.records
    step = max(1, len(records) * WRITE_PIECE_BYTES // max(batch.nbytes, 1))
    # The empty last element gives the final newline without copying the piece again.
    return [b"\n".join([*records[start:start + step], b""]) for start in range(0, len(records), step)]
