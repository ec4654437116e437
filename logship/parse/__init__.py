"""Understanding lines: multiline events, JSON and logfmt, levels, drop and redact (issue 14).

``settings`` (global and per-container configuration), ``stage`` (one stream's lines → records, called by
``logship.collect.lines.LineAssembler``), ``joiner`` and ``detectors`` (multiline events),
``structured`` (JSON, logfmt), ``levels``, ``redact``.
"""
