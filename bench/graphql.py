"""graphql: reading one execution over GraphQL and over REST, load from client processes.

One finished execution of the 5-step throughput workflow is read by --clients concurrent
connections in a closed loop for --seconds per transport, spread over --client-processes
processes (so that the server, not one client process, is what runs out of CPU):

- GraphQL: `POST /graphql` with `execution(workspaceSlug, id)` selecting every field the REST
  answer carries (the execution, its steps, progress, timing, executionSummary, workflow);
- REST: `GET /api/workspaces/default/workflows/executions/:id`.

Every answer is parsed and checked. The clients (`--client raw`, the default) send a fixed
request on keep-alive HTTP/1.1 connections over asyncio streams, several times cheaper per
read than httpx (`--client httpx`). Each process warms its connections up, then all start
together and count the reads that end within the same window, in which the server's CPU
(user + system, /proc/<pid>/stat) and each client's is measured.

Reported per transport: reads/s, latency, server CPU per read and the server's busy cores
over the window (about 1.0 when it is saturated: one event loop), client CPU per read and
the busiest client process's share of a core; then GraphQL/REST by rate and by server CPU
per read (REST's / GraphQL's). Floor: the same read's SQL, captured from the query log
while the resolvers answer one read in this process, replayed in a loop on the raw driver
(sqlite3, or asyncpg on Postgres): reads/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import sqlite3
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.harness import (
    API,
    HEADERS,
    TOKEN,
    RawConnection,
    cpu_seconds,
    create_workflow,
    percentile,
    print_table,
    py_spy,
    run_loop,
    server,
    write_json,
)
from bench.throughput import ACTIONS

QUERY = """
query Execution($ws: String!, $id: ID!) {
  execution(workspaceSlug: $ws, id: $id) {
    id workflowId workspaceId status triggeredBy triggerType triggerData variables
    isSimulation error errorCode startedAt completedAt durationMs
    steps { actionId actionType status output error attempts startedAt completedAt durationMs }
    progress { totalSteps completedSteps successfulSteps failedSteps runningSteps percentage }
    timing { startedAt completedAt durationMs isRunning }
    executionSummary { totalSteps successfulSteps failedSteps skippedSteps }
    workflow { id name description trigger status }
  }
}
"""
# Enough processes that together they are never the bottleneck: with the raw client a read
# costs a client a small fraction of what it costs the server, so two (one per core here)
# leave each one mostly idle while the server is saturated (see bench/README.md).
DEFAULT_CLIENT_PROCESSES = 2


def checked(via: str, status: int, body: bytes) -> None:
    """Raise unless `body` is a successful answer of the finished execution."""
    answer = json.loads(body)
    if via == "graphql":
        ok = status == 200 and "errors" not in answer
        ok = ok and answer["data"]["execution"]["status"] == "COMPLETED"
    else:
        ok = status == 200 and answer["execution"]["status"] == "COMPLETED"
    if not ok:
        raise RuntimeError(f"unexpected answer: {status} {answer}")


def raw_request(url: str, execution_id: str, via: str) -> bytes:
    """The bytes of one read's HTTP/1.1 request (keep-alive)."""
    host = urlsplit(url).netloc
    if via == "graphql":
        body = json.dumps({"query": QUERY, "variables": {"ws": "default", "id": execution_id}})
        head = (
            f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body.encode())}\r\n"
        )
    else:
        body = ""
        head = f"GET {API}/workflows/executions/{execution_id} HTTP/1.1\r\nHost: {host}\r\n"
    return f"{head}Authorization: Bearer {TOKEN}\r\n\r\n{body}".encode()


@dataclass
class ClientRun:
    """What one client process measured over the window."""

    latencies_ms: list[float]
    cpu_seconds: float
    wall_seconds: float


async def closed_loop(
    url: str, execution_id: str, via: str, client: str, clients: int, seconds: float, start: Any
) -> ClientRun:
    """`clients` connections reading in a closed loop; `start` (a barrier shared with the
    other processes and the parent, or None) starts the window once all are warm."""
    latencies: list[float] = []
    if client == "raw":
        request = raw_request(url, execution_id, via)
        connections = [await RawConnection.open(url) for _ in range(clients)]

        async def read(connection: Any) -> None:
            checked(via, *await connection.send(request))

    else:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        http = httpx.AsyncClient(base_url=url, headers=HEADERS, limits=limits, timeout=60)
        connections = [http] * clients
        body = {"query": QUERY, "variables": {"ws": "default", "id": execution_id}}

        async def read(connection: Any) -> None:
            if via == "graphql":
                response = await http.post("/graphql", json=body)
            else:
                response = await http.get(f"{API}/workflows/executions/{execution_id}")
            checked(via, response.status_code, response.content)

    async def loop(connection: Any, stop_at: float) -> None:
        while (started := time.perf_counter()) < stop_at:
            await read(connection)
            ended = time.perf_counter()
            if ended <= stop_at:
                latencies.append((ended - started) * 1000)

    try:
        for _ in range(3):  # warm-up: opens the connections, fills the server's caches
            await asyncio.gather(*(read(c) for c in connections))
        if start is not None:
            start.wait()  # every process and the parent leave together
        cpu, began = time.process_time(), time.perf_counter()
        await asyncio.gather(*(loop(c, began + seconds) for c in connections))
        return ClientRun(latencies, time.process_time() - cpu, time.perf_counter() - began)
    finally:
        if client == "raw":
            for connection in connections:
                connection.close()
        else:
            await http.aclose()


def client_process(options: tuple[Any, ...], start: Any, results: Any) -> None:
    """A client process: its share of the connections, its figures put on `results`."""
    results.put(run_loop(closed_loop(*options, start)))


@dataclass
class TransportRun:
    reads_per_s: float
    latencies_ms: list[float]
    server_cpu_ms_per_read: float
    server_cores_busy: float
    client_cpu_ms_per_read: float
    busiest_client_core_share: float


def drive(
    pid: int, url: str, execution_id: str, via: str, args: argparse.Namespace
) -> TransportRun:
    """Load the server from `--client-processes` processes over one window; measure it."""
    processes = args.client_processes
    shares = [args.clients // processes + (i < args.clients % processes) for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes + 1)
    results = context.Queue()
    workers = [
        context.Process(
            target=client_process,
            args=((url, execution_id, via, args.client, share, args.seconds), start, results),
        )
        for share in shares
    ]
    for worker in workers:
        worker.start()
    spy = args.py_spy if via == "graphql" else None
    with py_spy(pid, spy):
        start.wait(timeout=120)
        cpu, began = cpu_seconds(pid), time.monotonic()
        time.sleep(args.seconds)
        server_cpu, wall = cpu_seconds(pid) - cpu, time.monotonic() - began
        runs: list[ClientRun] = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join()
    latencies = [ms for run in runs for ms in run.latencies_ms]
    reads = len(latencies)
    return TransportRun(
        reads_per_s=reads / wall,
        latencies_ms=latencies,
        server_cpu_ms_per_read=1000 * server_cpu / reads,
        server_cores_busy=server_cpu / wall,
        client_cpu_ms_per_read=1000 * sum(run.cpu_seconds for run in runs) / reads,
        busiest_client_core_share=max(run.cpu_seconds / run.wall_seconds for run in runs),
    )


class QueryLog(logging.Handler):
    """Keeps the (sql, params) of every statement sent while attached (Tortoise's and the
    ones runcast sends through SQLite's group)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[tuple[str, list[Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "%s: %s" and isinstance(record.args, tuple) and len(record.args) == 2:
            sql, params = record.args
            self.statements.append((str(sql), list(params or [])))


async def capture_read(database_url: str, execution_id: str) -> list[tuple[str, list[Any]]]:
    """The statements the resolvers send for one read (the same for REST and GraphQL)."""
    from tortoise import Tortoise

    from runcast.db import tortoise_config
    from runcast.resolvers.auth import authenticate
    from runcast.resolvers.executions import execution_status

    await Tortoise.init(config=tortoise_config(database_url))
    log = QueryLog()
    loggers = [logging.getLogger("tortoise.db_client"), logging.getLogger("runcast.sql")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(log)
        logger.setLevel(logging.DEBUG)
    try:
        caller = await authenticate(TOKEN)
        await execution_status(caller, "default", execution_id)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(log)
            logger.setLevel(level)
        await Tortoise.close_connections()
    return log.statements


def floor_sqlite(database_url: str, statements: list[tuple[str, list[Any]]], seconds: float):
    from runcast.db import SQLITE_PRAGMAS

    db = sqlite3.connect(database_url.removeprefix("sqlite://").split("?")[0])
    for pragma, value in SQLITE_PRAGMAS.items():
        db.execute(f"PRAGMA {pragma}={value}")
    done = 0
    started = time.monotonic()
    stop_at = started + seconds
    try:
        while time.monotonic() < stop_at:
            for sql, params in statements:
                db.execute(sql, params).fetchall()
            done += 1
    finally:
        db.close()
    return done / (time.monotonic() - started)


def floor_postgres(database_url: str, statements: list[tuple[str, list[Any]]], seconds: float):
    import asyncpg

    async def loop() -> float:
        db = await asyncpg.connect(database_url)
        done = 0
        started = time.monotonic()
        stop_at = started + seconds
        try:
            while time.monotonic() < stop_at:
                for sql, params in statements:
                    await db.fetch(sql, *params)
                done += 1
        finally:
            await db.close()
        return done / (time.monotonic() - started)

    return asyncio.run(loop())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench graphql")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clients", type=int, default=20, help="connections, in all")
    parser.add_argument(
        "--client-processes",
        type=int,
        default=DEFAULT_CLIENT_PROCESSES,
        help="processes the connections are spread over",
    )
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--seconds", type=float, default=10, help="per transport")
    parser.add_argument("--floor-seconds", type=float, default=5)
    parser.add_argument("--py-spy", help="record the server during the GraphQL run (raw)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if not 1 <= args.client_processes <= args.clients:
        parser.error("--client-processes must be between 1 and --clients")

    runs: dict[str, TransportRun] = {}
    with server(args.backend) as live:
        workflow_id = create_workflow(live.url, ACTIONS)
        execution = httpx.post(
            f"{live.url}{API}/workflows/{workflow_id}/execute",
            headers=HEADERS,
            json={"wait": True, "triggerData": {"userId": "u"}},
        ).json()["execution"]
        for via in ("rest", "graphql"):
            runs[via] = drive(live.process.pid, live.url, execution["id"], via, args)
        statements = asyncio.run(capture_read(live.database_url, execution["id"]))
        floor_run = floor_sqlite if args.backend == "sqlite" else floor_postgres
        floor_run(live.database_url, statements, 0.5)  # warm-up
        floor_rate = floor_run(live.database_url, statements, args.floor_seconds)

    graphql, rest = runs["graphql"], runs["rest"]
    result = {
        "backend": args.backend,
        "clients": args.clients,
        "client_processes": args.client_processes,
        "client": args.client,
        "seconds": args.seconds,
        "graphql_reads_per_s": graphql.reads_per_s,
        "rest_reads_per_s": rest.reads_per_s,
        "ratio_graphql_to_rest": graphql.reads_per_s / rest.reads_per_s,
        "ratio_graphql_to_rest_by_server_cpu": (
            rest.server_cpu_ms_per_read / graphql.server_cpu_ms_per_read
        ),
        "latency_ms": {
            via: {"p50": percentile(run.latencies_ms, 50), "p99": percentile(run.latencies_ms, 99)}
            for via, run in runs.items()
        },
        "server_cpu_ms_per_read": {via: run.server_cpu_ms_per_read for via, run in runs.items()},
        "server_cores_busy": {via: run.server_cores_busy for via, run in runs.items()},
        "client_cpu_ms_per_read": {via: run.client_cpu_ms_per_read for via, run in runs.items()},
        "busiest_client_core_share": {
            via: run.busiest_client_core_share for via, run in runs.items()
        },
        "floor_statements": len(statements),
        "floor_reads_per_s": floor_rate,
        "ratio_graphql_to_floor": graphql.reads_per_s / floor_rate,
        "ratio_rest_to_floor": rest.reads_per_s / floor_rate,
    }
    driver = "sqlite3" if args.backend == "sqlite" else "asyncpg"
    title = (
        f"graphql ({args.backend}, {args.clients} {args.client} clients in "
        f"{args.client_processes} processes, {args.seconds:.0f} s each)"
    )
    rows: list[tuple[str, Any]] = []
    for via, name in (("graphql", "GraphQL"), ("rest", "REST")):
        run = runs[via]
        rows += [
            (f"{name} execution reads/s", run.reads_per_s),
            (f"{name} p50 / p99 ms", "{p50:.2f} / {p99:.2f}".format(**result["latency_ms"][via])),
            (f"{name} server CPU ms per read", f"{run.server_cpu_ms_per_read:.3f}"),
            (f"{name} server cores busy", run.server_cores_busy),
            (f"{name} client CPU ms per read", f"{run.client_cpu_ms_per_read:.3f}"),
            (f"{name} busiest client process, core share", run.busiest_client_core_share),
        ]
    rows += [
        ("GraphQL / REST by rate", result["ratio_graphql_to_rest"]),
        ("GraphQL / REST by server CPU per read", result["ratio_graphql_to_rest_by_server_cpu"]),
        ("floor ms per read (one connection, serial)", f"{1000 / floor_rate:.3f}"),
        (f"floor (same {len(statements)} statements, {driver}) reads/s", floor_rate),
        ("GraphQL / floor", f"{result['ratio_graphql_to_floor']:.4f}"),
        ("REST / floor", f"{result['ratio_rest_to_floor']:.4f}"),
    ]
    print_table(title, rows)
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
