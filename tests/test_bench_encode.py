"""``python -m bench encode --records-from``: a batch of real records (a file sink's output) encoded by
every sink, as the bench's own batch is."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import encode as bench_encode
from tests.sinks.records import host_records


def test_a_file_sinks_output_is_encoded_by_every_sink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    written = host_records([("stdout", f"2026-11-25T16:32:42.{n:09d}Z", f"line {n}\n") for n in range(30)], 3, 7)
    path = tmp_path / "containers.ndjson"
    path.write_bytes(b"\n".join(written) + b"\n")
    batch = bench_encode.records_from(str(path), 50)
    assert batch.records == written[:50] and batch.nbytes == sum(map(len, written[:50]))
    assert bench_encode.main(["--records-from", str(path), "--records", "90", "--repeat", "1", "--parsed"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert set(rows) == set(bench_encode.encoders())
    assert all(len(figures) == 2 and all(float(figure) >= 0 for figure in figures) for figures in rows.values())
