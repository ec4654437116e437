"""A fault-injecting NDJSON HTTP receiver, the far end of the ``http`` sink in tests.

It accepts ``POST`` (any path) with an NDJSON body (``Content-Encoding`` ``gzip``, ``zstd`` or none),
answers ``HEAD``/``GET`` with 200 (healthchecks), and can be scripted:

- ``fail(status, times, headers)``: the next ``times`` POSTs get that answer (503, 429 with
  ``Retry-After``, 400, …), then 200 again;
- ``max_body``: a POST whose body (as sent, compressed) is larger gets 413, like a gateway limit;
- ``require_authorization``: requests without exactly that ``Authorization`` header get 401;
- ``delay``: seconds to wait before answering a POST (a slow store);
- ``down()`` / ``up()``: stop listening (connection refused) and listen again on the same port;
- ``set_mode(mode)``: how every POST is answered until the next mode (scripted answers come first):

  - ``ok``: 200, the lines are kept (the default);
  - ``503``; ``429`` with ``Retry-After: retry_after`` (``"1"`` unless given): nothing kept;
  - ``reset``: half the body is read, then the connection is reset (RST): no answer, nothing kept;
  - ``hang``: the body is read and no answer ever comes (the client times out); when the mode changes
    the connection is closed, still without an answer; nothing kept;
  - ``garbage``: the lines are kept and the answer is 200 with a body that is not what any store says
    (for the http sink a 2xx means stored, whatever the body);
  - ``deaf``: a plain TCP listener on the same port accepts connections and never reads a byte;

- ``flap(schedule)``: ``[(mode, seconds), …]`` applied in turn, over and over, until ``set_mode`` or
  another ``flap``; ``modes`` notes every change as (Unix time, mode).

Lines of POSTs answered 2xx are kept in ``lines`` (and appended to ``out`` when given); every POST is
noted in ``requests`` (and appended to ``requests_log`` when given, one JSON object per line: ``arrived``
and ``answered`` as Unix times, ``status``, ``lines``, ``body_bytes``, and ``digest``, a hash of the
body as sent, which is the same for every attempt of one batch; ``fault``, the mode that answered it when
not ``ok``, with ``status`` 0 for a POST that got no answer). ``pending`` counts the POSTs being
answered. A body without its final newline is refused with 400 (NDJSON requires it).

As a process (end-to-end tests point a real logship at it)::

    python -m tests.fakes.http_receiver --port 0 --out /tmp/lines.ndjson [--fail 503 --times 2]
        [--requests /tmp/requests.ndjson] [--control-port 0] [--mode hang]

prints ``listening on http://127.0.0.1:PORT/`` once ready (then, with ``--control-port``, ``control on
http://127.0.0.1:CPORT/``) and runs until SIGTERM/SIGINT. The control server, which keeps listening
while the receiver is down, scripts the receiver at run time, with JSON bodies:

- ``POST /down``, ``POST /up``;
- ``POST /fail`` ``{"status": 429, "times": 3, "headers": {"Retry-After": "2"}}``;
- ``POST /clear``: forget the scripted answers not used yet;
- ``POST /delay`` ``{"seconds": 30}``;
- ``POST /mode`` ``{"mode": "429", "retry_after": "2"}`` (ends a flap);
- ``POST /flap`` ``{"schedule": [["503", 1.5], ["ok", 1], ["hang", 3]]}``;
- ``GET /stats``: ``{"listening", "pending", "requests", "lines", "scripted", "mode", "faults"}``, where
  ``faults`` counts the POSTs each mode other than ``ok`` answered (or left unanswered).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import hashlib
import json
import signal
import socket
import ssl
import struct
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from tests.fakes.base import Answer, FakeServer


@dataclass(frozen=True)
class Received:
    """One POST as the receiver saw it."""

    status: int
    body_bytes: int
    lines: int
    headers: dict[str, str]
    arrived: float = 0.0  # Unix time at which the request's headers were read
    answered: float = 0.0  # Unix time of the answer
    digest: str = ""  # hash of the body as sent: equal for every attempt of one batch
    fault: str = ""  # the mode that answered it, when not ``ok``


MODES = ("ok", "503", "429", "reset", "hang", "garbage", "deaf")
GARBAGE = b"\x00\xff<html><body>not what a store says</body>\x1b[0m"


class _Deaf(asyncio.Protocol):
    """A connection that is accepted and never read: the kernel's buffers fill and the client waits."""

    def __init__(self, transports: set[asyncio.Transport]) -> None:
        self.transports = transports

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        self.transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transports.difference_update([t for t in self.transports if t.is_closing()])


def reset(transport: asyncio.BaseTransport | None) -> None:
    """Close a connection with a TCP RST (SO_LINGER 0), as a crashing peer or a middlebox does."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def decode_body(body: bytes, encoding: str) -> bytes:
    """The NDJSON bytes of a request body sent with ``Content-Encoding: encoding``."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "zstd":
        import zstandard

        # decompressobj copes with frames that do not state their content size.
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


class HttpReceiver(FakeServer[Answer]):
    """The fake store (see the module docstring). Use as ``async with HttpReceiver() as receiver``."""

    url_path = "/ingest"  # the URL to POST to

    def __init__(self, host: str = "127.0.0.1", port: int = 0, out: Path | None = None,
                 ssl_context: ssl.SSLContext | None = None, requests_log: Path | None = None,
                 shutdown_timeout: float = 60.0) -> None:
        # shutdown_timeout: how long stop()/down() wait for POSTs being answered
        super().__init__(host, port, ssl_context, shutdown_timeout=shutdown_timeout)
        self.out = out
        self.requests_log = requests_log
        self.pending = 0
        self.max_body: int | None = None
        self.delay = 0.0
        self.lines: list[bytes] = []
        self.requests: list[Received] = []
        self.mode = "ok"
        self.retry_after = "1"
        self.modes: list[tuple[float, str]] = []
        self.faults: Counter[str] = Counter()
        self._changed: asyncio.Event | None = None  # set (and replaced) at each mode change: ends hangs
        self._flap: asyncio.Task[None] | None = None
        self._deaf: asyncio.Server | None = None
        self._deaf_connections: set[asyncio.Transport] = set()

    def fail(self, status: int, times: int = 1, headers: dict[str, str] | None = None,
             body: bytes = b"") -> None:
        """Answer the next ``times`` POSTs (after those already scripted) with ``status``."""
        self.script(Answer(status, headers or {}, body), times)

    @property
    def statuses(self) -> list[int]:
        """The status of every POST answered so far, in order."""
        return [request.status for request in self.requests]

    def routes(self, app: web.Application) -> None:
        app.router.add_route("POST", "/{tail:.*}", self._post)
        app.router.add_get("/{tail:.*}", self._probe)  # HEAD too

    @property
    def listening(self) -> bool:
        """Whether connections are accepted (by the HTTP server, or the deaf listener)."""
        return super().listening or self._deaf is not None

    async def start(self) -> None:
        """Listen: HTTP, or in mode ``deaf`` a listener that reads nothing (same port)."""
        if self.mode != "deaf":
            await super().start()
            return
        loop = asyncio.get_running_loop()
        self._deaf = await loop.create_server(lambda: _Deaf(self._deaf_connections), self.host, self.port,
                                              reuse_address=True)
        self.port = self._deaf.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening; hung POSTs and deaf connections are closed without an answer."""
        self._end_hangs()
        if self._deaf is not None:
            self._deaf.close()
            for transport in list(self._deaf_connections):
                transport.abort()
            self._deaf_connections.clear()
            await self._deaf.wait_closed()
            self._deaf = None
        await super().stop()

    async def down(self) -> None:
        """Simulate a store that is down: connections are refused until ``up()``."""
        await self.stop()

    async def up(self) -> None:
        """Listen again on the same port."""
        await self.start()

    async def set_mode(self, mode: str, retry_after: str | None = None) -> None:
        """Answer every POST as ``mode`` says (module docstring) from now on."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        if retry_after is not None:
            self.retry_after = retry_after
        switch = self.listening and (self.mode == "deaf") != (mode == "deaf")
        self._end_hangs()
        if switch:
            await self.stop()
        self.mode = mode
        self.modes.append((time.time(), mode))
        if switch:
            await self.start()

    async def flap(self, schedule: list[tuple[str, float]]) -> None:
        """Cycle through ``schedule`` (``(mode, seconds)`` pairs) until ``set_mode`` or ``flap`` again."""
        for mode, seconds in schedule:
            if mode not in MODES or seconds <= 0:
                raise ValueError(f"bad step {mode!r}, {seconds!r}: a mode of {', '.join(MODES)} and seconds > 0")
        await self.end_flap()

        async def run() -> None:
            while True:
                for mode, seconds in schedule:
                    await self.set_mode(mode)
                    await asyncio.sleep(seconds)

        self._flap = asyncio.create_task(run())

    async def end_flap(self) -> None:
        """Stop cycling (the mode stays the current one)."""
        if self._flap is not None:
            self._flap.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flap
            self._flap = None

    def _end_hangs(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def _hang(self, request: web.Request) -> None:
        """Never answer: wait until the mode changes, then close the connection without a word."""
        if self._changed is None:
            self._changed = asyncio.Event()
        await self._changed.wait()
        reset(request.transport)

    async def _probe(self, request: web.Request) -> web.Response:
        if self.unauthorized(request):
            return web.Response(status=401, text="unauthorized")
        return web.Response(status=200, text="ok")

    async def _post(self, request: web.Request) -> web.Response:
        arrived = time.time()
        self.pending += 1
        try:
            fault = self.mode if self.mode in ("reset", "hang") and not self.scripted else ""
            if fault:
                # No answer at all: a reset after half the body, or a read body and silence.
                half = max(1, (request.content_length or 2) // 2)
                body = await (request.content.read(half) if fault == "reset" else request.read())
                self.faults[fault] += 1
                self._log_request(Received(0, len(body), 0, dict(request.headers), arrived, time.time(),
                                           hashlib.blake2b(body, digest_size=8).hexdigest(), fault))
                if fault == "hang":
                    await self._hang(request)
                else:
                    reset(request.transport)
                return web.Response(status=499)  # never reaches the client: its connection is gone
            body = await request.read()
            if self.delay:
                await asyncio.sleep(self.delay)
            answer, lines, fault = self._answer(request, body)
            if fault:
                self.faults[fault] += 1
            received = Received(answer.status, len(body), len(lines), dict(request.headers), arrived, time.time(),
                                hashlib.blake2b(body, digest_size=8).hexdigest(), fault)
            self.requests.append(received)
            if 200 <= answer.status < 300:
                self.lines.extend(lines)
                self._write_out(lines)
            self._log_request(received)
        finally:
            self.pending -= 1
        return web.Response(status=answer.status, headers=answer.headers, body=answer.body)

    def _log_request(self, received: Received) -> None:
        if self.requests_log is not None:
            entry = {"arrived": received.arrived, "answered": received.answered, "status": received.status,
                     "lines": received.lines, "body_bytes": received.body_bytes, "digest": received.digest,
                     "fault": received.fault}
            with open(self.requests_log, "a") as file:
                file.write(json.dumps(entry) + "\n")

    def _write_out(self, lines: list[bytes]) -> None:
        # Small appends, and only in tests: blocking the loop for them is fine.
        if self.out is not None and lines:
            with open(self.out, "ab") as file:
                file.write(b"".join(line + b"\n" for line in lines))

    def _answer(self, request: web.Request, body: bytes) -> tuple[Answer, list[bytes], str]:
        """The answer, the lines kept, and the mode that answered (``""`` when not a fault)."""
        if self.unauthorized(request):
            return Answer(401, body=b"unauthorized"), [], ""
        if self.max_body is not None and len(body) > self.max_body:
            return Answer(413, body=b"request entity too large"), [], ""
        scripted = self.next_scripted()
        if scripted is not None:
            return scripted, [], ""
        if self.mode == "503":
            return Answer(503, body=b"service unavailable"), [], self.mode
        if self.mode == "429":
            return Answer(429, {"Retry-After": self.retry_after}, b"too many requests"), [], self.mode
        try:
            text = decode_body(body, request.headers.get("Content-Encoding", ""))
        except Exception as exc:  # a test fake: any undecodable body is the client's fault
            return Answer(400, body=f"cannot decode body: {exc}".encode()), [], ""
        if text and not text.endswith(b"\n"):
            return Answer(400, body=b"NDJSON body must end with a newline"), [], ""
        lines = text[:-1].split(b"\n") if text else []
        if self.mode == "garbage":
            return Answer(200, body=GARBAGE), lines, self.mode
        return Answer(200), lines, ""


class ControlServer(FakeServer[None]):
    """Scripts a receiver at run time over HTTP (see the module docstring); listens while it is down."""

    url_path = "/"

    def __init__(self, receiver: HttpReceiver, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.receiver = receiver

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/down", self._down)
        app.router.add_post("/up", self._up)
        app.router.add_post("/fail", self._fail)
        app.router.add_post("/clear", self._clear)
        app.router.add_post("/delay", self._delay)
        app.router.add_post("/mode", self._mode)
        app.router.add_post("/flap", self._flap)
        app.router.add_get("/stats", self._stats)

    def _state(self) -> web.Response:
        receiver = self.receiver
        return web.json_response({"listening": receiver.listening, "pending": receiver.pending,
                                  "requests": len(receiver.requests), "lines": len(receiver.lines),
                                  "scripted": receiver.scripted, "mode": receiver.mode,
                                  "faults": dict(receiver.faults)})

    async def _down(self, request: web.Request) -> web.Response:
        if self.receiver.listening:
            await self.receiver.down()
        return self._state()

    async def _up(self, request: web.Request) -> web.Response:
        if not self.receiver.listening:
            await self.receiver.up()
        return self._state()

    async def _fail(self, request: web.Request) -> web.Response:
        spec = await request.json()
        self.receiver.fail(int(spec["status"]), int(spec.get("times", 1)), spec.get("headers") or None,
                           str(spec.get("body", "")).encode())
        return self._state()

    async def _clear(self, request: web.Request) -> web.Response:
        self.receiver.clear()
        return self._state()

    async def _delay(self, request: web.Request) -> web.Response:
        self.receiver.delay = float((await request.json())["seconds"])
        return self._state()

    async def _mode(self, request: web.Request) -> web.Response:
        spec = await request.json()
        await self.receiver.end_flap()
        retry_after = spec.get("retry_after")
        await self.receiver.set_mode(str(spec["mode"]), None if retry_after is None else str(retry_after))
        return self._state()

    async def _flap(self, request: web.Request) -> web.Response:
        schedule = [(str(mode), float(seconds)) for mode, seconds in (await request.json())["schedule"]]
        await self.receiver.flap(schedule)
        return self._state()

    async def _stats(self, request: web.Request) -> web.Response:
        return self._state()


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.http_receiver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--out", type=Path, required=True, help="accepted lines are appended here")
    parser.add_argument("--fail", type=int, metavar="STATUS", help="answer the first POSTs with STATUS")
    parser.add_argument("--times", type=int, default=1, help="how many POSTs get --fail (default 1)")
    parser.add_argument("--retry-after", help="Retry-After header sent with --fail")
    parser.add_argument("--max-body", type=int, help="413 for bodies larger than this many bytes")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering a POST")
    parser.add_argument("--mode", choices=MODES, default="ok", help="how POSTs are answered (see above)")
    parser.add_argument("--authorization", help="require this exact Authorization header")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", help="private key of --tls-cert")
    parser.add_argument("--requests", type=Path, help="every POST is appended here as a line of JSON")
    parser.add_argument("--control-port", type=int, help="serve the control API on this port (0: a free one)")
    parser.add_argument("--shutdown-timeout", type=float, default=2.0,
                        help="seconds to wait for POSTs being answered when going down or stopping")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    receiver = HttpReceiver(args.host, args.port, out=args.out, ssl_context=context, requests_log=args.requests,
                            shutdown_timeout=args.shutdown_timeout)
    receiver.max_body = args.max_body
    receiver.delay = args.delay
    receiver.mode = args.mode
    receiver.require_authorization = args.authorization
    if args.fail:
        receiver.fail(args.fail, args.times, {"Retry-After": args.retry_after} if args.retry_after else None)
    args.out.touch()
    if args.requests:
        args.requests.touch()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    control = ControlServer(receiver, args.host, args.control_port) if args.control_port is not None else None
    async with receiver:
        print(f"listening on {receiver.url.removesuffix('ingest')}", flush=True)
        if control is not None:
            await control.start()
            print(f"control on {control.url}", flush=True)
        try:
            await stopped.wait()
        finally:
            await receiver.end_flap()
            if control is not None:
                await control.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the receiver as a process until SIGTERM/SIGINT."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
