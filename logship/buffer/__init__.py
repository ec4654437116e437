"""The crash-safe, bounded disk buffer: segment files of length+CRC framed records, one ledger per sink.

See ``disk_buffer`` for the on-disk layout and its invariants, ``segment`` for the framing,
``ledger`` for the ledger files and ``recovery`` for what happens at start-up.
"""

from logship.buffer.disk_buffer import BufferClosedError, BufferReader, DiskBuffer, ReadChunk

__all__ = ["BufferClosedError", "BufferReader", "DiskBuffer", "ReadChunk"]
