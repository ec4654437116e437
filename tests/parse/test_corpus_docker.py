"""The corpus through real containers and a real logship: stack traces of every runtime, structured lines
and ordinary lines (access logs, YAML and JSON pretty-prints, blank and indented lines), interleaved, with
lines longer than 16 KiB (dockerd splits them), on stdout and stderr at once. Every event arrives joined
exactly as written, every other line on its own, nothing lost, nothing glued to the wrong event; JSON lines
arrive with their message, level and attributes (issue 14 acceptance, points 1, 2, 3, 5).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.parse.helpers import events, jsonl, ordinary, split_back
from tests.support import TEST_IMAGE, DockerHarness, LogshipProcess, wait_until

pytestmark = pytest.mark.docker

LONG_TRACE = ["Traceback (most recent call last):", '  File "/app/x.py", line 3, in <module>',
              "ValueError: " + "v" * 40_000]


def interleaving(rng: random.Random) -> list[tuple[list[str], dict[str, Any] | None]]:
    """Blocks in a random order: each event, each ordinary line, each structured line, and long lines."""
    items: list[tuple[list[str], dict[str, Any] | None]] = [(block, None) for block in events()]
    items += [([line], None) for line in ordinary()]
    items += [([row["line"]], row) for row in jsonl("structured")]
    items += [(LONG_TRACE, None), (["x" * 16384], None), ([("long line " * 5000)[:45_000]], None)]
    rng.shuffle(items)
    return items


def test_the_corpus_on_stdout_and_stderr_arrives_as_written(docker: DockerHarness, logship: LogshipProcess,
                                                            tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    streams = {"stdout": interleaving(rng), "stderr": interleaving(rng)}
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, items in streams.items():
        (corpus / f"{name}.txt").write_text("".join(line + "\n" for block, _ in items for line in block))
    corpus.chmod(0o755)
    logship.start()
    logship.health_url()
    name = f"corpus-{docker.run_id}"
    # Both streams at once; the label gives the trace joiner room on a busy machine (default 1s).
    container = docker.client.containers.run(
        TEST_IMAGE, ["sh", "-c", "cat /corpus/stdout.txt & cat /corpus/stderr.txt >&2; wait"], name=name,
        detach=True, labels={**docker.labels, "logship.multiline.timeout": "5s"},
        volumes={str(corpus): {"bind": "/corpus", "mode": "ro"}})
    assert container.wait(timeout=60)["StatusCode"] == 0
    expected_count = sum(len(items) for items in streams.values())

    def arrived() -> list[dict[str, Any]] | None:
        logship.assert_alive()
        records = [r for r in logship.records() if r["container"]["name"] == name]
        return records if len(records) >= expected_count else None

    records = wait_until(arrived, 90, message=f"{expected_count} records of {name} (seed {seed})")
    for stream, items in streams.items():
        mine = [r for r in records if r["stream"] == stream]
        expected = [[row["message"]] if row else block for block, row in items]
        assert split_back(mine) == expected, f"seed {seed}, {stream}"
        for record, (block, row) in zip(mine, items, strict=True):
            if row is not None:
                assert (record.get("log") or {}).get("level") == row["level"], (seed, row["line"])
                assert record.get("attributes") == row["attributes"], (seed, row["line"])
            elif len(block) > 1:
                assert record["log"]["lines"] == len(block)
            else:
                assert "lines" not in (record.get("log") or {})
    assert logship.stop() == 0
