"""The ``http`` sink, the encode step: pure functions that turn records into the request body.

The wire format and the answers are described in ``logship.sinks.http``.
"""

from __future__ import annotations

from types import ModuleType

from logship.sinks.base import Batch, SinkError
from logship.sinks.gzip_body import gzip_compress

COMPRESSIONS = ("none", "gzip", "zstd")
_ZSTD_LEVEL = 3


def _zstandard() -> ModuleType:
    try:
        import zstandard
    except ImportError as exc:
        raise SinkError("LOGSHIP_HTTP_COMPRESSION=zstd needs the optional `zstandard` package "
                        "(pip install zstandard), or choose gzip", retriable=False) from exc
    return zstandard


def check_compression(compression: str) -> None:
    """Raise SinkError (not retriable) when ``compression`` is unknown or its module is missing."""
    if compression not in COMPRESSIONS:
        raise SinkError(f"unknown compression {compression!r}: expected one of {', '.join(COMPRESSIONS)}",
                        retriable=False)
    if compression == "zstd":
        _zstandard()


def encode(batch: Batch, compression: str) -> tuple[bytes, dict[str, str]]:
    """The request body and its content headers for ``batch`` (see the module docstring)."""
    body = b"\n".join([*batch.records, b""])
    headers = {"Content-Type": "application/x-ndjson"}
    if compression == "gzip":
        body = gzip_compress(body)
        headers["Content-Encoding"] = "gzip"
    elif compression == "zstd":
        body = _zstandard().ZstdCompressor(level=_ZSTD_LEVEL).compress(body)
        headers["Content-Encoding"] = "zstd"
    elif compression != "none":
        check_compression(compression)
    return body, headers
