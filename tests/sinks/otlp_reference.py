"""The OTLP request built with opentelemetry-proto's message classes: the reference the sink's hand-written
protobuf (``logship.sinks.otlp.encode.export_request``) must equal byte for byte. This was the sink's own
encoder before issue 15.1."""

from __future__ import annotations

from typing import Any

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from logship import __version__
from logship.sinks.base import Batch
from logship.sinks.otlp.encode import SCOPE_NAME, group


def set_value(any_value: Any, value: Any) -> None:
    """Fill an ``AnyValue`` message."""
    if isinstance(value, str):
        any_value.string_value = value
    elif isinstance(value, bool):
        any_value.bool_value = value
    elif isinstance(value, int):
        any_value.int_value = value
    elif isinstance(value, float):
        any_value.double_value = value
    elif isinstance(value, list):
        array = any_value.array_value
        for item in value:
            if item is not None:
                set_value(array.values.add(), item if isinstance(item, str | bool | int | float | list)
                          else orjson.dumps(item).decode())
    else:
        any_value.string_value = orjson.dumps(value, default=str).decode()


def reference_request(batch: Batch, observed_ns: int) -> bytes:
    """The ExportLogsServiceRequest for ``batch`` through the message classes, serialised."""
    request = ExportLogsServiceRequest()
    for resource in group(batch):
        resource_logs = request.resource_logs.add()
        for key, value in resource.attributes:
            set_value(resource_logs.resource.attributes.add(key=key).value, value)
        scope_logs = resource_logs.scope_logs.add()
        scope_logs.scope.name = SCOPE_NAME
        scope_logs.scope.version = __version__
        log_records = scope_logs.log_records
        for ns, message, stream, extra, own, severity in resource.records:
            record = log_records.add(time_unix_nano=ns, observed_time_unix_nano=observed_ns)
            if severity is not None:
                record.severity_number, record.severity_text = severity
            record.body.string_value = message
            if stream is not None:
                record.attributes.add(key="log.iostream").value.string_value = stream
            for key, value in (*extra, *own) if own else extra:
                set_value(record.attributes.add(key=key).value, value)
    return request.SerializeToString()
