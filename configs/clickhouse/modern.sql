-- logship: the table of the `clickhouse` sink for current servers (LOGSHIP_CLICKHOUSE_SCHEMA=modern).
--
-- For ClickHouse 22.3 and later, in the style of the OpenTelemetry collector's ClickHouse exporter
-- (otel_logs): nanosecond DateTime64 time, LowCardinality strings, Map attributes with bloom-filter
-- indexes, a token index on the body, daily partitions and a TTL. One row per log line; logship sends
-- every column.
--   ResourceAttributes   where the line comes from, with OpenTelemetry names: service.name, host.name,
--                        container.id, container.image.name, container.label.<key>, docker.swarm.*,
--                        docker.compose.* (query: ResourceAttributes['container.label.team'])
--   LogAttributes        about the line: log.iostream (stdout/stderr), partial.* for a cut line, and any
--                        other field of the record, flattened with dots; a parsed line's attributes
--                        under their own paths and log.lines of a joined event (LogAttributes['user'])
--   SeverityText/Number  the parsed level (SeverityText LowCardinality: ERROR, WARN, ...; SeverityNumber
--                        OpenTelemetry's: 17, 13, ...), else the stream's (stdout INFO/9, stderr ERROR/17)
-- non_replicated_deduplication_window lets logship's insert_deduplication_token (a hash of the batch)
-- make a resent batch a no-op on a plain MergeTree. Change the TTL to your retention.
-- Create it by hand (replace the database and table names), or let logship do it at start with
-- LOGSHIP_CLICKHOUSE_CREATE_TABLE=true; {database} and {table} are substituted (backquoted) there.
CREATE TABLE IF NOT EXISTS {database}.{table}
(
    Timestamp          DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime      DateTime DEFAULT toDateTime(Timestamp),
    ServiceName        LowCardinality(String) CODEC(ZSTD(1)),
    ServiceNamespace   LowCardinality(String) CODEC(ZSTD(1)),
    HostName           LowCardinality(String) CODEC(ZSTD(1)),
    ContainerId        String CODEC(ZSTD(1)),
    ContainerName      LowCardinality(String) CODEC(ZSTD(1)),
    ImageName          LowCardinality(String) CODEC(ZSTD(1)),
    Stream             LowCardinality(String) CODEC(ZSTD(1)),
    SeverityText       LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber     UInt8,
    Body               String CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes      Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
)
ENGINE = MergeTree
PARTITION BY toDate(TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
TTL TimestampTime + toIntervalDay(30)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 1000
