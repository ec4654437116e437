"""The ``clickhouse`` sink's settings: LOGSHIP_CLICKHOUSE_*, its config, batch defaults, factory."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Literal, cast, get_args

from logship.settings.forms import choice, non_empty, parse_bool, url
from logship.settings.types import SinkOptions
from logship.settings.variable import Variable
from logship.sinks._spec import SinkSpec, SinkValues, lazy_factory, network_variables

# ClickHouse wants few large inserts (each one makes a part on disk).
BATCH_DEFAULTS = (20000, 16 * 1024**2)
ClickHouseSchema = Literal["auto", "compat", "modern"]


@dataclass(frozen=True, kw_only=True)
class ClickHouseSinkConfig(SinkOptions):
    """The `clickhouse` sink."""

    url: str
    database: str
    table: str
    user: str
    password: str | None
    schema: ClickHouseSchema
    create_table: bool


VARIABLES = (
    Variable("LOGSHIP_CLICKHOUSE_URL", url, None, "ClickHouse HTTP interface, such as http://clickhouse:8123.",
             section="clickhouse"),
    Variable("LOGSHIP_CLICKHOUSE_DATABASE", non_empty, "default", "Database of the table.", section="clickhouse"),
    Variable("LOGSHIP_CLICKHOUSE_TABLE", non_empty, "container_logs", "Table the rows go to.",
             section="clickhouse"),
    Variable("LOGSHIP_CLICKHOUSE_USER", str, "default", "User.", section="clickhouse"),
    Variable("LOGSHIP_CLICKHOUSE_PASSWORD", str, None, "Password.", secret=True, section="clickhouse"),
    Variable("LOGSHIP_CLICKHOUSE_SCHEMA", choice(*get_args(ClickHouseSchema)), "auto",
             "Row layout: `compat` (configs/clickhouse/compat.sql: old servers), `modern` (modern.sql) or "
             "`auto` (by server version).", section="clickhouse"),
    Variable("LOGSHIP_CLICKHOUSE_CREATE_TABLE", parse_bool, "false", "Create the table at start if missing.",
             section="clickhouse"),
    *network_variables("clickhouse", BATCH_DEFAULTS),
)


def configure(values: SinkValues) -> ClickHouseSinkConfig:
    """The config from LOGSHIP_CLICKHOUSE_*."""
    auth = values.auth(user="USER", password_needs_user=False)  # the user has a default
    return ClickHouseSinkConfig(
        url=values["URL"], database=values["DATABASE"], table=values["TABLE"], user=auth["username"],
        password=auth["password"], schema=cast(ClickHouseSchema, values["SCHEMA"]),
        create_table=values["CREATE_TABLE"], **values.options())




SPEC = SinkSpec(
    "clickhouse", VARIABLES, configure, lazy_factory("logship.sinks.clickhouse.sink", "ClickHouseSink"),
    required="LOGSHIP_CLICKHOUSE_URL", batch_defaults=BATCH_DEFAULTS, destination=attrgetter("url"))
