-- logship: the table of the `clickhouse` sink for old servers (LOGSHIP_CLICKHOUSE_SCHEMA=compat).
--
-- For ClickHouse before 22.3, such as Debian's 18.16: no Map, no DateTime64, no TTL, no codecs or skip
-- indexes. Works on current servers too. One row per log line; logship sends every column.
--   Timestamp + TimestampNs   the line's time: Unix seconds (UTC) and the nanoseconds within that second
--   EventDate                 the UTC day, the partition (retention: ALTER TABLE ... DROP PARTITION 'YYYY-MM-DD')
--   LabelKeys/LabelValues     the container's own labels (query: LabelValues[indexOf(LabelKeys, 'team')])
--   AttributeKeys/Values      every other field of the record, flattened with dots (partial.ordinal,
--                             swarm.service.labels.<key>, static fields from LOGSHIP_EXTRA_FIELDS, ...),
--                             then a parsed line's attributes under their own paths (user, db.host) and
--                             log.lines of a joined event (query: AttributeValues[indexOf(AttributeKeys, 'user')])
--   SeverityText/Number       the parsed level (ERROR/17, WARN/13, ...: OpenTelemetry's numbers), else the
--                             stream's (stdout INFO/9, stderr ERROR/17). String, not LowCardinality: 18.16
--                             allows it only with allow_experimental_low_cardinality_type=1, and has no Map
--                             (hence the key/value arrays, the pre-Map idiom).
-- Create it by hand (replace the database and table names), or let logship do it at start with
-- LOGSHIP_CLICKHOUSE_CREATE_TABLE=true; {database} and {table} are substituted (backquoted) there.
CREATE TABLE IF NOT EXISTS {database}.{table}
(
    EventDate        Date,
    Timestamp        DateTime,
    TimestampNs      UInt32,
    ServiceName      String,
    ServiceNamespace String,
    HostName         String,
    HostId           String,
    ContainerId      String,
    ContainerName    String,
    ImageName        String,
    Stream           String,
    SeverityText     String,
    SeverityNumber   UInt8,
    Body             String,
    ComposeProject   String,
    ComposeService   String,
    SwarmServiceId   String,
    SwarmServiceName String,
    SwarmTaskId      String,
    SwarmTaskName    String,
    SwarmTaskSlot    UInt32,
    SwarmNodeId      String,
    LabelKeys        Array(String),
    LabelValues      Array(String),
    AttributeKeys    Array(String),
    AttributeValues  Array(String)
)
ENGINE = MergeTree
PARTITION BY EventDate
ORDER BY (ServiceName, Timestamp)
SETTINGS index_granularity = 8192
