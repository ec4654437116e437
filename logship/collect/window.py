"""How much of a container's log a tailer asks dockerd for: ``tail``, the last entries only.

dockerd applies ``tail`` before ``since`` (``../shared/reference/engine-api.md`` §2), and without it finds
``since`` by decoding the log from its start: 1.5 to 1.7 s of its CPU for a 1M-line json-file log, measured
here (the reference saw 10.9 s on a busy machine), about what reading it all costs, whenever a tailer
opens a stream again (after its catch-up, at a restart of logship, when a container stops). With
``tail``, only the window is read.

**Why one entry tells whether the window is complete.** The entries a tailer has seen are a prefix of the
log (every read is sequential, and one that fails is restarted from what was stored). So when the first
entry of a tailed stream is one the tailer has seen (``LineAssembler.has_seen``: the one the skip rule
drops first), every entry after it is in the window and none is missed. When it is not, more was written
than the window holds (or the seen entries were rotated away): the stream is dropped before anything of it
is used (``WindowMissed``) and read again with a wider window.

Invariants: a tailer asks for a window only when it has seen something (``since`` is not the log's start);
a read without ``follow`` that missed is retried with a window ``GROWTH`` times wider, and after
``WIDEST`` with the whole log; a follow stream that missed makes the tailer catch up (without
``follow``) and the next follow stream is opened without a window, so a container writing faster than
the window between the two requests cannot keep the tailer switching back and forth.
"""

from __future__ import annotations

# Entries asked for first: what a container writes in the milliseconds between a catch-up and its follow
# stream, or while logship restarts, with room to spare.
FIRST = 1000
GROWTH = 16
WIDEST = FIRST * GROWTH**3  # 4,096,000 entries: past that the whole log costs about as much


class WindowMissed(Exception):
    """A tailed stream's first entry is not one the tailer has seen: entries before it may be missing."""


class Windows:
    """The ``tail`` of a tailer's next logs request (see the module docstring)."""

    __slots__ = ("_first", "_follow_whole", "_read")

    def __init__(self, first: int = FIRST) -> None:
        self._first = first
        self._read: int | None = first  # the next read without follow
        self._follow_whole = False  # the last follow stream missed: the next one reads without a window

    def next(self, follow: bool) -> int | None:
        """The ``tail`` of the next request (None: the whole log)."""
        if not follow:
            return self._read
        if self._follow_whole:
            self._follow_whole = False
            return None
        return self._first

    def missed(self, follow: bool, tail: int) -> None:
        """A request with ``tail`` missed: say what the next ones ask for."""
        if follow:
            self._follow_whole = True
        else:
            wider = tail * GROWTH
            self._read = wider if wider <= WIDEST else None

    def read_to_the_end(self) -> None:
        """A read without follow reached the end of the log: the next one starts with the first window."""
        self._read = self._first
