"""Shared pieces of the benchmarks: a real server process, clients, percentiles, output."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-admin-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
API = "/api/workspaces/default"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Ask a server to shut down (SIGINT); kill it if it has not within 20 s."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    database_url: str

    def rss_mib(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")


def bench_database_name() -> str:
    """The Postgres database the benchmarks (re)create: `RUNCAST_BENCH_DATABASE`, so that
    two benchmark runs on one server need not share one, else `runcast_bench`."""
    name = os.environ.get("RUNCAST_BENCH_DATABASE", "runcast_bench")
    if not name.replace("_", "").isalnum():
        raise ValueError(f"RUNCAST_BENCH_DATABASE: not a plain identifier: {name!r}")
    return name


def postgres_database(url: str, name: str) -> str:
    base = url.rpartition("/")[0]
    subprocess.run(
        [
            "psql",
            f"{base}/postgres",
            "-qc",
            f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
            "-c",
            f"CREATE DATABASE {name}",
        ],
        check=True,
        capture_output=True,
    )
    return f"{base}/{name}"


@contextmanager
def server(backend: str = "sqlite", **env: str) -> Iterator[Server]:
    """Start `runcast serve` on a fresh database, with the benchmark plugin loaded."""
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "postgres":
            database_url = postgres_database(
                os.environ.get(
                    "RUNCAST_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
                ),
                bench_database_name(),
            )
        else:
            database_url = f"sqlite://{tmp}/bench.db"
        port = free_port()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("RUNCAST_")}
        environment.update(
            RUNCAST_DATABASE_URL=database_url,
            RUNCAST_ADMIN_TOKEN=TOKEN,
            RUNCAST_PORT=str(port),
            RUNCAST_PLUGINS="bench.plugin",
            PYTHONPATH=str(ROOT),
            **env,
        )
        log = open(Path(tmp) / "server.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "runcast.cli", "serve"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            else:
                raise RuntimeError((Path(tmp) / "server.log").read_text()[-2000:])
            yield Server(url, process, database_url)
        finally:
            stop_process(process)
            log.close()


def create_workflow(url: str, actions: list[dict[str, Any]]) -> str:
    response = httpx.post(
        f"{url}{API}/workflows", headers=HEADERS, json={"name": "bench", "actions": actions}
    )
    response.raise_for_status()
    return str(response.json()["workflow"]["id"])


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def print_table(title: str, rows: list[tuple[str, Any]]) -> None:
    print(f"\n{title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
        print(f"  {name.ljust(width)}  {shown}")


def write_json(path: str | None, data: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2))
        print(f"\nwrote {path}")


# --- Helpers for the step, GraphQL and streaming benchmarks (additive). ---


def raise_open_files(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards `wanted` (children inherit it)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def run_loop(coroutine: Any) -> Any:
    """asyncio.run on uvloop when it is installed (the server uses it too)."""
    import asyncio

    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def sql_rows(database_url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of one statement on the server's database (`?` placeholders on both backends)."""
    if database_url.startswith("sqlite://"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite://").split("?")[0]) as db:
            return db.execute(sql, tuple(params)).fetchall()
    import asyncio

    import asyncpg

    parts = sql.split("?")
    native = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))

    async def fetch() -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(database_url)
        try:
            return [tuple(row) for row in await connection.fetch(native, *params)]
        finally:
            await connection.close()

    return asyncio.run(fetch())


def epoch(value: Any) -> float:
    """Seconds since the epoch of a stored or wire timestamp (datetime, SQLite text, ISO Z)."""
    from datetime import UTC, datetime

    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


@dataclass
class SSEEvent:
    received: float  # time.time() when the chunk holding it was read
    event: str
    id: str | None
    data: str


class SSEStream:
    """A minimal HTTP/1.1 Server-Sent Events reader on a raw asyncio socket: cheap enough to
    run thousands per process, and it stamps each event with its arrival time."""

    def __init__(self, reader: Any, writer: Any, status: int, chunked: bool) -> None:
        self.reader, self.writer, self.status, self.chunked = reader, writer, status, chunked

    async def _chunk(self) -> bytes | None:
        if not self.chunked:
            return (await self.reader.read(65536)) or None
        line = await self.reader.readline()
        if not line.strip():
            return None
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return None
        return (await self.reader.readexactly(size + 2))[:-2]

    async def events(self) -> Any:
        """Yield each event (comments skipped) until the server ends the response."""
        import asyncio

        buffer = ""
        while True:
            try:
                chunk = await self._chunk()
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            if chunk is None:
                return
            received = time.time()
            buffer += chunk.decode().replace("\r\n", "\n")
            *blocks, buffer = buffer.split("\n\n")
            for block in blocks:
                kind, ident, data = "message", None, []
                for line in block.split("\n"):
                    field, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if field == "event":
                        kind = value
                    elif field == "id":
                        ident = value
                    elif field == "data":
                        data.append(value)
                if data:
                    yield SSEEvent(received, kind, ident, "\n".join(data))

    def stop_reading(self) -> None:
        """Stop taking bytes off the socket (asyncio would otherwise buffer them in memory):
        the kernel buffers fill and the server's writes back up."""
        self.writer.transport.pause_reading()

    def close(self) -> None:
        self.writer.close()


async def open_sse(url: str, path: str, token: str = TOKEN, rcvbuf: int | None = None) -> SSEStream:
    """GET `path` as an event stream; `rcvbuf` shrinks the socket's receive buffer (a client
    that stops reading then backs up into the server quickly)."""
    import asyncio
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if rcvbuf is None:
        reader, writer = await asyncio.open_connection(host, port)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
        f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    status = int((await reader.readline()).split()[1])
    chunked = False
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode().partition(":")
        if name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    return SSEStream(reader, writer, status, chunked)


async def open_subscription(
    url: str, query: str, variables: dict[str, Any], token: str = TOKEN
) -> Any:
    """A `graphql-transport-ws` connection to /graphql, initialised and subscribed (id "1")."""
    from websockets.asyncio.client import connect
    from websockets.typing import Subprotocol

    socket = await connect(
        url.replace("http://", "ws://") + "/graphql",
        subprotocols=[Subprotocol("graphql-transport-ws")],
        compression=None,
        ping_interval=None,
        max_size=None,
        open_timeout=60,
    )
    await socket.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    ack = json.loads(await socket.recv())
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"no connection_ack: {ack}")
    await socket.send(
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
    )
    return socket


@contextmanager
def py_spy(pid: int, path: str | None, rate: int = 250) -> Iterator[None]:
    """While the block runs, sample process `pid` with py-spy into `path` (raw/collapsed
    stacks, only the thread holding the GIL, so idle waits do not count); a no-op without a
    path."""
    if not path:
        yield
        return
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "-p",
            str(pid),
            "-f",
            "raw",
            "-r",
            str(rate),
            "-o",
            path,
            "--nonblocking",
            "--gil",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()


def top_functions(raw_path: str, count: int = 15) -> list[tuple[str, float, float]]:
    """From py-spy raw (collapsed) stacks: the functions with the most samples, as
    (function, % of samples anywhere in the stack, % of samples on top of the stack)."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in Path(raw_path).read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit():
            continue
        n = int(samples)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
    ranked = sorted(own, key=lambda f: own[f], reverse=True)[:count]
    return [(f, 100 * inclusive[f] / total, 100 * own[f] / total) for f in ranked]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RawConnection:
    """One keep-alive HTTP/1.1 connection that sends a fixed request and reads answers
    with a Content-Length (every answer the benchmark reads has one)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> RawConnection:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"an answer without Content-Length: {head!r}")
        return int(head[9:12]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()
