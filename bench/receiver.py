"""A minimal receiver for the ``http`` sink and the stores' sinks, so that the store's own cost is not what
is measured.

Raw asyncio streams (no web framework): HTTP/1.1 keep-alive, ``Content-Length`` bodies (what aiohttp
sends) or chunked ones, ``Content-Encoding: gzip``/``none``. Each accepted body is appended,
decompressed, to ``--out``; then one line ``<arrival unix time> <end offset in --out> <lines>`` is
appended to ``--index`` (arrival: when the whole body was read). Every POST gets ``200`` with an
empty body; ``HEAD``/``GET`` (health checks) get ``200`` too.

    python -m bench.receiver --port 0 --out FILE --index FILE [--store loki|elasticsearch|…]

``--store`` (see ``bench.stores``): answer as that store answers a success, and append to ``--out``
one record per bench line found in the body instead of the body itself; ``gelf`` and ``syslog`` are
TCP streams (no answer), read the same way chunk by chunk.

prints ``listening on PORT`` once ready. Signals: ``SIGUSR1`` goes down (stops listening and drops
every open connection: clients get "connection refused"), ``SIGUSR2`` listens again on the same port;
each change is confirmed on stdout (``down <time>``, ``up <time>``). SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time

from bench import stores

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
_OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class Receiver:
    def __init__(self, host: str, port: int, out: str, index: str, store: str = "http") -> None:
        self.store = store
        self.host = host
        self.port = port
        self._out = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
        self._index = os.open(index, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o644)
        self._offset = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        if self._server is None:
            serve = self._stream if self.store in stores.STREAM_STORES else self._serve
            self._server = await asyncio.start_server(serve, self.host, self.port, reuse_address=True,
                                                      limit=1 << 20)
            self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.split(b"\r\n")
                method, _, rest = lines[0].partition(b" ")
                close = rest.endswith(b"HTTP/1.0")
                length = 0
                chunked = False
                encoding = content_type = b""
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    value = value.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"transfer-encoding":
                        chunked = b"chunked" in value
                    elif name == b"content-encoding":
                        encoding = value
                    elif name == b"content-type":
                        content_type = value
                    elif name == b"connection":
                        close = value == b"close"
                try:
                    body = await (_read_chunked(reader) if chunked else reader.readexactly(length))
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                target = rest.partition(b" ")[0]
                if self.store == "http":
                    if method == b"POST" and body:
                        self._accept(stores.decompress(body, encoding, content_type, target))
                    writer.write(_OK_CLOSE if close else _OK)
                else:
                    documents = 0
                    if method == b"POST" and body:
                        kept, documents, _ = stores.found(stores.decompress(body, encoding, content_type, target))
                        if documents:
                            self._accept(kept, documents)
                    writer.write(_answer(*stores.answer(self.store, method, target, body, documents), close))
                if close:
                    await writer.drain()
                    return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A TCP stream (GELF, syslog): the lines found so far are kept; a line cut by a read waits for
        the rest in ``carry``."""
        self._writers.add(writer)
        carry = b""
        try:
            while True:
                try:
                    data = await reader.read(1 << 20)
                except ConnectionError:
                    return
                if not data:
                    return
                data = carry + data
                kept, documents, end = stores.found(data)
                if documents:
                    self._accept(kept, documents)
                carry = data[end:] if len(data) - end < 1 << 20 else data[-4096:]
        finally:
            self._writers.discard(writer)
            writer.close()

    def _accept(self, text: bytes, lines: int | None = None) -> None:
        arrived = time.time()
        view = memoryview(text)
        while view:
            view = view[os.write(self._out, view):]
        self._offset += len(text)
        count = text.count(b"\n") if lines is None else lines
        os.write(self._index, b"%.6f %d %d\n" % (arrived, self._offset, count))


def _answer(status: bytes, content_type: bytes, body: bytes, close: bool) -> bytes:
    head = b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n" % len(body)
    if content_type:
        head += b"Content-Type: " + content_type + b"\r\n"
    if close:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _main(args: argparse.Namespace) -> None:
    receiver = Receiver(args.host, args.port, args.out, args.index, args.store)
    await receiver.up()
    print(f"listening on {receiver.port}", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    switching: set[asyncio.Task[None]] = set()

    def switch(go_up: bool) -> None:
        async def run() -> None:
            await (receiver.up() if go_up else receiver.down())
            print(f"{'up' if go_up else 'down'} {time.time():.6f}", flush=True)

        task = loop.create_task(run())
        switching.add(task)
        task.add_done_callback(switching.discard)

    loop.add_signal_handler(signal.SIGUSR1, switch, False)
    loop.add_signal_handler(signal.SIGUSR2, switch, True)
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await receiver.down()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.receiver", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--store", choices=("http", *stores.STORES), default="http",
                        help="answer as this store does, keep the bench's lines found in the bodies (bench.stores)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
