"""The crash-safe, bounded disk buffer: segment files of length+CRC framed records, one ledger per sink.

See ``disk_buffer`` for the on-disk layout, the parts and the invariants of the whole, ``segment`` for
the framing, ``ledger`` for the ledger files and ``recovery`` for what happens at start-up.
"""

from logship.buffer.cursor import ReadChunk
from logship.buffer.disk_buffer import BufferClosedError, DiskBuffer
from logship.buffer.reader import BufferReader

__all__ = ["BufferClosedError", "BufferReader", "DiskBuffer", "ReadChunk"]
