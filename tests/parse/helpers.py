"""The corpus (tests/parse/corpus) and a way to push lines through the real LineAssembler as dockerd frames."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import orjson

from logship.collect.frames import PARTIAL_CHUNK, STDERR, STDOUT, MuxDecoder
from logship.collect.lines import LineAssembler
from logship.collect.positions import Mark
from logship.parse.settings import ParseSettings

CORPUS = Path(__file__).resolve().parent / "corpus"
TRACE_FILES = ("python", "jvm", "node", "dotnet", "ruby", "go", "php")
META = {"container": {"id": "c0ffee", "name": "app"}, "host": {"name": "node-1"}}
MAX_LINE = 1 << 20


def blocks(name: str) -> list[list[str]]:
    """The records a corpus file must become: blocks separated by ``%%`` lines, each a list of lines."""
    text = (CORPUS / f"{name}.txt").read_text()
    assert text.endswith("\n")
    return [block.split("\n") for block in text[:-1].split("\n%%\n")]


def ordinary() -> list[str]:
    """Ordinary lines: each must stay a record of its own."""
    return (CORPUS / "ordinary.txt").read_text()[:-1].split("\n")


def events() -> list[list[str]]:
    """Every block of every trace file (multi-line events and the single lines between them)."""
    return [block for name in TRACE_FILES for block in blocks(name)]


def jsonl(name: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (CORPUS / f"{name}.jsonl").read_bytes().splitlines()]


def stamp(n: int) -> bytes:
    """The n-th timestamp (strictly increasing with n)."""
    return b"2026-12-07T12:%02d:%02d.%09dZ" % (n // 60_000_000 % 60, n // 1_000_000 % 60, n % 1_000_000 * 1000 + 1)


def frames(lines: list[tuple[int, str]], first: int = 0) -> bytes:
    """A multiplexed logs body for (stream, line) pairs, one timestamp per line, split by dockerd's rule: a
    line longer than 16 KiB becomes 16384-byte entries without newline sharing the first one's timestamp."""
    out = bytearray()
    for n, (sid, line) in enumerate(lines, start=first):
        body = line.encode() + b"\n"
        for at in range(0, len(body), PARTIAL_CHUNK):
            payload = stamp(n) + b" " + body[at:at + PARTIAL_CHUNK]
            out += struct.pack(">LL", sid << 24, len(payload)) + payload
    return bytes(out)


def assembler(settings: ParseSettings | None = None, marks: dict[str, Mark] | None = None) -> LineAssembler:
    return LineAssembler(META, marks or {}, MAX_LINE, ParseSettings() if settings is None else settings)


def run(lines: list[tuple[int, str]], settings: ParseSettings | None = None, chunk: int = 0) -> list[dict[str, Any]]:
    """Records for ``lines`` (fed whole, or in chunks of ``chunk`` bytes), flushed at the end."""
    body = frames(lines)
    target = assembler(settings)
    decoder = MuxDecoder()
    raw: list[bytes] = []
    step = chunk or len(body) or 1
    for at in range(0, len(body), step):
        raw += decoder.feed_records(body[at:at + step], target)
    raw += target.flush()
    return [orjson.loads(record) for record in raw]


def split_back(records: list[dict[str, Any]], stream: str | None = None) -> list[list[str]]:
    """Each record as the lines it holds (a joined event's message split at ``\\n``)."""
    out = []
    for record in records:
        if stream is not None and record["stream"] != stream:
            continue
        lines = (record.get("log") or {}).get("lines")
        out.append(record["message"].split("\n") if lines else [record["message"]])
    return out


STREAMS = {STDOUT: "stdout", STDERR: "stderr"}
