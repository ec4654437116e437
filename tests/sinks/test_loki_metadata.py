"""The Loki sink's default structured metadata (issue 15.4) and its one-pass protobuf body (issue 15.1).

The default set is what people filter Docker logs on beside the stream labels: the container's name, its
image and the Swarm task slot; the parsed line's own fields and LOGSHIP_EXTRA_FIELDS always go.
``push_request`` (the hot loop) must give the bytes the record-by-record mapping gives.
"""

from __future__ import annotations

import dataclasses

import pytest

from logship.config import load
from logship.record import Reader
from logship.ship.outcome import OutcomeKind
from logship.sinks.base import Batch
from logship.sinks.loki.body import _whole_batch, push_request
from logship.sinks.loki.encode import encode_protobuf, plan_of, streams
from logship.sinks.loki.sink import LokiSink
from logship.sinks.loki.spec import LokiSinkConfig
from tests.fakes.loki import FakeLoki
from tests.sinks import running
from tests.sinks.records import (
    METADATA,
    host_records,
    one_container,
    parsed,
    parsed_batch,
    records,
    runs_of_lines,
    sample_batch,
)

LOKI = {"LOGSHIP_SINK": "loki", "LOGSHIP_LOKI_URL": "http://127.0.0.1:9"}


def config(url: str = "http://127.0.0.1:9", **environ: str) -> LokiSinkConfig:
    return dataclasses.replace(load({**LOKI, **environ}).sink_configs["loki"], url=url, timeout=5.0)


def batch(recs: list[bytes]) -> Batch:
    return Batch(recs, sum(map(len, recs)))


def metadata_names(sink_config: LokiSinkConfig, recs: Batch) -> list[set[str]]:
    return [set(entry[2]) for _, _, entries in streams(recs, sink_config) for entry in entries]


def test_the_default_is_what_people_filter_on() -> None:
    assert metadata_names(config(), sample_batch()) == [
        {"container_name", "container_image_name", "swarm_task_slot"}] * 3


def test_parsed_fields_and_extra_fields_always_go() -> None:
    [base] = records([("stdout", "2026-11-25T16:32:42.000000001Z", "x\n")],
                     {**METADATA, "env": {"name": "prod"}})
    line = parsed(base, level="warn", attributes={"user": 7})
    [names] = metadata_names(config(), batch([line]))
    assert names == {"detected_level", "user", "env_name", "container_name", "container_image_name",
                     "swarm_task_slot"}
    [names] = metadata_names(config(LOGSHIP_LOKI_STRUCTURED_METADATA="none"), batch([line]))
    assert names == {"detected_level", "user", "env_name"}


def test_a_list_with_a_prefix_and_all() -> None:
    listed = config(LOGSHIP_LOKI_STRUCTURED_METADATA="container_id,container_label_*,swarm_service_label_*")
    assert metadata_names(listed, sample_batch())[0] == {"container_id", "container_label_team",
                                                         "swarm_service_label_tier"}
    everything = metadata_names(config(LOGSHIP_LOKI_STRUCTURED_METADATA="all"), sample_batch())[0]
    assert {"container_id", "container_label_team", "swarm_task_id", "host_id"} < everything


async def test_the_default_set_arrives_at_loki() -> None:
    async with FakeLoki() as loki:
        [outcome] = await running.send_all(LokiSink(config(loki.url)), [sample_batch()])
    assert outcome.kind is OutcomeKind.DELIVERED
    assert [entry.metadata for entry in loki.entries] == [
        {"container_name": "shop_web.1.atuvfibd6g47", "container_image_name": "nginx:1.27", "swarm_task_slot": "1"}
    ] * 3


def _mixed_batch() -> list[bytes]:
    """Plain records of two containers and both streams, parsed ones (a level alone, attributes, a joined
    event), a record read whole, and escaped, non-ASCII and empty messages."""
    other = {**METADATA, "container": {**METADATA["container"], "name": "other"}}
    plain = records([("stdout", f"2026-11-25T16:32:42.{n:09d}Z", f'line {n} "q" \\ é\n') for n in range(1, 6)])
    plain += records([("stderr", "2026-11-25T16:32:43.000000001Z", "\n")], other)
    return [plain[0], parsed(plain[1], level="error"), parsed(plain[2], level="info", attributes={"a": {"b": 1}}),
            parsed(plain[3], level="warn", lines=2), plain[4], plain[5], *parsed_batch().records,
            b'{"timestamp":"2026-11-25T16:32:44.000000001Z","stream":"stdout","message":"whole"}']


def _replicas_in_runs() -> list[bytes]:
    """Three replicas of one service (one Loki stream by the default labels) as a host's buffer holds them:
    a run of each replica's records per read, so the stream goes back in time at every run, with equal
    times across replicas, a lone level, and stderr lines inside the runs."""
    runs: list[list[bytes]] = []
    for replica in range(3):
        metadata = {**METADATA, "container": {**METADATA["container"], "name": f"shop_web.{replica + 1}.x"}}
        replica_records = records([("stderr" if n % 7 == 3 else "stdout", f"2026-11-25T16:32:{n // 10:02d}.{n:09d}Z",
                                    f"replica {replica} line {n}\n") for n in range(40)], metadata)
        replica_records[5] = parsed(replica_records[5], level="warn")
        runs.append(replica_records)
    return [record for start in range(0, 40, 8) for run in runs for record in run[start:start + 8]]


@pytest.mark.parametrize("environ", [
    {}, {"LOGSHIP_LOKI_STRUCTURED_METADATA": "all"}, {"LOGSHIP_LOKI_STRUCTURED_METADATA": "none"},
    {"LOGSHIP_LOKI_STRUCTURED_METADATA": "false"}, {"LOGSHIP_LOKI_LABELS": "service_name,level=log.level"},
    {"LOGSHIP_LOKI_MAX_LINE_BYTES": "8"},
])
@pytest.mark.parametrize("recs", [
    pytest.param(lambda: sample_batch().records, id="sample"),
    pytest.param(lambda: parsed_batch().records, id="parsed"),
    pytest.param(_mixed_batch, id="mixed"),
    pytest.param(lambda: list(reversed(_mixed_batch())), id="out-of-order"),
    pytest.param(_replicas_in_runs, id="replicas-in-runs"),
    pytest.param(one_container, id="one-container"),
    pytest.param(lambda: list(reversed(one_container())), id="one-container-out-of-order"),
])
def test_the_one_pass_body_is_the_mapping_byte_for_byte(environ: dict[str, str], recs) -> None:
    sink_config = config(**environ)
    records_ = batch(recs())
    assert push_request(records_, sink_config) == encode_protobuf(streams(records_, sink_config))


@pytest.mark.parametrize("labels", ["service_namespace,service_name,host,stream", "service_name"])
def test_one_containers_batch_is_written_at_once_as_record_by_record(labels: str) -> None:
    """A batch of one container's plain records takes the whole-batch way (``_whole_batch``), one stream or
    two (stdout and stderr), in time order or not, with the bytes of the record-by-record mapping; a
    timestamp not Docker's is declined, for the loop."""
    sink_config = config(LOGSHIP_LOKI_LABELS=labels)
    recs = one_container()
    whole = _whole_batch(Reader().columns(recs), plan_of(sink_config))
    assert whole is not None and whole == encode_protobuf(streams(batch(recs), sink_config))
    swapped = [recs[1], recs[0], *recs[2:]]  # out of time order: written at once, sorted as the loop sorts
    assert _whole_batch(Reader().columns(swapped), plan_of(sink_config)) == encode_protobuf(
        streams(batch(swapped), sink_config))
    assert push_request(batch(swapped), sink_config) == encode_protobuf(streams(batch(swapped), sink_config))
    unlike_docker = [recs[0].replace(b'.000000005Z"', b'.00000000aZ"'), *recs[1:]]
    assert _whole_batch(Reader().columns(unlike_docker), plan_of(sink_config)) is None


@pytest.mark.parametrize("labels", ["service_namespace,service_name,host,stream", "container_name,stream",
                                    "service_name"])
@pytest.mark.parametrize(("replicas", "run"), [(3, 40), (4, 33), (16, 40)])
def test_a_hosts_batch_in_long_runs_is_written_at_once_as_record_by_record(labels: str, replicas: int,
                                                                           run: int) -> None:
    """A host's batch of plain records as its buffer holds it (each container's reads in runs, a run of
    stderr among them, equal times across replicas, every nanoseconds varint length) takes the whole-batch
    way with the bytes of the record-by-record mapping: replicas sharing a stream (the default labels)
    go back in time at every run and are sorted as the loop sorts them, streams of their own are not."""
    sink_config = config(LOGSHIP_LOKI_LABELS=labels)
    lines = runs_of_lines(run)
    recs = host_records(lines, replicas, run)
    assert len(recs) == replicas * len(lines)
    columns = Reader().columns(recs, runs=True)
    assert columns is not None
    expected = encode_protobuf(streams(batch(recs), sink_config))
    assert _whole_batch(columns, plan_of(sink_config)) == expected
    assert push_request(batch(recs), sink_config) == expected


@pytest.mark.parametrize("lines", [
    pytest.param([("stdout", "2026-11-25T16:32:42.000000001Z", "x" * 20000 + "\n")], id="a-16-KiB-line"),
    pytest.param([("stdout", "2026-11-25T16:32:42.000000001Z", "x" * 16383 + "\n")], id="a-line-of-16383-bytes"),
    pytest.param([("stdout", "2026-11-25T16:32:60.900000000Z", "a\n"),
                  ("stdout", "2026-11-25T16:33:00.100000000Z", "b\n")], id="a-leap-second-before-the-next-minute"),
    pytest.param([("stdout", "2026-11-25T24:00:00.900000000Z", "a\n"),
                  ("stdout", "2026-11-26T00:00:00.100000000Z", "b\n")], id="hour-24"),
])
def test_one_containers_batch_the_whole_batch_way_declines_is_written_by_the_loop(lines) -> None:
    """Lines the whole-batch way does not write (a length field of three bytes, seconds whose bytes are
    not in time order) are the loop's: the same bytes as the mapping, no exception."""
    sink_config = config()
    recs = batch(records(lines))
    assert push_request(recs, sink_config) == encode_protobuf(streams(recs, sink_config))
