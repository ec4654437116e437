"""The `file` sink: NDJSON records appended to a file, fsynced before they count as delivered.

Rotation by size: when ``PATH`` would grow past ``max_bytes``, it becomes ``PATH.1`` (``PATH.1``
becomes ``PATH.2``, …) and a new ``PATH`` starts; at most ``keep`` rotated files are kept.
Records are written whole: a rotation never splits a batch's record in two files.
"""
