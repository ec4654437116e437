"""``python -m bench parse``: what understanding lines (logship.parse) costs, CPU per line, in-process.

The real path of a tailer: a multiplexed logs body (as dockerd sends it) fed in 64 KiB reads through
``MuxDecoder.feed_records`` into a ``LineAssembler`` of one Swarm container (the metadata of
``bench encode``), then ``flush``. Workloads (``--lines`` lines each, ~150-byte messages):

- ``plain``: access-log lines, no level, no JSON;
- ``mixed``: 30% JSON lines (zap/logrus-like, with a level and a few keys), 5% lines inside stack traces
  (a Java trace of 10 lines every 200 lines), the rest plain access-log lines.

Settings side by side, in one run: ``none`` (no parse stage: LineAssembler as it was), ``off``
(LOGSHIP_PARSE=none and LOGSHIP_MULTILINE=off: the stage is not attached), ``auto`` (the defaults).
Best of ``--repeat`` runs, microseconds of CPU per line (``time.process_time_ns``); the table also says
how much each costs more than ``none``. Nothing else runs: no Docker, no network.
"""

from __future__ import annotations

import argparse
import gc
import struct
import sys
import time

import orjson

from bench.encode import INSPECT, NODE, SERVICE_LABELS
from logship.collect.enrich import container_fields
from logship.collect.frames import MuxDecoder
from logship.collect.lines import LineAssembler
from logship.parse.settings import ParseSettings

READ_BYTES = 64 * 1024
SETTINGS: dict[str, ParseSettings | None] = {
    "none": None,
    "off": ParseSettings(parse="none", multiline=None, multiline_text="off"),
    "auto": ParseSettings(),
}
TRACE = ["java.lang.IllegalStateException: order {i} not found",
         *(f"\tat com.shop.orders.Service{k}.find(Service{k}.java:{80 + k})" for k in range(8)),
         "\t... 12 more"]
LEVELS = ("info", "info", "info", "debug", "warn", "error")


def access(i: int) -> str:
    return (f'10.0.{i % 256}.{i % 97} - - "GET /api/v2/items/{i}?page={i % 13}&sort=price HTTP/1.1" 200 '
            f'{1000 + i % 9000} "https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64)" rt=0.0{i % 90}')


def workload(kind: str, count: int) -> list[str]:
    """The lines of one workload (see the module docstring)."""
    lines: list[str] = []
    i = 0
    while len(lines) < count:
        if kind == "mixed" and i % 200 == 0:
            lines += [line.replace("{i}", str(i)) for line in TRACE]
        elif kind == "mixed" and i % 10 < 3:
            lines.append(orjson.dumps({"level": LEVELS[i % len(LEVELS)], "ts": 1796646000.123 + i,
                                       "caller": "orders/service.go:88", "msg": f"order {i} processed",
                                       "user": i % 1000, "took_ms": i % 50}).decode())
        else:
            lines.append(access(i))
        i += 1
    return lines[:count]


def body_of(lines: list[str]) -> bytes:
    """The multiplexed logs body of ``lines`` on stdout, one strictly newer timestamp each."""
    out = bytearray()
    for n, line in enumerate(lines):
        payload = b"2026-11-25T16:%02d:%02d.%09dZ " % (n // 60_000_000 % 60, n // 1_000_000 % 60,
                                                       n % 1_000_000 * 1000 + 1) + line.encode() + b"\n"
        out += struct.pack(">LL", 1 << 24, len(payload)) + payload
    return bytes(out)


def measure(body: bytes, settings: ParseSettings | None, repeat: int, count: int) -> tuple[float, int]:
    """Best of ``repeat`` runs, µs of CPU per line, and the number of records made."""
    metadata = container_fields(INSPECT, NODE, SERVICE_LABELS)
    best = float("inf")
    records = 0
    gc.collect()
    for _ in range(repeat):
        assembler = LineAssembler(metadata, {}, 1 << 20, settings)
        decoder = MuxDecoder()
        started = time.process_time_ns()
        out: list[bytes] = []
        for at in range(0, len(body), READ_BYTES):
            out += decoder.feed_records(body[at:at + READ_BYTES], assembler)
        out += assembler.flush()
        best = min(best, time.process_time_ns() - started)
        records = len(out)
    return best / 1000 / count, records


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m bench parse``."""
    parser.add_argument("--lines", type=int, default=20_000, help="lines per workload (default 20000)")
    parser.add_argument("--repeat", type=int, default=15, help="runs per case; the best counts (default 15)")


def run(args: argparse.Namespace) -> int:
    """Print a table: workload by settings, µs of CPU per line, and the cost over ``none``."""
    print(f"{args.lines} lines per workload through MuxDecoder.feed_records + LineAssembler (64 KiB reads); "
          f"best of {args.repeat}; python {sys.version.split()[0]}")
    print(f"{'workload':<10}{'settings':<10}{'records':>9}{'µs/line':>10}{'over none':>11}")
    for kind in ("plain", "mixed"):
        lines = workload(kind, args.lines)
        body = body_of(lines)
        base = None
        for name, settings in SETTINGS.items():
            figure, records = measure(body, settings, args.repeat, len(lines))
            base = figure if base is None else base
            print(f"{kind:<10}{name:<10}{records:>9}{figure:>10.3f}{figure - base:>+11.3f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench parse", description=(__doc__ or "").splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
