"""A small keep-alive HTTP/1.1 load generator on raw asyncio streams: cheap enough per request that the
client does not become the bottleneck of a 2-core machine (httpx costs several times more CPU)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass
class Result:
    """One request: when it was sent (perf_counter and wall clock), its latency, status and body."""

    sent: float
    sent_wall: float
    latency: float
    status: int
    body: bytes


@dataclass
class Connection:
    host: str
    port: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: bytes = b"") -> tuple[int, bytes]:
        """(status, body); status 0 when the server dropped the connection (it is reopened next time).
        `headers` are extra header lines, each ending in CRLF (e.g. the worker's Authorization)."""
        try:
            return await self._post(path, body, headers)
        except (ConnectionError, asyncio.IncompleteReadError):
            if self.writer is not None:
                self.writer.close()
            self.writer = None
            return 0, b""

    async def _post(self, path: str, body: bytes, headers: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
        ).encode()
        self.writer.write(head + headers + b"\r\n" + body)
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            self.writer = None
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        payload = await self.reader.readexactly(length) if length else b""
        if close:
            self.writer.close()
            self.writer = None
        return status, payload


@dataclass
class Load:
    """Posts bodies from an iterator to host:port/path, either as fast as `connections` allow (closed loop)
    or at a fixed rate (open loop: a late response never delays the next send)."""

    host: str
    port: int
    path: str
    bodies: Iterator[tuple[bytes, bytes]]  # (JSON body, extra header lines)
    connections: int = 64
    on_result: Callable[[Result], None] | None = None
    results: list[Result] = field(default_factory=list)

    def _record(self, result: Result) -> None:
        self.results.append(result)
        if self.on_result:
            self.on_result(result)

    async def closed_loop(self, seconds: float) -> list[Result]:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            conn = Connection(self.host, self.port)
            while time.perf_counter() < deadline:
                item = next(self.bodies, None)
                if item is None:
                    return
                sent, wall = time.perf_counter(), time.time()
                status, payload = await conn.post(self.path, *item)
                self._record(Result(sent, wall, time.perf_counter() - sent, status, payload))

        await asyncio.gather(*(worker() for _ in range(self.connections)))
        return self.results

    async def open_loop(self, rate: float, seconds: float) -> list[Result]:
        """Send `rate` requests per second for `seconds`; a pool of connections carries them."""
        idle: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(self.connections):
            idle.put_nowait(Connection(self.host, self.port))
        start = time.perf_counter()
        total = int(rate * seconds)
        tasks = []

        async def one(item: tuple[bytes, bytes], due: float) -> None:
            conn = await idle.get()
            try:
                status, payload = await conn.post(self.path, *item)
                self._record(
                    Result(due, time.time() - (time.perf_counter() - due), time.perf_counter() - due, status, payload)
                )
            finally:
                idle.put_nowait(conn)

        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            item = next(self.bodies, None)
            if item is None:
                break
            tasks.append(asyncio.create_task(one(item, due)))  # latency counts from when it was due
        await asyncio.gather(*tasks)
        return self.results
