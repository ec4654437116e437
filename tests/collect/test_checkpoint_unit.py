"""CheckpointStore: the checkpoints file round trip, atomic save leftovers and corruption recovery."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from logship.collect.checkpoint import CheckpointStore
from logship.collect.positions import Mark

CID_A = "6ca5" + "a" * 60
CID_B = "7db6" + "b" * 60
T1 = b"2026-11-25T16:37:09.305268574Z"
T2 = b"2026-11-25T16:37:09.301000000Z"
T3 = b"2026-11-25T16:37:10.000000000Z"


def saved(store: CheckpointStore) -> None:
    content = store.snapshot()
    assert content is not None
    store.write(content)


def fresh(path: Path) -> CheckpointStore:
    store = CheckpointStore(path)
    store.load()
    return store


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "state" / "checkpoints.json"
    store = fresh(path)
    assert store.container_ids() == set()
    assert store.get(CID_A) == {}
    store.advance(CID_A, {"stdout": Mark(T1, 3), "stderr": Mark(T2, 1)})
    store.advance(CID_B, {"stdout": Mark(T3, 1)})
    before = time.time()
    saved(store)

    document = orjson.loads(path.read_bytes())
    assert before <= document.pop("snapshot_at") <= time.time()
    assert document == {
        "version": 1,
        "containers": {CID_A: {"stdout": [T1.decode(), 3], "stderr": [T2.decode(), 1]},
                       CID_B: {"stdout": [T3.decode(), 1]}}}
    again = fresh(path)
    assert again.snapshot_time is not None and before <= again.snapshot_time
    assert again.container_ids() == {CID_A, CID_B}
    assert again.get(CID_A) == {"stdout": Mark(T1, 3), "stderr": Mark(T2, 1)}
    assert again.get(CID_B) == {"stdout": Mark(T3, 1)}
    assert not again.recovered_from_corruption
    assert not (tmp_path / "state" / "checkpoints.json.tmp").exists()


def test_get_returns_a_copy(tmp_path: Path) -> None:
    store = fresh(tmp_path / "checkpoints.json")
    store.advance(CID_A, {"stdout": Mark(T1, 1)})
    store.get(CID_A)["stderr"] = Mark(T2, 1)
    assert store.get(CID_A) == {"stdout": Mark(T1, 1)}


def test_snapshot_is_none_when_nothing_changed(tmp_path: Path) -> None:
    store = fresh(tmp_path / "checkpoints.json")
    assert store.snapshot() is None, "nothing loaded, nothing advanced"
    store.advance(CID_A, {})
    assert store.snapshot() is None, "empty marks change nothing"
    store.advance(CID_A, {"stdout": Mark(T1, 1)})
    assert store.snapshot() is not None
    assert store.snapshot() is None, "already taken"
    store.advance(CID_A, {"stdout": Mark(T1, 1)})
    assert store.snapshot() is None, "the same marks again"
    store.advance(CID_A, {"stdout": Mark(T1, 2)})
    assert store.snapshot() is not None, "a new count is a change"
    store.remove(CID_B)
    assert store.snapshot() is None, "removing an unknown container changes nothing"


def test_snapshot_none_after_load(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.json"
    store = fresh(path)
    store.advance(CID_A, {"stdout": Mark(T1, 1)})
    saved(store)
    assert fresh(path).snapshot() is None


def test_mark_dirty_after_a_failed_save(tmp_path: Path) -> None:
    store = fresh(tmp_path / "checkpoints.json")
    store.advance(CID_A, {"stdout": Mark(T1, 1)})
    first = orjson.loads(store.snapshot() or b"")
    store.mark_dirty()
    again = orjson.loads(store.snapshot() or b"")
    assert again["containers"] == first["containers"]


def test_remove_drops_a_container(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.json"
    store = fresh(path)
    store.advance(CID_A, {"stdout": Mark(T1, 1)})
    store.advance(CID_B, {"stderr": Mark(T2, 2)})
    saved(store)
    store.remove(CID_A)
    assert store.get(CID_A) == {}
    saved(store)
    again = fresh(path)
    assert again.container_ids() == {CID_B}
    assert again.get(CID_B) == {"stderr": Mark(T2, 2)}


def test_leftover_tmp_is_removed_and_the_old_file_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.json"
    store = fresh(path)
    store.advance(CID_A, {"stdout": Mark(T1, 3)})
    saved(store)
    temp = tmp_path / "checkpoints.json.tmp"
    temp.write_bytes(b'{"version": 1, "containers": {"half-writ')
    again = fresh(path)
    assert not temp.exists()
    assert again.get(CID_A) == {"stdout": Mark(T1, 3)}
    assert not again.recovered_from_corruption


def test_leftover_tmp_without_a_file(tmp_path: Path) -> None:
    temp = tmp_path / "checkpoints.json.tmp"
    temp.write_bytes(b"{")
    store = fresh(tmp_path / "checkpoints.json")
    assert not temp.exists()
    assert store.container_ids() == set()
    assert not store.recovered_from_corruption


def test_missing_folder_is_created(tmp_path: Path) -> None:
    store = fresh(tmp_path / "a" / "b" / "checkpoints.json")
    assert (tmp_path / "a" / "b").is_dir()
    assert store.container_ids() == set()


def doc(containers: object, version: object = 1) -> bytes:
    return orjson.dumps({"version": version, "containers": containers})


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty-file"),
        pytest.param(b"not json at all", id="not-json"),
        pytest.param(b"\xff\xfe\x00garbage", id="binary"),
        pytest.param(b'{"version": 1, "containers": {', id="truncated"),
        pytest.param(b"[]", id="a-list"),
        pytest.param(doc({}, version=2), id="wrong-version"),
        pytest.param(orjson.dumps({"containers": {}}), id="no-version"),
        pytest.param(orjson.dumps({"version": 1}), id="no-containers"),
        pytest.param(doc([]), id="containers-not-an-object"),
        pytest.param(doc({CID_A: []}), id="container-not-an-object"),
        pytest.param(doc({CID_A: {"stdin": [T1.decode(), 1]}}), id="unknown-stream"),
        pytest.param(doc({CID_A: {"stdout": [T1.decode()]}}), id="mark-too-short"),
        pytest.param(doc({CID_A: {"stdout": "x"}}), id="mark-not-a-list"),
        pytest.param(doc({CID_A: {"stdout": ["yesterday", 1]}}), id="bad-timestamp"),
        pytest.param(doc({CID_A: {"stdout": [T1.decode(), -1]}}), id="negative-count"),
        pytest.param(doc({CID_A: {"stdout": [T1.decode(), "3"]}}), id="count-a-string"),
        pytest.param(doc({CID_A: {"stdout": [T1.decode(), 1.5]}}), id="count-a-float"),
    ],
)
def test_corrupt_file_is_moved_aside_and_the_store_starts_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "checkpoints.json"
    path.write_bytes(content)
    store = fresh(path)
    assert store.recovered_from_corruption
    assert store.container_ids() == set()
    assert not path.exists()
    assert (tmp_path / "checkpoints.json.corrupt").read_bytes() == content
    # The store works from scratch and saves a fresh file.
    store.advance(CID_A, {"stdout": Mark(T1, 1)})
    saved(store)
    again = fresh(path)
    assert again.get(CID_A) == {"stdout": Mark(T1, 1)}
    assert not again.recovered_from_corruption


def test_short_fraction_in_file_is_normalised(tmp_path: Path) -> None:
    path = tmp_path / "checkpoints.json"
    path.write_bytes(doc({CID_A: {"stdout": ["2026-11-25T16:37:49.01245274Z", 2]}}))
    assert fresh(path).get(CID_A) == {"stdout": Mark(b"2026-11-25T16:37:49.012452740Z", 2)}
