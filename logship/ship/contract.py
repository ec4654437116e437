"""The contract between a shipper and its sink: the batch it hands over and the interface it drives.

A record is one NDJSON object (bytes, no trailing newline) laid out as ``logship.record`` documents;
sinks that need its fields read it with ``logship.record.Reader`` (one per batch). The sinks implement
``Sink`` (``logship.sinks``); the shipper (``logship.ship.shipper``) depends on this module only, never on
a sink package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from logship.ship.outcome import Outcome


@dataclass(slots=True)
class Batch:
    """Records sent together; ``nbytes`` is the sum of their lengths.

    ``encoded`` is the sink's encoding of these records, ``(encode function, its setting, the result)``,
    kept by ``logship.sinks._http.encode_once``: the shipper sends the same Batch object again on a
    retry of the same records, which then reuses the encoded, compressed body instead of encoding again.
    """

    records: list[bytes]
    nbytes: int
    encoded: tuple[Any, Any, Any] | None = field(default=None, compare=False, repr=False)


class Sink(Protocol):
    """A destination for batches. ``send`` never raises for a store's answer: it returns an Outcome;
    connection failures and timeouts become ``Retry``."""

    name: str

    async def start(self) -> None:
        """Open connections or files; called once before the first send."""

    async def send(self, batch: Batch) -> Outcome:
        """Deliver one batch and classify the answer."""

    async def healthcheck(self) -> None:
        """Raise SinkError with a clear reason when the store cannot be reached or refuses us."""

    async def aclose(self) -> None:
        """Release connections and files; flush what is written."""
