"""The ``http`` sink, the classify step: pure, the store's answers → Outcome.

The http sink's rows are the ones every HTTP store shares, so they live in ``logship.sinks._http``.
"""

from __future__ import annotations

from logship.sinks._http import classify_answer as classify

__all__ = ["classify"]
