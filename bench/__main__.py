"""``python -m bench {backlog,steady,churn,outage,all,encode,parse,faults,cleanup} [options]`` — see bench/README.md."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from bench import encode, faults, parse, report, scenarios
from bench.agent import ProcessError
from bench.engine import BENCH_LABEL, Docker, DockerError
from bench.machine import REPO_ROOT, dockerd_pid, engine_pids, git_state, machine_info, unpin
from bench.scenarios import BenchError, Context
from bench.stores import SINKS, STORES

DEFAULT_RESULTS = Path(__file__).resolve().parent / "results"


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _choices(*allowed: str) -> Callable[[str], list[str]]:
    """A comma list whose items are each one of ``allowed``."""
    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        bad = [item for item in items if item not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a comma list of {', '.join(allowed)}")
        return items
    return parse


def _range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS,
                        help="where results/<run id>/ goes (default bench/results)")
    common.add_argument("--record", action="store_true", help="also write bench/RESULTS.md from this run")
    common.add_argument("--note", default="", help="a sentence for RESULTS.md (e.g. how busy the machine was)")
    common.add_argument("--keep", action="store_true", help="keep logship's data dirs and outputs (temp dir)")
    common.add_argument("--no-charts", action="store_true")
    common.add_argument("--image", default="busybox:local")
    common.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment of logship (repeatable), e.g. --env LOGSHIP_BUFFER_FSYNC=always "
                             "or --env MALLOC_ARENA_MAX=2")
    common.add_argument("--create-concurrency", type=int, default=8, help="containers created at once")
    common.add_argument("--http-compression", default="gzip", choices=("gzip", "none", "zstd"),
                        help="LOGSHIP_HTTP_COMPRESSION for the http sink (default gzip, logship's default)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    backlog = commands.add_parser("backlog", parents=[common], help="read a finished backlog; with the ceiling")
    backlog.add_argument("--containers", type=_ints, default=[4], help="comma list, e.g. 1,4,16 (default 4)")
    backlog.add_argument("--lines", type=int, default=200_000, help="lines per container (default 200000)")
    backlog.add_argument("--sink", type=_choices(*SINKS), default=["file"],
                         help="comma list of " + ", ".join(SINKS) + " (default file); a store's sink ships to a "
                              "cheap fake of it (bench/stores.py); with file in the list, each store's host CPU "
                              "per line is also given relative to the file sink's")
    backlog.add_argument("--ceiling", choices=("both", "before", "after", "none"), default="both",
                         help="when to measure the ceiling, same containers (default both: before and after)")
    backlog.add_argument("--profile", nargs="?", const="gil", default="", choices=("gil", "active", "idle"),
                         help="py-spy record logship meanwhile (slows it a bit); gil (default): samples of the "
                              "thread holding the GIL only; active: every busy thread; idle: waits too")
    backlog.add_argument("--timeout", type=float, default=1800)
    backlog.add_argument("--writers", type=_choices("running", "exited"), default=["running"],
                         help="comma list: the writers keep running after their backlog (running, the default: "
                              "what a restart meets) or exit (exited); running,exited compares both in one run")
    backlog.add_argument("--rounds", type=int, default=1,
                         help="run every case this many times, in turn (file, loki, …, file, loki, …): the "
                              "report adds each sink's mean CPU per line and a store's ratio of the means to the "
                              "file sink's (one run's ratio moves by ±20 %% on a 2-core machine)")
    backlog.add_argument("--pin", action="store_true",
                         help="once the writers are done, run dockerd and containerd on CPU 0 and the reader and "
                              "logship on the other CPUs (each side with CPUs of its own, instead of sharing)")

    steady = commands.add_parser("steady", parents=[common], help="paced writers followed live: CPU, RSS, latency")
    steady.add_argument("--rate", type=_floats, default=[10_000.0], help="lines/s of all containers together; "
                        "comma list for several levels (default 10000)")
    steady.add_argument("--containers", type=int, default=100)
    steady.add_argument("--seconds", type=float, default=60)
    steady.add_argument("--sink", choices=("file", "http"), default="file")
    steady.add_argument("--batch-max-wait", default="1s", help="LOGSHIP_BATCH_MAX_WAIT (default 1s)")
    steady.add_argument("--tick-ms", type=int, default=100, help="writers write a burst every tick (default 100)")
    steady.add_argument("--writer-cpus", type=float, default=0, help="--cpus of each writer (default: no limit)")
    steady.add_argument("--drain-timeout", type=float, default=120)
    steady.add_argument("--profile", nargs="?", const="gil", default="", choices=("gil", "active", "idle"),
                        help="py-spy record logship while the writers write (see backlog --profile)")
    steady.add_argument("--twin-tree", type=Path, default=None,
                        help="also run logship from this checkout, following the same writers at the same time "
                             "(a before/after pair measured over one window)")
    steady.add_argument("--twin-env", action="append", default=[], metavar="NAME=VALUE",
                        help="the twin's extra environment (--env is the measured tree's only)")

    churn = commands.add_parser("churn", parents=[common], help="short-lived containers: share of lines delivered")
    churn.add_argument("--rate", type=float, default=10, help="containers started per second (default 10)")
    churn.add_argument("--seconds", type=float, default=60)
    churn.add_argument("--life-ms", type=_range, default=(50, 500), help="lifetime range (default 50-500)")
    churn.add_argument("--lines-per-container", type=int, default=20)
    churn.add_argument("--sink", choices=("file", "http"), default="file")
    churn.add_argument("--auto-remove", action="store_true", help="start them with --rm (AutoRemove)")
    churn.add_argument("--drain-timeout", type=float, default=120)

    outage = commands.add_parser("outage", parents=[common], help="http sink down for a while under load")
    outage.add_argument("--rate", type=float, default=5000)
    outage.add_argument("--containers", type=int, default=50)
    outage.add_argument("--before", type=float, default=30, help="seconds of load before the outage")
    outage.add_argument("--down", type=float, default=120, help="seconds the sink is down")
    outage.add_argument("--after", type=float, default=60, help="seconds of load after it is back")
    outage.add_argument("--drain-timeout", type=float, default=600)

    every = commands.add_parser("all", parents=[common], help="the full matrix of issues #6 and #15 (about 25 min)")
    every.add_argument("--scale", type=float, default=1.0,
                       help="multiply sizes and durations (not rates or container counts), e.g. 0.25")
    every.add_argument("--small", action="store_true",
                       help="validation sizes for a busy machine (a few minutes): backlog 1/4/16 x 20,000 lines, "
                            "steady 2,000 lines/s from 20 containers for 15 s, churn 15 s, outage 20 s at "
                            "2,000 lines/s")
    every.add_argument("--profile", nargs="?", const="gil", default="", choices=("gil", "active", "idle"),
                       help="also profile a 4-container backlog with py-spy (a separate run)")

    again = commands.add_parser("report", help="print saved runs again; --record writes bench/RESULTS.md from them")
    again.add_argument("run", nargs="*", type=Path, default=[DEFAULT_RESULTS / "latest"],
                       help="runs' directories, merged in this order (default bench/results/latest)")
    again.add_argument("--record", action="store_true")
    again.add_argument("--note", default="")
    again.add_argument("--charts", action="store_true", help="draw the charts again")

    encode.add_arguments(commands.add_parser(
        "encode", help="each sink's encoding of one batch, CPU µs per line, in-process (no Docker)"))

    parse.add_arguments(commands.add_parser(
        "parse", help="what understanding lines costs (multiline, JSON, levels), CPU µs per line, in-process"))

    faults.add_arguments(commands.add_parser(
        "faults", help="the fault table of issue 12: lines written, delivered, lost, duplicated, seconds to recover "
                       "per fault (writes bench/RESULTS.md's faults section)"))

    commands.add_parser("cleanup", help=f"remove every container labelled {BENCH_LABEL} (any run), and let dockerd "
                                       "use every CPU again (after a --pin run that was killed)")
    return parser


Plan = list[Callable[[Context], Awaitable[dict[str, Any]]]]


def _plan(args: argparse.Namespace) -> Plan:
    plan: Plan = []
    gz = args.http_compression
    if args.command == "backlog":
        when = {"both": ("before", "after"), "none": ()}.get(args.ceiling, (args.ceiling,))
        rounds = range(1, args.rounds + 1) if args.rounds > 1 else (0,)
        for number in rounds:
            for count in args.containers:
                for writers in args.writers:
                    for sink in args.sink:
                        plan.append(lambda ctx, n=count, w=writers, k=sink, r=number: scenarios.backlog(
                            ctx, containers=n, lines=args.lines, sink=k, ceiling_when=when, profile=args.profile,
                            timeout=args.timeout, compression=gz, pin=args.pin, writers=w, round_number=r))
    elif args.command == "steady":
        for rate in args.rate:
            plan.append(lambda ctx, r=rate: scenarios.steady(
                ctx, rate=r, containers=args.containers, seconds=args.seconds, sink=args.sink,
                batch_max_wait=args.batch_max_wait, tick_ms=args.tick_ms, drain_timeout=args.drain_timeout,
                writer_cpus=args.writer_cpus, compression=gz, profile=args.profile, twin=args.twin_tree,
                twin_env=_env(args.twin_env)))
    elif args.command == "churn":
        plan.append(lambda ctx: scenarios.churn(
            ctx, rate=args.rate, seconds=args.seconds, life_ms=args.life_ms, lines=args.lines_per_container,
            sink=args.sink, auto_remove=args.auto_remove, drain_timeout=args.drain_timeout, compression=gz))
    elif args.command == "outage":
        plan.append(lambda ctx: scenarios.outage(
            ctx, rate=args.rate, containers=args.containers, before=args.before, down=args.down, after=args.after,
            drain_timeout=args.drain_timeout, compression=gz))
    elif args.command == "all" and args.small:
        for count in (1, 4, 16):
            plan.append(lambda ctx, n=count: scenarios.backlog(ctx, containers=n, lines=20_000, sink="file"))
        plan.append(lambda ctx: scenarios.backlog(ctx, containers=4, lines=20_000, sink="http", compression=gz))
        for store in STORES:  # each store's sink beside the file sink's 4-container case (CPU vs file)
            plan.append(lambda ctx, k=store: scenarios.backlog(ctx, containers=4, lines=20_000, sink=k))
        plan.append(lambda ctx: scenarios.steady(ctx, rate=2000, containers=20, seconds=15, sink="file"))
        plan.append(lambda ctx: scenarios.steady(ctx, rate=2000, containers=20, seconds=15, sink="http",
                                                 compression=gz))
        plan.append(lambda ctx: scenarios.churn(ctx, rate=10, seconds=15))
        plan.append(lambda ctx: scenarios.outage(ctx, rate=2000, containers=20, before=10, down=20, after=15,
                                                 compression=gz))
        if args.profile:
            plan.append(lambda ctx: scenarios.backlog(ctx, containers=4, lines=50_000, sink="file",
                                                      profile=args.profile, ceiling_when=()))
    elif args.command == "all":
        s = args.scale
        lines = max(1000, round(200_000 * s))
        for count in (1, 4, 16):
            plan.append(lambda ctx, n=count: scenarios.backlog(
                ctx, containers=n, lines=lines, sink="file"))
        # The same backlogs of writers that exited, beside the running ones: the catch-up's target.
        for count in (4, 16):
            plan.append(lambda ctx, n=count: scenarios.backlog(
                ctx, containers=n, lines=lines, sink="file", writers="exited"))
        plan.append(lambda ctx: scenarios.backlog(ctx, containers=4, lines=lines, sink="http", compression=gz))
        for store in STORES:  # each store's sink beside the file sink's 4-container case (CPU vs file)
            plan.append(lambda ctx, k=store: scenarios.backlog(ctx, containers=4, lines=lines, sink=k))
        # What bounds the ratio to the ceiling: the same backlogs with dockerd on a CPU of its own.
        for count in (4, 16):
            plan.append(lambda ctx, n=count: scenarios.backlog(ctx, containers=n, lines=lines, sink="file", pin=True,
                                                               writers="exited"))
        for rate, sink in ((10_000, "file"), (50_000, "file"), (10_000, "http")):
            plan.append(lambda ctx, r=rate, k=sink: scenarios.steady(
                ctx, rate=r, containers=100, seconds=max(10.0, 60 * s), sink=k, compression=gz))
        plan.append(lambda ctx: scenarios.churn(ctx, rate=10, seconds=max(10.0, 60 * s)))
        plan.append(lambda ctx: scenarios.outage(ctx, rate=5000, containers=50, before=max(10.0, 30 * s),
                                                 down=max(10.0, 120 * s), after=max(10.0, 60 * s), compression=gz))
        if args.profile:
            plan.append(lambda ctx: scenarios.backlog(ctx, containers=4, lines=lines, sink="file",
                                                      profile=args.profile, ceiling_when=()))
    return plan


def _env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--env wants NAME=value, not {pair!r}")
        env[key] = value
    return env


async def _cleanup(label: str) -> int:
    async with Docker() as docker:
        count = await docker.remove_labelled(label)
    print(f"removed {count} container(s) labelled {label}")
    return 0


_cleaned_up = False


async def _run(args: argparse.Namespace, argv: list[str], run_id: str) -> int:
    global _cleaned_up
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    signals = 0

    def interrupted() -> None:
        # The first Ctrl-C / SIGTERM / SIGHUP stops the run; the cleanup that follows is not interrupted
        # (it removes the containers and stops logship and the receiver). Installed explicitly: a bench
        # started in the background by a script has SIGINT ignored, and asyncio would not catch it.
        nonlocal signals
        signals += 1
        if signals == 1:
            main_task.cancel()
        else:
            print("cleaning up, please wait", file=sys.stderr)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, interrupted)

    results_dir: Path = args.results_dir / run_id
    results_dir.mkdir(parents=True)  # noqa: ASYNC240 - the bench's own bookkeeping
    with contextlib.suppress(OSError):
        latest = args.results_dir / "latest"
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run_id)
    work_root = scenarios.new_work_root()
    command = "python -m bench " + shlex.join(_without_note(argv))
    print(f"run {run_id}: {command}\n  results in {results_dir}\n  work dir {work_root}")
    cases: list[dict[str, Any]] = []
    document: dict[str, Any] = {"run_id": run_id, "command": command, "started": time.time(), "git": git_state()}
    status = 0
    async with Docker() as docker:
        if not await docker.image_exists(args.image):
            print(f"image {args.image} is missing (the tests' setup imports it)", file=sys.stderr)
            return 2
        document["machine"] = machine_info(docker.version)
        if int(document["machine"]["inotify_max_user_instances"] or 0) < 256:
            print(f"  note: fs.inotify.max_user_instances={document['machine']['inotify_max_user_instances']}: "
                  "dockerd polls (200 ms) past that many followed containers", file=sys.stderr)
        dockerd = dockerd_pid()
        ctx = Context(run_id=run_id, docker=docker, results_dir=results_dir, work_root=work_root, dockerd=dockerd,
                      image=args.image, keep=args.keep, logship_env=_env(args.env),
                      create_concurrency=args.create_concurrency)
        document["dockerd_pid"] = dockerd
        try:
            for step in _plan(args):
                cases.append(await step(ctx))
                scenarios.relate_to_file(cases)
                document["cases"] = cases
                report.save_json(results_dir / "results.json", document)
        except (BenchError, ProcessError, DockerError) as exc:
            print(f"\nbench failed: {exc}", file=sys.stderr)
            document["error"] = str(exc)
            status = 1
        except asyncio.CancelledError:
            print("\ninterrupted: cleaning up", file=sys.stderr)
            document["error"] = "interrupted"
            status = 130
        finally:
            removed = await asyncio.shield(docker.remove_labelled(f"{BENCH_LABEL}={run_id}"))
            if removed:
                print(f"removed {removed} leftover container(s) of run {run_id}")
            _cleaned_up = True
            if args.keep:
                print(f"kept {work_root}")
            else:
                shutil.rmtree(work_root, ignore_errors=True)
    document["finished"] = time.time()
    document["cases"] = cases
    rounds = scenarios.over_rounds(cases)
    if rounds:
        document["over_rounds"] = rounds
    report.save_json(results_dir / "results.json", document)
    if cases:
        report.print_tables(cases)
        report.print_rounds(rounds)
        if not args.no_charts:
            for path in report.charts(cases, results_dir):
                print(f"chart {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
        if args.record and status == 0:
            report.write_results_md(Path(__file__).resolve().parent / "RESULTS.md", document, args.note)  # noqa: ASYNC240
            print("wrote bench/RESULTS.md")
        elif args.record:
            print("bench/RESULTS.md left as it was: the run did not finish")
    print(f"results: {results_dir / 'results.json'}")
    return status


def _without_note(argv: list[str]) -> list[str]:
    """The command line as recorded: the --note text is shown on its own."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--note":
            skip = True
        elif not arg.startswith("--note="):
            out.append(arg)
    return out


def _report(args: argparse.Namespace) -> int:
    documents = []
    for run in args.run:
        document = orjson.loads((run / "results.json").read_bytes())
        document["command"] = "python -m bench " + shlex.join(_without_note(shlex.split(document["command"])[3:]))
        documents.append(document)
        if args.charts:
            for path in report.charts(document.get("cases", []), run):
                print(f"chart {path}")
    document = documents[0]
    if len(documents) > 1:
        document = {**document, "runs": [{key: d[key] for key in ("run_id", "command", "started", "git", "machine")}
                                         for d in documents],
                    "cases": [case for d in documents for case in d.get("cases", [])]}
    cases = document.get("cases", [])
    report.print_tables(cases)
    if args.record:
        report.write_results_md(Path(__file__).resolve().parent / "RESULTS.md", document, args.note)
        print("wrote bench/RESULTS.md")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    os.chdir(REPO_ROOT)
    if args.command == "cleanup":
        threads = unpin(engine_pids(dockerd_pid()))
        if threads:
            print(f"dockerd and containerd: {threads} thread(s) may use every CPU again")
        return asyncio.run(_cleanup(BENCH_LABEL))
    if args.command == "report":
        return _report(args)
    if args.command == "encode":
        return encode.run(args)
    if args.command == "parse":
        return parse.run(args)
    if args.command == "faults":
        return faults.run(args, argv)
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    try:
        return asyncio.run(_run(args, argv, run_id))
    except KeyboardInterrupt:
        if not _cleaned_up:  # interrupted during the cleanup itself: do it again, to the end
            print("interrupted: removing the run's containers", file=sys.stderr)
            asyncio.run(_cleanup(f"{BENCH_LABEL}={run_id}"))
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
