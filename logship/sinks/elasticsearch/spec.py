"""The ``elasticsearch`` sink's settings: LOGSHIP_ELASTICSEARCH_*, its config, batch defaults, factory."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

from logship.settings.forms import non_empty, url
from logship.settings.types import SinkOptions
from logship.settings.variable import Variable
from logship.sinks._spec import SinkSpec, SinkValues, auth_variables, lazy_factory, network_variables

BATCH_DEFAULTS = (5000, 5 * 1024**2)


@dataclass(frozen=True, kw_only=True)
class ElasticsearchSinkConfig(SinkOptions):
    """The `elasticsearch` sink (Elasticsearch or OpenSearch)."""

    url: str
    index: str
    pipeline: str | None
    username: str | None
    password: str | None
    bearer_token: str | None
    api_key: str | None


VARIABLES = (
    Variable("LOGSHIP_ELASTICSEARCH_URL", url, None,
             "Elasticsearch or OpenSearch URL, such as https://es:9200 (records go to /_bulk).",
             section="elasticsearch"),
    Variable("LOGSHIP_ELASTICSEARCH_INDEX", non_empty, "logs-docker-default",
             "Data stream or index; strftime patterns make dated indices (`docker-%Y.%m.%d`, UTC, from the "
             "record's time).", section="elasticsearch"),
    Variable("LOGSHIP_ELASTICSEARCH_PIPELINE", str, None, "Ingest pipeline to run.", section="elasticsearch"),
    *auth_variables("elasticsearch", api_key=True),
    *network_variables("elasticsearch", BATCH_DEFAULTS),
)


def configure(values: SinkValues) -> ElasticsearchSinkConfig:
    """The config from LOGSHIP_ELASTICSEARCH_*."""
    return ElasticsearchSinkConfig(url=values["URL"], index=values["INDEX"], pipeline=values["PIPELINE"],
                                   **values.auth(), **values.options())




SPEC = SinkSpec(
    "elasticsearch", VARIABLES, configure, lazy_factory("logship.sinks.elasticsearch.sink", "ElasticsearchSink"),
    required="LOGSHIP_ELASTICSEARCH_URL", batch_defaults=BATCH_DEFAULTS, destination=attrgetter("url"))
