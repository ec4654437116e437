"""logship.record: the layout written by the real LineAssembler reads back through the cheap view."""

from __future__ import annotations

import operator
from itertools import repeat
from typing import Any

import orjson
import pytest

from logship.collect.lines import LineAssembler
from logship.record import (
    OTLP_SEVERITY,
    SPLIT,
    SYSLOG_SEVERITY,
    Columns,
    Reader,
    cut_utf8,
    decode,
    split_utf8,
    timestamp_text,
)
from tests.sinks.records import (
    LEVELS,
    METADATA,
    host_records,
    parsed,
    parsed_batch,
    records,
    replica_metadata,
    sample_batch,
)


def assembled() -> list[bytes]:
    """Real LineAssembler output: two streams, a cut long line, invalid UTF-8, quotes, a TTY line."""
    assembler = LineAssembler(METADATA, {}, 64)
    frames = [
        (1, b"2026-11-25T16:32:42.000000001Z plain line\n"),
        (2, b'2026-11-25T16:32:42.000000002Z error: "quoted" \\ ,"stream":"x" \xff\n'),
        (1, b"2026-11-25T16:32:42.000000003Z " + "é".encode() * 100 + b"\n"),
        (1, b"2026-11-25T16:32:42.000000004Z tty line\r\n"),
        (2, b"2026-11-25T16:32:42.000000005Z \n"),
    ]
    return assembler.feed(frames)


def test_line_assembler_output_round_trips_through_the_view() -> None:
    out = assembled()
    assert len(out) == 8  # the 200-byte line is cut into four parts
    reader = Reader()
    for record in out:
        line = reader.read(record)
        whole = orjson.loads(record)
        assert line.fields() == whole
        assert (line.timestamp, line.message, line.stream) == (whole["timestamp"], whole["message"], whole["stream"])
        assert line.partial == whole.get("partial")
        assert (line.level, line.lines, line.attributes, line.undecodable) == (None, None, None, False)
        # The split invariant: the first ,"stream":" starts the shared suffix.
        assert record[record.index(SPLIT):] == line.shared.key
        assert timestamp_text(record) == whole["timestamp"]
    parts = [reader.read(record).partial for record in out[2:6]]
    assert parts == [{"ordinal": n, "last": n == 4} for n in range(1, 5)]


def test_the_container_part_is_parsed_once_per_stream() -> None:
    reader = Reader()
    lines = [reader.read(record) for record in assembled()]
    stdout = {id(line.shared) for line in lines if line.stream == "stdout"}
    stderr = {id(line.shared) for line in lines if line.stream == "stderr"}
    assert len(stdout) == len(stderr) == 1
    assert lines[0].shared.fields == {"stream": "stdout", **METADATA}


def test_parsed_fields_read_as_record_md_lays_them_out() -> None:
    reader = Reader()
    lines = [reader.read(record) for record in parsed_batch().records]
    assert [line.level for line in lines] == ["error", "warn", "error", None]
    assert [line.lines for line in lines] == [None, None, 3, None]
    assert lines[0].attributes == {"user": 42, "db": {"host": "pg-1", "ok": False}, "tags": ["a", "b"],
                                   "_stream": "kafka"}
    assert lines[3].attributes == {"order": "A-17", "amount": 12.5}
    assert [line.stream for line in lines] == ["stdout", "stdout", "stderr", "stdout"]
    assert lines[0].shared is lines[1].shared  # the suffix is the same bytes with or without parsed fields
    for line, record in zip(lines, parsed_batch().records, strict=True):
        assert line.fields() == orjson.loads(record)


def test_a_stream_key_first_in_the_attributes_keeps_the_invariant() -> None:
    [base] = records([("stdout", "2026-11-25T16:32:42.000000001Z", "x\n")])
    record = parsed(base, attributes={"stream": "first", "inner": {"a": 1, "stream": "second"}})
    assert b'"attributes":{"stream":"first","inner":{"a":1,"_stream":"second"}}' in record
    line = Reader().read(record)
    assert line.stream == "stdout" and line.attributes == {"stream": "first", "inner": {"a": 1, "_stream": "second"}}


@pytest.mark.parametrize("record, message", [
    (b"not json", "not json"),
    (b"[1,2]", "[1,2]"),
    (b"\xff\xfe", "\ufffd\ufffd"),
])
def test_a_record_that_is_not_an_object_is_its_text(record: bytes, message: str) -> None:
    line = Reader().read(record)
    assert line.undecodable and line.message == message and line.shared.fields == {}
    assert decode(record) == ({"message": message}, True)


@pytest.mark.parametrize("record", [
    b'{"message":"no timestamp","stream":"stdout"}',
    b'{"stream":"stdout","timestamp":"2026-11-25T16:32:42Z","message":"other order","container":{"id":"c"}}',
    b'{"timestamp":"2026-11-25T16:32:42Z","message":"m","stream":"stdout","message":"again"}',
    b'{"timestamp":"2026-11-25T16:32:42Z","message":"m","extra":1,"stream":"stdout"}',
])
def test_records_not_in_the_layout_are_read_whole(record: bytes) -> None:
    line = Reader().read(record)
    assert not line.undecodable
    assert line.fields() == orjson.loads(record)
    assert list(line.fields()) == list(orjson.loads(record))  # the record's own key order


def test_level_mappings_cover_every_level() -> None:
    assert set(OTLP_SEVERITY) == set(SYSLOG_SEVERITY) == set(LEVELS)
    assert [OTLP_SEVERITY[level] for level in LEVELS] == [1, 5, 9, 13, 17, 21]
    assert [SYSLOG_SEVERITY[level] for level in LEVELS] == [7, 7, 6, 4, 3, 2]


def test_an_unknown_level_is_no_level() -> None:
    [base] = records([("stdout", "2026-11-25T16:32:42.000000001Z", "x\n")])
    record = base.replace(b',"stream":"', b',"log":{"level":"loud"},"stream":"', 1)
    assert Reader().read(record).level is None


def test_utf8_cutting() -> None:
    assert cut_utf8("aé".encode(), 2) == b"a"
    assert cut_utf8("aé".encode(), 3) == "aé".encode()
    assert cut_utf8("\U0001F600".encode(), 3) == b""
    text = "é日\U0001F600x" * 7
    for limit in range(1, 12):
        pieces = split_utf8(text.encode(), limit)
        assert b"".join(pieces) == text.encode()
        assert all(len(piece) <= max(limit, 4) for piece in pieces)
        if limit >= 4:
            assert "".join(piece.decode() for piece in pieces) == text


@pytest.mark.parametrize("levels", [False, True])
def test_plain_records_split_into_bytes_as_read_reads_them(levels: bool) -> None:
    """Reader.split (issue 15.1): a record with no per-line field but timestamp and message (and with
    ``levels``, a lone level) gives its parts as bytes, equal to what the parsing view reads; every other
    record gives None."""
    view = Reader()
    [base] = records([("stdout", "2026-11-25T16:32:42.000000009Z", 'lone "level" \\ é\n')])
    every = [*assembled(), *sample_batch().records, *parsed_batch().records,
             *(parsed(base, level=level) for level in LEVELS), parsed(base, level="info", lines=2),
             parsed(base, level="warn", attributes={"level": "x"})]
    found = Reader().split(every, levels=levels)
    plain = lone = 0
    for record, parts in zip(every, found, strict=True):
        line = view.read(record)
        if set(line.head) != {"timestamp", "message"} and not (
                levels and set(line.head) == {"timestamp", "message", "log"} and line.head["log"].keys() == {"level"}):
            assert parts is None
            continue
        assert parts is not None
        shared, stamp, raw, text, level = parts
        plain += level is None
        lone += level is not None
        assert shared.key == line.shared.key and shared.fields == line.shared.fields
        assert stamp.decode() == line.timestamp
        assert text == line.message.encode()
        assert b'"' + raw + b'"' == orjson.dumps(line.message)  # escaped as in the record: JSON-ready
        assert level == line.level
    assert plain >= 5 and any(parts[2] != parts[3] for parts in found if parts)
    assert lone == (len(LEVELS) + 1 if levels else 0)  # the parsed batch's "WARN cache cold" too


ODD_RECORDS = [
    b'{"timestamp":"2026-11-25T16:32:42.000000001Z","message":"m","extra":"x","stream":"stdout"}',
    b'{"timestamp":"2026-11-25T16:32:42.000000001Z","message":"a\\"b","extra":"c\\"","stream":"stdout"}',
    b'{"timestamp":"2026-11-25T16:32:42Z","message":"short stamp","stream":"stdout"}',
    b'{"message":"m","timestamp":"2026-11-25T16:32:42.000000001Z","stream":"stdout"}',
    b'{"timestamp":"2026-11-25T16:32:42.000000001Z","message":"\xff","stream":"stdout"}',
    b"not json",
]


@pytest.mark.parametrize("record", [
    *ODD_RECORDS,
    b'{"timestamp":"2026-11-25T16:32:42.000000001Z","message":"m","log":{"level":"loud"},"stream":"stdout"}',
    b'{"timestamp":"2026-11-25T16:32:42.000000001Z","message":"m","x":1,"log":{"level":"info"},"stream":"stdout"}',
    b'{"timestamp":"2026-11-25T16:32:42.000000001Z","message":"m\\"","x":"\\","log":{"level":"info"},"stream":"s"}',
])
def test_split_refuses_records_whose_head_is_more_than_timestamp_and_message(record: bytes) -> None:
    assert Reader().split([record], levels=True) == [None]


def test_odd_records_among_escaped_ones_do_not_shift_the_others_messages() -> None:
    """Two hand-made records whose quotes would move the boundaries of the batch's one decoding (one
    splits in two, the other joins two) leave every other message its own."""
    good = records([("stdout", f"2026-11-25T16:32:42.00000000{n}Z", f'say "{n}"\n') for n in range(4)])
    splits = b'{"timestamp":"2026-11-25T16:32:42.000000001Z","message":"p\\"q","r","stream":"stdout"}'
    joins = b'{"timestamp":"2026-11-25T16:32:42.000000001Z","message":"s\\","stream":"stdout"}'
    batch = [good[0], splits, good[1], joins, good[2], good[3]]
    found = Reader().split(batch)
    assert found[1] is None and found[3] is None
    assert [parts[3] for parts in found if parts] == [f'say "{n}"'.encode() for n in range(4)]


def _comparable(found: list[Any] | None) -> list[Any] | None:
    """Split parts with each ``Shared`` as its key (each Reader makes its own objects)."""
    return None if found is None else [parts and (parts[0].key, *parts[1:]) for parts in found]


def _split_one_by_one(monkeypatch: pytest.MonkeyPatch, batch: list[bytes]) -> list[Any] | None:
    with monkeypatch.context() as patched:
        patched.setattr(Reader, "columns", lambda self, records: None)
        return _comparable(Reader().split(batch))


@pytest.mark.parametrize("streams", [("stdout",), ("stdout", "stderr")])
def test_a_batch_of_one_container_splits_at_once_as_record_by_record(monkeypatch: pytest.MonkeyPatch,
                                                                    streams: tuple[str, ...]) -> None:
    """The whole-batch path of ``Reader.split`` (one container's stdout and stderr, every record plain)
    gives exactly the loop's parts: escapes, quotes, non-ASCII, empty and multi-line messages."""
    texts = ["plain\n", 'say "hi" \\ \t\n', "é 日本 \U0001F600\n", "\n", "multi\nline\n", "x" * 300 + "\n"]
    batch = records([(streams[n % len(streams)], f"2026-11-25T16:32:42.{n:09d}Z", text)
                     for n, text in enumerate(texts * 3)])
    reader = Reader()
    columns = reader.columns(batch)
    assert columns is not None
    whole = list(zip(*columns, repeat(None)))
    assert _comparable(whole) == _split_one_by_one(monkeypatch, batch) == _comparable(Reader().split(batch))
    assert _comparable(Reader().split(batch, levels=True)) == _comparable(whole)
    assert [parts[3].decode() for parts in whole] == [orjson.loads(r)["message"] for r in batch]


def test_a_batch_the_whole_batch_path_cannot_take_is_split_record_by_record(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A third suffix, a record with more than timestamp and message, a record that ends a message with a
    quote of its own, an escaped timestamp: the whole-batch path declines and the loop decides each."""
    base = records([("stdout", f"2026-11-25T16:32:42.{n:09d}Z", f'line "{n}"\n') for n in range(4)])
    other = records([("stdout", "2026-11-25T16:32:43.000000001Z", "other container\n")],
                    metadata={**METADATA, "host": {"name": "elsewhere"}})
    stderr = records([("stderr", "2026-11-25T16:32:44.000000001Z", "on stderr\n")])
    cases = [
        [*base, *stderr, *other],  # three suffixes
        [*base, parsed(base[0], level="info")],  # a parsed line
        [*base, base[1].replace(b'\\"1\\"', b'1", "x":"')],  # a quote of its own: another key follows
        [*base, base[2].replace(b"16:32:42", b"16:32\\u003a42", 1)],  # an escape in the timestamp
    ]
    for batch in cases:
        assert Reader().columns(batch) is None
        assert _comparable(Reader().split(batch)) == _split_one_by_one(monkeypatch, batch)
    assert Reader().split(cases[2])[-1] is None and Reader().split(cases[3])[-1] is None


@pytest.mark.parametrize("replicas, run", [(3, 1), (4, 5), (16, 3)])
def test_a_hosts_batch_split_by_the_loop_becomes_columns(replicas: int, run: int) -> None:
    """Several containers' stdout and stderr in runs (a host's batch, which ``columns`` leaves to the loop):
    ``Columns.of`` the loop's parts gives each record its own parts, its own container's shared part."""
    texts = ["plain\n", 'say "hi" \\ \t\n', "é 日本 \U0001F600\n", "\n", "multi\nline\n", "x" * 300 + "\n"]
    batch = host_records([("stderr" if n % 5 == 2 else "stdout", f"2026-11-25T16:32:{42 + n // 7}.{n:09d}Z",
                           texts[n % len(texts)]) for n in range(len(texts) * 2)], replicas, run)
    assert Reader().columns(batch) is None
    plains = Reader().split(batch)
    columns = Columns.of(plains)
    assert columns is not None
    assert _comparable(columns.plains()) == _comparable(plains)
    assert [text.decode() for text in columns.texts] == [orjson.loads(r)["message"] for r in batch]
    assert [shared.fields["container"]["id"] for shared in columns.shareds] == [
        orjson.loads(r)["container"]["id"] for r in batch]
    assert len({shared.key for shared in columns.shareds}) == 2 * replicas


def test_a_hosts_batch_in_long_runs_is_columns_at_once() -> None:
    """Several containers' reads of 40 lines one after the other (a host's batch): ``columns`` finds the
    runs and gives every record the loop's parts; runs it cannot vouch for leave the batch to the loop."""
    texts = ["plain\n", 'say "hi" \\ \t\n', "é 日本 \U0001F600\n", "\n", "x" * 300 + "\n"]
    lines = [("stdout", f"2026-11-25T16:32:{42 + n // 50}.{n:09d}Z", texts[n % len(texts)]) for n in range(120)]
    batch = host_records(lines, 4, 40)
    assert Reader().columns(batch) is None  # unless asked for runs: only parts (for sinks that write it at once)
    columns = Reader().columns(batch, runs=True)
    assert columns is not None and isinstance(Reader().parts(batch), Columns)
    assert _comparable(columns.plains()) == _comparable(Reader().split(batch, whole=False))
    assert [shared.fields["container"]["id"] for shared in columns.shareds] == [
        orjson.loads(r)["container"]["id"] for r in batch]
    for at in (41, 50, 63, 64, 65, 79):  # another container's line inside a run, where the search may step
        inside = [*batch[:at], *records(lines[:1], metadata=replica_metadata(7)), *batch[at:]]
        found = Reader().columns(inside, runs=True)
        assert found is not None and _comparable(found.plains()) == _comparable(Reader().split(inside, whole=False))
    # A container that comes back after others (the doubling steps land in its later run): A B C B A.
    of = [records(lines, replica_metadata(replica)) for replica in range(3)]
    back = [*of[0][:40], *of[1][:40], *of[2][:5], *of[1][40:100], *of[0][40:120]]
    found = Reader().columns(back, runs=True)
    assert found is not None and _comparable(found.plains()) == _comparable(Reader().split(back, whole=False))
    leveled = [*batch[:60], parsed(batch[60], level="warn"), *batch[61:]]  # a lone level inside a run
    short = host_records(lines, 4, 3)  # runs of 3: the loop costs less
    for declined in (leveled, short):
        assert Reader().columns(declined, runs=True) is None
        assert _comparable(Reader().split(declined)) == _comparable(Reader().split(declined, whole=False))


def test_a_host_the_sample_misses_is_columns_by_its_runs_all_the_same() -> None:
    """``columns`` tells a host's batch from one container's by a sample of its records' suffixes (every
    64th and the last); a third container whose run falls between the sampled records is found all the
    same (the two-suffix way fails on it, the runs take it), and two containers in runs are two suffixes."""
    lines = [("stdout", f"2026-11-25T16:32:{42 + n // 50}.{n:09d}Z", f'line {n} "q"\n') for n in range(200)]
    of = [records(lines, replica_metadata(replica)) for replica in range(3)]
    hidden = [*of[0][:70], *of[2][:40], *of[1][:24], *of[0][70:]]  # container 2 at 70-109: no record sampled
    sampled = set(range(0, len(hidden), 64)) | {len(hidden) - 1}
    assert not sampled & set(range(70, 110))
    for batch in (hidden, [*of[0][:100], *of[1][:100]]):
        columns = Reader().columns(batch, runs=True)
        assert columns is not None
        assert _comparable(columns.plains()) == _comparable(Reader().split(batch, whole=False))
    assert Reader().columns(hidden) is None  # three suffixes, not asked for runs: the loop


@pytest.mark.parametrize("runs", [False, True])
def test_a_record_that_does_not_open_as_the_layout_leaves_the_batch_to_the_loop(runs: bool) -> None:
    """Every record's head is checked byte for byte (``{"timestamp":"`` and ``","message":"`` around a
    30-byte timestamp, all records at once): one record off by a byte anywhere in them, or too short to
    hold them, and ``columns`` declines the batch, whose split is then the loop's."""
    lines = [("stdout", f"2026-11-25T16:32:{42 + n // 50}.{n:09d}Z", f"line {n}\n") for n in range(150)]
    batch = host_records(lines, 3, 50) if runs else records(lines)
    assert Reader().columns(batch, runs=runs) is not None
    for at in (*range(14), *range(44, 57)):
        record = batch[77]
        changed = [*batch[:77], record[:at] + b"X" + record[at + 1:], *batch[78:]]
        assert Reader().columns(changed, runs=runs) is None, at
        assert _comparable(Reader().split(changed)) == _comparable(Reader().split(changed, whole=False))
    short = [*batch[:77], b'{"timestamp":"2026-11-25T16:32:42Z","message":"x","stream":"stdout"}', *batch[78:]]
    assert Reader().columns(short, runs=runs) is None


def test_columns_of_a_batch_with_a_parsed_line_or_a_level_is_none() -> None:
    batch = host_records([("stdout", f"2026-11-25T16:32:42.{n:09d}Z", f"line {n}\n") for n in range(4)], 2, 2)
    assert Columns.of(Reader().split(batch)) is not None
    with_level = [*batch, parsed(batch[0], level="warn")]
    assert Columns.of(Reader().split(with_level, levels=True)) is None  # a lone level: split, not plain
    assert Columns.of(Reader().split([*batch, parsed(batch[0], attributes={"a": 1})])) is None
    assert Columns.of([]) is None


def test_parts_are_columns_when_every_record_is_plain_and_the_split_otherwise() -> None:
    one = records([("stdout", f"2026-11-25T16:32:42.{n:09d}Z", f"line {n}\n") for n in range(4)])
    host = host_records([("stdout", f"2026-11-25T16:32:42.{n:09d}Z", f"line {n}\n") for n in range(4)], 3, 2)
    assert isinstance(Reader().parts(one), Columns) and isinstance(Reader().parts(host), Columns)
    leveled = [*host, parsed(host[0], level="warn")]
    found = Reader().parts(leveled, levels=True)
    assert not isinstance(found, Columns) and _comparable(found) == _comparable(Reader().split(leveled, levels=True))
    assert found[-1] is not None and found[-1][4] == "warn"


def test_body_or_split_gives_the_whole_batch_body_or_the_split_for_the_loop() -> None:
    one = records([("stdout", f"2026-11-25T16:32:42.{n:09d}Z", f"line {n}\n") for n in range(4)])
    seen: list[Columns] = []

    def whole(columns: Columns) -> bytes | None:
        seen.append(columns)
        return b"body of %d" % len(columns.stamps)

    assert Reader().body_or_split(one, whole) == b"body of 4"
    assert _comparable(seen[0].plains()) == _comparable(Reader().split(one))
    declined = Reader().body_or_split(one, lambda columns: None)  # the sink's whole-batch way declined
    assert not isinstance(declined, bytes) and _comparable(declined) == _comparable(Reader().split(one, levels=True))
    leveled = [*one, parsed(one[0], level="warn")]  # no columns: the split, with levels, and no call
    seen.clear()
    found = Reader().body_or_split(leveled, whole)
    assert not seen and not isinstance(found, bytes)
    assert _comparable(found) == _comparable(Reader().split(leveled, levels=True))
    assert found[-1] is not None and found[-1][4] == "warn"


def test_texts_without_an_escape_are_the_raw_messages_themselves() -> None:
    """A batch with no backslash in any message: each text is its raw bytes (the same object, as the loop
    gives it), also for bytes orjson would have escaped in a hand-made record; a quote of its own or
    invalid UTF-8 leaves the batch to the loop, which decides each record."""
    plain = records([("stdout", f"2026-11-25T16:32:42.{n:09d}Z", f"line {n} é 日本\n") for n in range(5)])
    columns = Reader().columns(plain)
    assert columns is not None and all(map(operator.is_, columns.texts, columns.raws))
    assert _comparable(columns.plains()) == _comparable(Reader().split(plain, whole=False))
    control = [*plain, plain[0].replace(b"line 0", b"line \x01")]  # a control byte, unescaped
    found = Reader().columns(control)
    assert found is not None and found.texts[-1] == "line \x01 é 日本".encode()
    assert _comparable(found.plains()) == _comparable(Reader().split(control, whole=False))
    for odd in (plain[1].replace(b"line 1", b'line", "x":"1'), plain[2].replace("é".encode(), b"\xc3")):
        assert Reader().columns([*plain, odd]) is None
        assert Reader().split([*plain, odd], whole=False)[-1] is None


def test_dockers_stamps_says_whether_every_timestamp_is_dockers_to_its_end() -> None:
    batch = records([("stdout", f"2026-11-25T16:32:42.{n:09d}Z", f"line {n}\n") for n in range(3)])
    columns = Reader().columns(batch)
    assert columns is not None and columns.dockers_stamps()
    for odd in (b"2026-11-25T16:32:42.00000000aZ", b"2026-11-25T16:32:42.000000002+", b"2026-11-25T16:32:42Z"):
        assert not columns._replace(stamps=[*columns.stamps[:2], odd]).dockers_stamps()
