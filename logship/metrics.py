"""Prometheus metrics of one agent, on a registry of its own (no process-global state).

Names follow ``logship_<noun>_<unit>_total``. Components receive the ``Metrics`` object and update
counters once per chunk or batch, never once per line.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# The closed sets of ``reason`` labels of the per-sink loss counters.
# logship_lines_rejected_total: the store refused them for good (dead-lettered), the store said it dropped
# them without naming them (OTLP partial success), or the sink raised on them (dead-lettered).
REJECTED_REASONS = ("store", "store_dropped", "sink_error")
# logship_lines_dropped_total: given up for the sink's LOGSHIP_<SINK>_MAX_BACKLOG / _MAX_BACKLOG_AGE.
DROPPED_REASONS = ("max_backlog", "max_backlog_age")
# logship_tailers{state}: the states a tailer reports (``Tailer.state``), each exported even at zero so that
# an alert on ``state="paused"`` has a series to compare. A state not listed here is exported as it comes.
TAILER_STATES = ("starting", "following", "reading", "paused", "retrying", "unreadable", "stopped", "removed")


class Metrics:
    """Every metric logship exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        # collection
        self.lines_read = Counter("logship_lines_read_total",
                                  "Log lines read from the Engine API, by service (namespace/name) and stream.",
                                  ["service", "stream"], registry=r)
        self.bytes_read = Counter("logship_bytes_read_total", "Bytes of log frames read from the Engine API.",
                                  registry=r)
        self.lines_skipped = Counter(
            "logship_lines_skipped_total",
            "Lines read again and skipped because they were at or before the checkpoint "
            "(resume overlap, json-file rotation replays).", registry=r)
        self.lines_cut = Counter("logship_lines_cut_total",
                                 "Lines longer than LOGSHIP_MAX_LINE_BYTES, cut into marked parts.", registry=r)
        self.lines_invalid_utf8 = Counter("logship_lines_invalid_utf8_total",
                                          "Lines whose invalid UTF-8 was replaced by U+FFFD.", registry=r)
        self.frames_malformed = Counter("logship_frames_malformed_total",
                                        "Malformed frames in a logs stream, by what was wrong.", ["reason"],
                                        registry=r)
        self.lines_filtered = Counter(
            "logship_lines_filtered_total",
            "Lines not shipped on purpose, by reason: drop (LOGSHIP_DROP, label logship.drop).", ["reason"], registry=r)
        self.lines_filtered.labels(reason="drop")
        self.parse_label_errors = Counter(
            "logship_parse_label_errors_total",
            "Containers with a bad logship.* parse label (shipped with the global setting instead), by label.",
            ["label"], registry=r)
        self.tailer_errors = Counter("logship_tailer_errors_total", "Tailer errors, by reason.", ["reason"],
                                     registry=r)
        self.containers_followed = Gauge("logship_containers_followed", "Containers with a tailer.",
                                         registry=r)
        self.tailers = Gauge("logship_tailers",
                             "Tailers by state; paused: collection waits because the buffer cannot be written.",
                             ["state"], registry=r)
        self.node_info = Gauge("logship_node_info",
                               "1, labelled with the Docker node this agent reads (name and id, from /info): "
                               "dashboards join it on instance to name each node.", ["node", "node_id"], registry=r)
        self.engine_reconnects = Counter("logship_engine_reconnects_total",
                                         "Times the events stream was re-opened.", registry=r)
        self.checkpoint_saves = Counter("logship_checkpoint_saves_total", "Checkpoint file writes.", registry=r)
        # buffer
        self.buffer_lines_written = Counter("logship_buffer_lines_written_total",
                                            "Records appended to the disk buffer.", registry=r)
        self.buffer_bytes_written = Counter("logship_buffer_bytes_written_total",
                                            "Bytes appended to the disk buffer.", registry=r)
        self.buffer_bytes = Gauge("logship_buffer_bytes", "Bytes in the disk buffer.", registry=r)
        self.buffer_segments = Gauge("logship_buffer_segments", "Segment files in the disk buffer.", registry=r)
        self.buffer_max_bytes = Gauge("logship_buffer_max_bytes", "The disk buffer's bound (LOGSHIP_BUFFER_MAX_BYTES).",
                                      registry=r)
        self.buffer_lines_dropped = Counter(
            "logship_buffer_lines_dropped_total",
            "Records dropped by the buffer, by reason: full (drop_oldest), crc, corrupt, quarantine.", ["reason"],
            registry=r)
        self.buffer_write_errors = Counter(
            "logship_buffer_write_errors_total",
            "Failed writes to the data directory (buffer appends, checkpoint saves, ledgers, fsyncs), by errno "
            "name (ENOSPC, EIO, EROFS…). Nothing is lost: the writer pauses and tries again.", ["errno"],
            registry=r)
        self.buffer_blocked_seconds = Counter("logship_buffer_blocked_seconds_total",
                                              "Time writers waited for room in a full buffer.", registry=r)
        # shipping
        self.lines_shipped = Counter("logship_lines_shipped_total", "Records delivered, by sink.", ["sink"],
                                     registry=r)
        self.bytes_shipped = Counter("logship_bytes_shipped_total", "Encoded bytes delivered, by sink.",
                                     ["sink"], registry=r)
        self.lines_rejected = Counter(
            "logship_lines_rejected_total",
            "Records a sink rejected for good, by sink and reason: store (dead-lettered), store_dropped (the "
            "store dropped them without saying which), sink_error (the sink raised on them; dead-lettered).",
            ["sink", "reason"], registry=r)
        self.lines_dropped = Counter(
            "logship_lines_dropped_total",
            "Records a sink gave up undelivered, by sink and reason: max_backlog, max_backlog_age "
            "(LOGSHIP_<SINK>_MAX_BACKLOG, LOGSHIP_<SINK>_MAX_BACKLOG_AGE).", ["sink", "reason"], registry=r)
        self.retries = Counter("logship_retries_total", "Retried requests, by sink and reason.",
                               ["sink", "reason"], registry=r)
        self.request_seconds = Histogram("logship_request_duration_seconds", "Duration of sink requests.",
                                         ["sink"], registry=r)
        self.oldest_unshipped_age = Gauge("logship_oldest_unshipped_age_seconds",
                                          "Age of the oldest record not yet delivered, by sink.", ["sink"],
                                          registry=r)

    def register_sink(self, sink: str) -> None:
        """Create a sink's series at zero, so that dashboards see them before the first batch."""
        for counter in (self.lines_shipped, self.bytes_shipped):
            counter.labels(sink=sink)
        for reason in REJECTED_REASONS:
            self.lines_rejected.labels(sink=sink, reason=reason)
        for reason in DROPPED_REASONS:
            self.lines_dropped.labels(sink=sink, reason=reason)
        self.oldest_unshipped_age.labels(sink=sink)
