"""The ``otlp`` sink, the classify step: pure, the store's answers → Outcome.

The wire format and the answers are described in ``logship.sinks.otlp``.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from logship.ship.outcome import DELIVERED, Delivered, Outcome, rejected
from logship.sinks._http import body_excerpt, classify_status, header, status_said
from logship.sinks.protowire import LENGTH_DELIMITED, fields

# Outcome reasons of a DELIVERED answer that the sink logs (see ``OtlpSink.send``).
PARTIAL_SUCCESS = "partial_success"
WARNING = "warning"
UNREADABLE = "unreadable_answer"


# --- classify ---------------------------------------------------------------------------------


def _is_json(headers: Mapping[str, str], body: bytes) -> bool:
    content_type = (header(headers, "Content-Type") or "").lower()
    if "json" in content_type:
        return True
    if "protobuf" in content_type:
        return False
    return body.lstrip()[:1] == b"{"


def partial_success(headers: Mapping[str, str], body: bytes) -> tuple[int, str] | None:
    """(rejectedLogRecords, errorMessage) of a 2xx ExportLogsServiceResponse, (0, "") when it has no
    partialSuccess, None when the body is neither valid protobuf nor JSON."""
    if not body.strip():
        return 0, ""
    if _is_json(headers, body):
        try:
            document = orjson.loads(body)
            partial = document.get("partialSuccess") or document.get("partial_success") or {}
            count = partial.get("rejectedLogRecords", partial.get("rejected_log_records", 0))
            return int(count or 0), str(partial.get("errorMessage", partial.get("error_message", "")) or "")
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            return None
    # Imported here, on the first protobuf answer: the generated classes cost ~9 MB of RSS, and every sink
    # package is imported at start (its spec) whether it is configured or not.
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

    try:
        response = ExportLogsServiceResponse.FromString(body)
    except DecodeError:
        return None
    return response.partial_success.rejected_log_records, response.partial_success.error_message


def status_message(headers: Mapping[str, str], body: bytes) -> str:
    """The message of an error body (``google.rpc.Status`` in protobuf or JSON), else its excerpt."""
    content_type = (header(headers, "Content-Type") or "").lower()
    try:
        if "protobuf" in content_type:
            for field, wire_type, value in fields(body):  # Status { int32 code = 1; string message = 2; … }
                if field == 2 and wire_type == LENGTH_DELIMITED and isinstance(value, bytes):
                    return body_excerpt(value)
        elif "json" in content_type or body.lstrip()[:1] == b"{":
            message = orjson.loads(body).get("message")
            if isinstance(message, str) and message:
                return body_excerpt(message.encode())
    except (ValueError, AttributeError):  # orjson.JSONDecodeError is a ValueError
        pass
    return body_excerpt(body)


def classify(status: int, headers: Mapping[str, str], body: bytes, retry_status: frozenset[int],
             *, records: int | None = None) -> Outcome:
    """The Outcome of one answer of an OTLP/HTTP receiver (rows in the module docstring); ``records``
    is the number of log records sent, to tell a partial success from a total one."""
    if 200 <= status < 300:
        partial = partial_success(headers, body)
        if partial is None:
            return Delivered(reason=UNREADABLE,
                           detail=f"http {status} with a body that is not an ExportLogsServiceResponse: "
                                  f"{body_excerpt(body)}")
        count, message = partial
        if count > 0:
            if records is not None and count >= records:
                return rejected(f"otlp partial success: the collector rejected all {count} log records"
                                + (f": {message}" if message else ""))
            of = f" of {records}" if records is not None else ""
            return Delivered(reason=PARTIAL_SUCCESS, dropped=count,
                           detail=f"the collector rejected {count}{of} log records (not retried, as OTLP requires; "
                                  f"it does not say which)" + (f": {message}" if message else ""))
        if message:
            return Delivered(reason=WARNING, detail=message)
        return DELIVERED
    return classify_status(status, headers, status_said(status, status_message(headers, body)), retry_status)
