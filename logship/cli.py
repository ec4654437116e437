"""Command line: ``logship [run|check|status|version]``. The only place that decides exit codes.

Exit codes: 0 success (also after a graceful drain), 1 a runtime failure or a failed check,
2 bad configuration (every problem printed, one per line), 3 a second signal forced the exit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from logship import __version__
from logship.config import Config, ConfigError, load, markdown_table

log = logging.getLogger("logship")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_FORCED = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logship",
        description="Follow every Docker container's logs through the Engine API and ship them to a central "
                    "store, without losing a line. Configured through LOGSHIP_* environment variables.")
    parser.add_argument("--help-config", action="store_true", help="list every configuration variable and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the agent (the default)")
    commands.add_parser("check", help="validate the configuration and try the engine and every sink")
    status = commands.add_parser("status", help="show a running agent's state (reads its /readyz and /debug/tailers)")
    status.add_argument("--url", help="the agent's health server (default: from LOGSHIP_LISTEN)")
    commands.add_parser("version", help="print the version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``logship`` console script."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # Whoever read our output went away (`logship --help-config | head`): end quietly. stdout is pointed
        # at /dev/null so that the interpreter's last flush does not fail again; exit 1 as Python does on EPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.help_config:
        print(markdown_table())
        return EXIT_OK
    if args.command == "version":
        print(f"logship {__version__}")
        return EXIT_OK
    if args.command == "status":
        return _status(args.url)
    try:
        config = load()
    except ConfigError as exc:
        if args.command == "check":
            for problem in exc.problems:
                print(f"FAIL configuration: {problem}", flush=True)
            return EXIT_CONFIG
        print(f"logship: {len(exc.problems)} configuration problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    from logship import log as logsetup

    logsetup.setup(config.log_level, config.log_format)
    if args.command == "check":
        from logship.check import run_checks

        return EXIT_OK if asyncio.run(run_checks(config)) else EXIT_FAILURE
    return run_agent(config)


def _status(url: str | None) -> int:
    from logship.config import VARIABLES_BY_NAME
    from logship.status import show

    if url is None:
        listen = os.environ.get("LOGSHIP_LISTEN", VARIABLES_BY_NAME["LOGSHIP_LISTEN"].default or "")
        try:
            host, port = VARIABLES_BY_NAME["LOGSHIP_LISTEN"].parse(listen)
        except ValueError as exc:
            print(f"LOGSHIP_LISTEN={listen!r}: expected {exc}; or give --url", file=sys.stderr)
            return EXIT_CONFIG
        host = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
        url = f"http://{host}:{port}"
    return EXIT_OK if show(url.rstrip("/"), sys.stdout) else EXIT_FAILURE


def run_agent(config: Config) -> int:
    """Run the agent until SIGTERM/SIGINT (on the LOGSHIP_EVENT_LOOP loop); a second signal forces the exit."""
    from logship import eventloop

    return eventloop.run(_run_agent(config), config.event_loop)


async def _run_agent(config: Config) -> int:
    from logship.agent import Agent
    from logship.sinks.base import SinkError

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    log.info("event loop: %s (LOGSHIP_EVENT_LOOP=%s)", type(loop).__module__.split(".")[0], config.event_loop)

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.error("second %s: exiting now", signal.Signals(signum).name)
            os._exit(EXIT_FORCED)
        log.info("%s received: draining; send it again to exit at once", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    from logship.plaintext import warn_plaintext

    warn_plaintext(config)  # once, at start: sinks that send in plain text to another machine
    try:
        agent = Agent(config)
    except SinkError as exc:  # a sink refuses its settings (auth conflict, missing optional module)
        print(f"logship: configuration problem: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        await agent.run(stop)
    except OSError as exc:  # the data dir or the listen address cannot be used: a clear line, not a traceback
        if exc.filename:
            log.error("cannot use %s: %s", exc.filename, exc.strerror or exc)
        else:
            log.error("cannot start: %s", exc)
        return EXIT_FAILURE
    except Exception:
        log.exception("logship stopped on an unexpected error")
        return EXIT_FAILURE
    return EXIT_OK
