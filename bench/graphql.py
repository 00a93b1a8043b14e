"""graphql: reading one execution over GraphQL and over REST, with concurrent clients.

One finished execution of the 5-step throughput workflow is read by --clients concurrent
clients in a closed loop for --seconds each:

- GraphQL: `POST /graphql` with `execution(workspaceSlug, id)` selecting every field the REST
  answer carries (the execution, its steps, progress, timing, executionSummary, workflow);
- REST: `GET /api/workspaces/default/workflows/executions/:id`.

Both answers are parsed and checked. Reported: reads/s and latency of each, and the ratio
GraphQL/REST. Floor: the same read's SQL, captured from Tortoise's query log while the
resolvers answer one read in this process (token lookup, membership, the execution, its
steps, its workflow: 5 statements), replayed in a loop on the raw driver (sqlite3, or
asyncpg on Postgres): reads/s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import time
from typing import Any

import httpx

from bench.harness import (
    API,
    HEADERS,
    TOKEN,
    cpu_seconds,
    create_workflow,
    percentile,
    print_table,
    py_spy,
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


async def closed_loop(
    url: str, execution_id: str, via: str, clients: int, seconds: float
) -> list[float]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    body = {"query": QUERY, "variables": {"ws": "default", "id": execution_id}}
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, limits=limits, timeout=60) as http:

        async def read() -> None:
            if via == "graphql":
                response = await http.post("/graphql", json=body)
                answer = response.json()
                ok = response.status_code == 200 and "errors" not in answer
                ok = ok and answer["data"]["execution"]["status"] == "COMPLETED"
            else:
                response = await http.get(f"{API}/workflows/executions/{execution_id}")
                answer = response.json()
                ok = response.status_code == 200
                ok = ok and answer["execution"]["status"] == "COMPLETED"
            if not ok:
                raise RuntimeError(f"unexpected answer: {response.status_code} {answer}")

        async def client(stop_at: float) -> None:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                await read()
                latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(read() for _ in range(clients)))  # warm-up, opens connections
        await asyncio.gather(*(client(time.monotonic() + seconds) for _ in range(clients)))
    return latencies


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
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10, help="per transport")
    parser.add_argument("--floor-seconds", type=float, default=5)
    parser.add_argument("--py-spy", help="record the server during the GraphQL run (raw)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    runs: dict[str, list[float]] = {}
    rates: dict[str, float] = {}
    cpu_ms: dict[str, float] = {}
    with server(args.backend) as live:
        workflow_id = create_workflow(live.url, ACTIONS)
        execution = httpx.post(
            f"{live.url}{API}/workflows/{workflow_id}/execute",
            headers=HEADERS,
            json={"wait": True, "triggerData": {"userId": "u"}},
        ).json()["execution"]
        for via in ("rest", "graphql"):
            spy = args.py_spy if via == "graphql" else None
            with py_spy(live.process.pid, spy):
                started = time.monotonic()
                cpu = cpu_seconds(live.process.pid)
                runs[via] = asyncio.run(
                    closed_loop(live.url, execution["id"], via, args.clients, args.seconds)
                )
                rates[via] = len(runs[via]) / (time.monotonic() - started)
                # server CPU per read (includes the warm-up reads: one per client)
                reads = len(runs[via]) + args.clients
                cpu_ms[via] = 1000 * (cpu_seconds(live.process.pid) - cpu) / reads
        statements = asyncio.run(capture_read(live.database_url, execution["id"]))
        floor_run = floor_sqlite if args.backend == "sqlite" else floor_postgres
        floor_run(live.database_url, statements, 0.5)  # warm-up
        floor_rate = floor_run(live.database_url, statements, args.floor_seconds)

    result = {
        "backend": args.backend,
        "clients": args.clients,
        "seconds": args.seconds,
        "graphql_reads_per_s": rates["graphql"],
        "rest_reads_per_s": rates["rest"],
        "ratio_graphql_to_rest": rates["graphql"] / rates["rest"],
        "latency_ms": {
            via: {"p50": percentile(runs[via], 50), "p99": percentile(runs[via], 99)}
            for via in runs
        },
        "server_cpu_ms_per_read": cpu_ms,
        "floor_statements": len(statements),
        "floor_reads_per_s": floor_rate,
        "ratio_graphql_to_floor": rates["graphql"] / floor_rate,
        "ratio_rest_to_floor": rates["rest"] / floor_rate,
    }
    driver = "sqlite3" if args.backend == "sqlite" else "asyncpg"
    title = f"graphql ({args.backend}, {args.clients} clients, {args.seconds:.0f} s each)"
    print_table(
        title,
        [
            ("GraphQL execution reads/s", rates["graphql"]),
            ("GraphQL p50 ms", result["latency_ms"]["graphql"]["p50"]),
            ("GraphQL p99 ms", result["latency_ms"]["graphql"]["p99"]),
            ("REST execution reads/s", rates["rest"]),
            ("REST p50 ms", result["latency_ms"]["rest"]["p50"]),
            ("REST p99 ms", result["latency_ms"]["rest"]["p99"]),
            ("GraphQL / REST", result["ratio_graphql_to_rest"]),
            (
                "server CPU ms per read GraphQL / REST",
                f"{cpu_ms['graphql']:.2f} / {cpu_ms['rest']:.2f}",
            ),
            ("floor ms per read (one connection, serial)", f"{1000 / floor_rate:.3f}"),
            (f"floor (same {len(statements)} statements, {driver}) reads/s", floor_rate),
            ("GraphQL / floor", f"{result['ratio_graphql_to_floor']:.4f}"),
            ("REST / floor", f"{result['ratio_rest_to_floor']:.4f}"),
        ],
    )
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
