"""The ``loki`` sink's settings: LOGSHIP_LOKI_*, its config, its batch defaults, its factory."""

from __future__ import annotations

import re
from dataclasses import dataclass
from operator import attrgetter
from typing import Literal, cast, get_args

from logship.settings.forms import FALSE, TRUE, choice, parse_list, parse_size, positive, url
from logship.settings.types import SinkOptions
from logship.settings.variable import Variable
from logship.sinks._spec import SinkSpec, SinkValues, auth_variables, lazy_factory, network_variables

BATCH_DEFAULTS = (2000, 1024**2)
LokiEncoding = Literal["protobuf", "json"]

LOKI_METADATA_DEFAULT = "container_name,container_image_name,swarm_task_slot"

LOKI_LABEL_FIELDS = {
    "service_namespace": "service.namespace", "service_name": "service.name", "host": "host.name",
    "stream": "stream", "container_name": "container.name", "image": "container.image.name",
    "compose_project": "compose.project", "compose_service": "compose.service",
    "swarm_service": "swarm.service.name", "swarm_node": "swarm.node.id",
}


@dataclass(frozen=True, kw_only=True)
class LokiSinkConfig(SinkOptions):
    """The `loki` sink."""

    url: str
    encoding: LokiEncoding
    labels: tuple[tuple[str, str], ...]
    structured_metadata: bool
    # The container's fields sent as structured metadata, by metadata name (None: all of them).
    metadata_names: frozenset[str] | None = None
    tenant_id: str | None
    max_line_bytes: int
    username: str | None
    password: str | None
    bearer_token: str | None


def _loki_labels(text: str) -> tuple[tuple[str, str], ...]:
    """``"service_name,env=labels.env"`` → (("service_name", "service.name"), ("env", "labels.env"))."""
    labels = []
    for item in parse_list(text):
        name, sep, path = item.partition("=")
        name = name.strip()
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name):
            raise ValueError("a comma list of label names ([a-zA-Z_][a-zA-Z0-9_]*), each optionally =record.field")
        if not sep:
            if name not in LOKI_LABEL_FIELDS:
                raise ValueError("label names from " + ", ".join(LOKI_LABEL_FIELDS) + ", or name=record.field")
            path = LOKI_LABEL_FIELDS[name]
        labels.append((name, path.strip()))
    if not labels:
        raise ValueError("at least one label")
    return tuple(labels)


def _loki_metadata(text: str) -> tuple[bool, frozenset[str] | None]:
    """LOGSHIP_LOKI_STRUCTURED_METADATA → (structured metadata at all, the names kept; None: every one).

    ``all`` (or ``true``, as when the setting was a boolean): every field; ``none``: none of the
    container's; a comma list of metadata names (``container_name``), a trailing ``*`` for every name with
    that start (``container_label_*``); ``false``: no structured metadata, the fields in a JSON line
    instead (Loki 2)."""
    value = text.strip().lower()
    if value == "all" or value in TRUE:  # true, yes, 1: what the setting meant when it was a boolean
        return True, None
    if value == "none":
        return True, frozenset()
    if value in FALSE:
        return False, None
    names = parse_list(text)
    if not names or not all(re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*\*?", name) for name in names):
        raise ValueError("all, none, false (the fields as JSON in the line, for Loki 2) or a comma list of "
                         "metadata names such as container_name,container_image_name, a trailing * for a "
                         "prefix (container_label_*)")
    return True, frozenset(names)


VARIABLES = (
    Variable("LOGSHIP_LOKI_URL", url, None,
             "Loki's URL, such as http://loki:3100 (records are POSTed to /loki/api/v1/push).", section="loki"),
    Variable("LOGSHIP_LOKI_ENCODING", choice(*get_args(LokiEncoding)), "protobuf",
             "`protobuf` (snappy-compressed, Loki's native push) or `json` (gzip).", section="loki"),
    Variable("LOGSHIP_LOKI_LABELS", _loki_labels, "service_namespace,service_name,host,stream",
             "Stream labels, few and of low cardinality: names from " + ", ".join(LOKI_LABEL_FIELDS)
             + ", or name=record.field. Every other field goes to structured metadata.", section="loki"),
    Variable("LOGSHIP_LOKI_STRUCTURED_METADATA", _loki_metadata, LOKI_METADATA_DEFAULT,
             "Which of the container's fields go with every line as structured metadata (Loki 3): a comma list "
             "of names (`*` ends a prefix), `all` or `none`; the parsed line's own fields (detected_level, "
             "attributes) and LOGSHIP_EXTRA_FIELDS always go. `false`: every field as JSON in the line "
             "(Loki 2).", section="loki"),
    Variable("LOGSHIP_LOKI_TENANT_ID", str, None, "Tenant, sent as X-Scope-OrgID.", section="loki"),
    Variable("LOGSHIP_LOKI_MAX_LINE_BYTES", positive(parse_size), "256KB",
             "Loki's max_line_size: a longer line is split into parts of at most this size, marked "
             "`line_part` = `n/count` (nothing is dropped).", section="loki"),
    *auth_variables("loki"),
    *network_variables("loki", BATCH_DEFAULTS),
)


def configure(values: SinkValues) -> LokiSinkConfig:
    """The config from LOGSHIP_LOKI_*."""
    auth = values.auth()
    return LokiSinkConfig(
        url=values["URL"], encoding=cast(LokiEncoding, values["ENCODING"]), labels=values["LABELS"],
        structured_metadata=values["STRUCTURED_METADATA"][0], metadata_names=values["STRUCTURED_METADATA"][1],
        tenant_id=values["TENANT_ID"],
        max_line_bytes=values["MAX_LINE_BYTES"], username=auth["username"], password=auth["password"],
        bearer_token=auth["bearer_token"], **values.options())




SPEC = SinkSpec(
    "loki", VARIABLES, configure, lazy_factory("logship.sinks.loki.sink", "LokiSink"),
    required="LOGSHIP_LOKI_URL", batch_defaults=BATCH_DEFAULTS, destination=attrgetter("url"))
