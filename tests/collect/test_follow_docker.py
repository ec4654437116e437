"""End to end against a real dockerd: what containers write is what the file output holds, once."""

from __future__ import annotations

import collections
import time

import pytest

from tests.support import DockerHarness, LogshipProcess, wait_until

pytestmark = pytest.mark.docker

LONG = 40_000


def counting_script(lines: int, *, stderr: bool = True, long_line: bool = True, tail: str | None = None,
                    then: str = "") -> str:
    """A script writing `out N` (and `err N` on stderr) for N = 1..lines, then extras."""
    body = f'i=1; while [ $i -le {lines} ]; do echo "out $i"; '
    body += 'echo "err $i" >&2; ' if stderr else ""
    body += "i=$((i+1)); done; "
    if long_line:
        body += f"head -c {LONG} /dev/zero | tr '\\0' x; echo; "
    if tail:
        body += f"printf '{tail}'; "
    return body + then


def expected_stdout(lines: int, *, long_line: bool = True, tail: str | None = None) -> list[str]:
    expected = [f"out {i}" for i in range(1, lines + 1)]
    if long_line:
        expected.append("x" * LONG)
    if tail:
        expected.append(tail)
    return expected


def test_twenty_containers_every_line_once_in_order(docker: DockerHarness, logship: LogshipProcess) -> None:
    containers: dict[str, tuple[list[str], list[str]]] = {}

    def start(index: int) -> None:
        name = f"ls-{docker.run_id}-{index}"
        kind = index % 5
        if kind == 0:  # exits right away after three lines
            docker.run("echo one; echo two; echo three", name=name)
            containers[name] = (["one", "two", "three"], [])
        elif kind == 1:  # TTY: \r\n line ends, everything is stdout
            docker.run(counting_script(30, stderr=False), name=name, tty=True)
            containers[name] = (expected_stdout(30), [])
        elif kind == 2:  # keeps running after writing
            docker.run(counting_script(50, then="sleep 3600"), name=name)
            containers[name] = (expected_stdout(50), [f"err {i}" for i in range(1, 51)])
        else:  # exits with a last line without newline
            docker.run(counting_script(50, tail="tail-no-newline"), name=name)
            containers[name] = (expected_stdout(50, tail="tail-no-newline"), [f"err {i}" for i in range(1, 51)])

    for index in range(5):  # before logship starts: found by listing
        start(index)
    logship.start()
    for index in range(5, 20):  # while it runs: found through events
        start(index)

    for name, (stdout, stderr) in containers.items():
        logship.wait_for_messages(name, len(stdout) + len(stderr), timeout=90)
    time.sleep(1)  # anything repeated would arrive now
    for name, (stdout, stderr) in containers.items():
        assert logship.messages(name, "stdout") == stdout, name
        assert logship.messages(name, "stderr") == stderr, name
    records = logship.records()
    assert {r["stream"] for r in records} == {"stdout", "stderr"}
    assert all(r["timestamp"].endswith("Z") and len(r["timestamp"]) == 30 for r in records)
    assert logship.stop() == 0


def test_four_fast_writers_200k_lines_each(docker: DockerHarness, logship: LogshipProcess) -> None:
    names = [f"fast-{docker.run_id}-{i}" for i in range(4)]
    logship.start()
    for name in names:
        docker.run("seq 200000", name=name)
    expected = [str(i) for i in range(1, 200_001)]
    for name in names:
        logship.wait_for_messages(name, 200_000, timeout=180)
    time.sleep(1)
    for name in names:
        assert logship.messages(name) == expected, name
    assert logship.stop() == 0


def test_rotation_replays_are_not_repeated(docker: DockerHarness, logship: LogshipProcess) -> None:
    name = f"rot-{docker.run_id}"
    lines = 60_000
    pad = "p" * 100
    # ~10,000 lines/s of ~110 bytes through a 1 MB json-file kept in 3 files: about 6 rotations.
    script = (f'i=1; while [ $i -le {lines} ]; do echo "$i {pad}"; '
              'i=$((i+1)); [ $((i % 100)) -eq 0 ] && usleep 10000; done; true')
    logship.start()
    docker.run(script, name=name, log_config={"type": "json-file", "config": {"max-size": "1m", "max-file": "3"}})
    wait_until(lambda: docker.client.containers.get(name).status == "exited", 120, message="writer finished")
    logship.wait_for_messages(name, lines, timeout=60)
    time.sleep(1)
    numbers = [int(m.split()[0]) for m in logship.messages(name)]
    repeated = [n for n, c in collections.Counter(numbers).items() if c > 1]
    assert not repeated, f"{len(repeated)} lines repeated, e.g. {repeated[:5]}"
    assert numbers == list(range(1, lines + 1))
    assert logship.stop() == 0


def test_local_driver_long_lines_come_out_whole(docker: DockerHarness, logship: LogshipProcess) -> None:
    name = f"local-{docker.run_id}"
    sizes = [10, 16383, 16384, 16385, 40000, 200_000]
    script = "".join(f"head -c {n} /dev/zero | tr '\\0' {chr(97 + i)}; echo; " for i, n in enumerate(sizes))
    script += "echo short; printf end-without-newline"
    logship.start()
    docker.run(script, name=name, log_config={"type": "local", "config": {}})
    expected = [chr(97 + i) * n for i, n in enumerate(sizes)] + ["short", "end-without-newline"]
    logship.wait_for_messages(name, len(expected), timeout=60)
    time.sleep(1)
    assert logship.messages(name) == expected


def steady_writer(lines: int) -> str:
    """About 1,000 lines/s, numbered 1..lines, on stdout and stderr alternately."""
    return (f'i=1; while [ $i -le {lines} ]; do if [ $((i % 2)) -eq 0 ]; then echo "$i"; else echo "$i" >&2; fi; '
            'i=$((i+1)); [ $((i % 50)) -eq 0 ] && usleep 50000; done; true')


def test_graceful_restart_loses_and_repeats_nothing(docker: DockerHarness, logship: LogshipProcess) -> None:
    names = [f"grace-{docker.run_id}-{i}" for i in range(3)]
    lines = 8000
    logship.start()
    for name in names:
        docker.run(steady_writer(lines), name=name)
    logship.wait_for_messages(names[0], 1000, timeout=60)
    assert logship.stop() == 0
    time.sleep(2)  # the containers keep writing while logship is down
    logship.start()
    for name in names:
        logship.wait_for_messages(name, lines, timeout=120)
    time.sleep(1.5)
    for name in names:
        numbers = sorted(int(m) for m in logship.messages(name))
        assert numbers == list(range(1, lines + 1)), f"{name}: {len(numbers)} records for {lines} lines"
    assert logship.stop() == 0


def test_kill_9_loses_nothing(docker: DockerHarness, logship: LogshipProcess) -> None:
    names = [f"kill-{docker.run_id}-{i}" for i in range(3)]
    lines = 8000
    logship.start()
    for name in names:
        docker.run(steady_writer(lines), name=name)
    for moment in (1500, 4000):
        logship.wait_for_messages(names[0], moment, timeout=60)
        logship.kill()
        time.sleep(1)
        logship.start()
    for name in names:
        logship.wait_for_messages(name, lines, timeout=120)
    time.sleep(1.5)
    duplicates = 0
    for name in names:
        counts = collections.Counter(int(m) for m in logship.messages(name))
        assert set(counts) == set(range(1, lines + 1)), f"{name}: lines lost"
        duplicates += sum(c - 1 for c in counts.values())
    print(f"kill -9 twice: {duplicates} duplicate lines of {3 * lines}")
    assert logship.stop() == 0
