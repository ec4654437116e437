"""``python -m bench encode``: each sink's encoding of one realistic batch, CPU per line, in-process.

The batch: ``--records`` records (default 2,000) of one Swarm container (full metadata: container,
image, labels, service, compose, swarm service/task/node, host), ~150-byte messages on stdout with a
few on stderr, built by the real ``LineAssembler``. ``--parsed`` adds the fields parsing writes
(``RECORD.md``): a ``log.level`` on every line and ``attributes`` on every third, spliced where the
parser puts them (before ``,"stream":``).

Each sink's encode function is timed without compression or framing (what the sink does per line;
gzip/snappy cost the same for every sink and are measured by the http sink's own figures): best of
``--repeat`` runs, microseconds per line. Nothing else runs: no Docker, no network.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from logship.collect.enrich import container_fields
from logship.collect.lines import LineAssembler
from logship.config import load
from logship.sinks.base import Batch

CONTAINER_ID = "4f1c" + "0123456789abcdef" * 3 + "a1b2c3d4e5f6"
INSPECT: dict[str, Any] = {
    "Id": CONTAINER_ID,
    "Name": "/shop_web.3.k2v7w9x1y3z5a7b9c1d3e5f7",
    "Config": {"Image": "registry.example.com/shop/web:2.14.1@sha256:" + "ab" * 32, "Labels": {
        "team": "shop", "org.opencontainers.image.version": "2.14.1", "com.docker.stack.namespace": "shop",
        "com.docker.swarm.service.id": "hot4rfp8id5gq2w3e4r5t6y7u",
        "com.docker.swarm.service.name": "shop_web",
        "com.docker.swarm.task.id": "k2v7w9x1y3z5a7b9c1d3e5f7",
        "com.docker.swarm.task.name": "shop_web.3.k2v7w9x1y3z5a7b9c1d3e5f7",
        "com.docker.swarm.task": "", "com.docker.swarm.node.id": "zacqlko8qhngr3lo9tjnswjdz"}},
}
NODE = {"name": "node-3.eu-west.example.com", "id": "zacqlko8qhngr3lo9tjnswjdz"}
SERVICE_LABELS = {"tier": "front", "owner": "shop-team"}
LEVELS = ("info", "info", "info", "debug", "warn", "error")


def batch_of(records: int, parsed: bool, containers: int = 1) -> Batch:
    """The benchmark's batch (see the module docstring); with ``containers``, the records of that many
    containers (replicas of the same service) in runs of ``RUN`` records, as a host's buffer holds them."""
    if containers > 1:
        runs = [_container_records(records // containers, parsed, replica) for replica in range(containers)]
        out = [record for start in range(0, records // containers, RUN) for run in runs
               for record in run[start:start + RUN]]
        return Batch(*_sized(out))
    out = _container_records(records, parsed, 0)
    return Batch(*_sized(out))


def records_from(path: str, records: int) -> Batch:
    """The first ``records`` lines of an NDJSON file as a batch, each record its own object in batch order
    (as a batch read from the buffer is)."""
    with open(path, "rb") as file:
        lines = [line.rstrip(b"\n") for _, line in zip(range(records), file, strict=False)]
    return Batch(*_sized([bytes(memoryview(line)) for line in lines if line]))


def _sized(records: list[bytes]) -> tuple[list[bytes], int]:
    return records, sum(map(len, records))


RUN = 64  # records of one container read at once (a 64 KiB read holds a few hundred lines; a busy host interleaves)


def _container_records(records: int, parsed: bool, replica: int) -> list[bytes]:
    inspect = INSPECT if not replica else {**INSPECT, "Id": f"{replica:04x}" + CONTAINER_ID[4:],
                                           "Name": f"/shop_web.{replica + 3}.k2v7w9x1y3z5a7b9c1d3e5f7"}
    assembler = LineAssembler(container_fields(inspect, NODE, SERVICE_LABELS), {}, 1 << 20)
    frames = []
    for i in range(records):
        message = (f'10.0.{i % 256}.{i % 97} - - "GET /api/v2/items/{i}?page={i % 13}&sort=price HTTP/1.1" 200 '
                   f'{1000 + i % 9000} "https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64)" rt=0.0{i % 90}')
        stamp = f"2026-11-25T16:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}{i:06d}Z"
        frames.append((2 if i % 20 == 7 else 1, f"{stamp[:30]} {message}\n".encode()))
    out = assembler.feed(frames)
    if parsed:
        out = [with_parsed_fields(record, i) for i, record in enumerate(out)]
    return out


def with_parsed_fields(record: bytes, i: int) -> bytes:
    """``record`` with ``log.level`` and (every third line) ``attributes``, where the parser puts them."""
    cut = record.index(b',"stream":"')
    extra = b',"log":{"level":"%b"}' % LEVELS[i % len(LEVELS)].encode()
    if i % 3 == 0:
        extra += b',"attributes":' + orjson.dumps({"user": i, "request_id": f"r-{i:08x}", "db": {"ms": i % 50}})
    return record[:cut] + extra + record[cut:]


def encoders() -> dict[str, Callable[[Batch], Any]]:
    """Each sink's encode step, uncompressed, with its default configuration."""
    from logship.sinks.clickhouse import encode as clickhouse
    from logship.sinks.elasticsearch import encode as elasticsearch
    from logship.sinks.file import encode as file
    from logship.sinks.gelf import encode as gelf
    from logship.sinks.http import encode as http
    from logship.sinks.loki import body as loki
    from logship.sinks.otlp import encode as otlp
    from logship.sinks.syslog import encode as syslog

    def config(sink: str, env: dict[str, str]) -> Any:
        return load({"LOGSHIP_SINK": sink, **env}).sink_configs[sink]

    loki_config = config("loki", {"LOGSHIP_LOKI_URL": "http://127.0.0.1:9"})
    otlp_config = config("otlp", {"LOGSHIP_OTLP_ENDPOINT": "http://127.0.0.1:9", "LOGSHIP_OTLP_COMPRESSION": "none"})
    syslog_config = config("syslog", {"LOGSHIP_SYSLOG_ADDRESS": "tcp://127.0.0.1:9"})
    return {
        "http": lambda batch: http.encode(batch, "none"),
        "file": file.encode,
        "clickhouse-compat": lambda batch: clickhouse.encode(batch, "compat"),
        "clickhouse-modern": lambda batch: clickhouse.encode(batch, "modern"),
        "syslog": lambda batch: syslog.encode(batch, syslog_config),
        "elasticsearch": lambda batch: elasticsearch.bulk_lines(batch, "logs-docker-default"),
        "gelf": gelf.messages,
        "otlp": lambda batch: otlp.encode(batch, otlp_config, observed_ns=0),
        "loki": lambda batch: loki.push_request(batch, loki_config),
    }


def measure(encode: Callable[[Batch], Any], batch: Batch, repeat: int) -> float:
    """Best of ``repeat`` runs, microseconds per record."""
    best = float("inf")
    gc.collect()
    for _ in range(repeat):
        started = time.process_time_ns()
        encode(batch)
        best = min(best, time.process_time_ns() - started)
    return best / 1000 / len(batch.records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench encode", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m bench encode``."""
    parser.add_argument("--records", type=int, default=2000, help="records in the batch (default 2000)")
    parser.add_argument("--repeat", type=int, default=30, help="runs per sink; the best counts (default 30)")
    parser.add_argument("--parsed", action="store_true", help="also a batch with log.level and attributes")
    parser.add_argument("--sink", action="append", default=[], help="only these sinks (repeatable)")
    parser.add_argument("--containers", type=int, default=1,
                        help=f"records of this many containers in runs of {RUN}, as a host's buffer holds them")
    parser.add_argument("--records-from", metavar="NDJSON",
                        help="a batch of real records instead: the first --records lines of this file, e.g. the "
                             "file sink's output of `python -m bench backlog --sink file --keep` (a host's "
                             "batch as the buffer held it)")


def run(args: argparse.Namespace) -> int:
    """Print a table: sink, µs per line (plain batch, and the parsed one with --parsed)."""
    if args.records_from:
        batches = {"plain": records_from(args.records_from, args.records)}
        if args.parsed:
            batches["parsed"] = Batch(*_sized([with_parsed_fields(record, i)
                                               for i, record in enumerate(batches["plain"].records)]))
        source = f"of {args.records_from}"
    else:
        batches = {"plain": batch_of(args.records, parsed=False, containers=args.containers)}
        if args.parsed:
            batches["parsed"] = batch_of(args.records, parsed=True, containers=args.containers)
        source = f"of {args.containers} Swarm container(s)"
    plain = batches["plain"]
    print(f"{len(plain.records)} records {source}, "
          f"{plain.nbytes / len(plain.records):.0f} bytes each on average; best of {args.repeat}; "
          f"python {sys.version.split()[0]}")
    print(f"{'sink':<20}" + "".join(f"{name + ' µs/line':>20}" for name in batches))
    for name, encode in encoders().items():
        if args.sink and name not in args.sink and name.split("-")[0] not in args.sink:
            continue
        figures = [measure(encode, batch, args.repeat) for batch in batches.values()]
        print(f"{name:<20}" + "".join(f"{figure:>20.2f}" for figure in figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
