"""Benchmark the execution listings (issues 5 and 12) on SQLite against a raw-driver floor.

Builds a SQLite database holding one workflow with --rows executions, then times, through
the real app (httpx ASGITransport, with auth, the store and JSON), --repeat times each:
`GET .../workflows/:id/executions` for the first page and for a filtered page, and the
GraphQL `executions` connection for a page of 100 executions with their workflow, the
total and the statistics (the workflow's, and the whole workspace's). The floor replays
the very SQL statements the request sent to the `execution` table (the page, the GROUP BY
and the percentile queries), captured from Tortoise's query log, directly on the sqlite3
driver. Run: `python bench/history.py [--rows 100000] [--repeat 50] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import platform
import random
import re
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from tortoise import Tortoise

from runcast.app import create_app
from runcast.bootstrap import create_token
from runcast.db import SQLITE_PRAGMAS, apply_migrations, tortoise_config
from runcast.ids import new_id
from runcast.models import Role, Workflow, Workspace
from runcast.settings import Settings

START = datetime(2024, 9, 1, tzinfo=UTC)
DAYS = 90
STATUSES = ("COMPLETED", "FAILED", "CANCELLED")
WEIGHTS = (85, 11, 4)
COLUMNS = (
    "id, workspace_id, workflow_id, status, trigger_type, trigger_data, variables, actions, "
    "is_simulation, cancel_requested, created_at, started_at, completed_at, duration_ms, "
    "last_seq, fencing_token, chain_depth"
)


GRAPHQL_PAGE = """
query($filter: ExecutionFilter) {
  executions(workspaceSlug: "bench", first: 100, filter: $filter) {
    edges { cursor node { id status startedAt completedAt durationMs workflow { id name } } }
    pageInfo { hasNextPage endCursor }
    totalCount
    statistics {
      total byStatus { pending running completed failed cancelled }
      successRate averageDurationMs p50DurationMs p95DurationMs
    }
  }
}
"""
_FROM_EXECUTION = re.compile(r'\bFROM "?execution"?(?:\s|$)')


@dataclass(frozen=True)
class Scenario:
    """One request to time: a GET of `path` with `params`, or a POST of `body` to it."""

    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    async def send(self, client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
        if self.body is not None:
            response = await client.post(self.path, json=self.body, headers=headers)
        else:
            response = await client.get(self.path, params=self.params, headers=headers)
        response.raise_for_status()
        if self.body is not None and "errors" in response.json():
            raise RuntimeError(response.text[:500])
        return response


class QueryLog(logging.Handler):
    """Keeps the (sql, params) of every statement Tortoise sends while enabled."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[tuple[str, list[Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.args, tuple) and len(record.args) == 2:
            sql, params = record.args
            self.statements.append((str(sql), list(params or [])))


def nearest_rank(samples: list[float], percent: int) -> float:
    ordered = sorted(samples)
    return ordered[math.ceil(percent * len(ordered) / 100) - 1]


def _row(workspace_id: str, workflow_id: str, rng: random.Random, i: int) -> tuple[Any, ...]:
    started = START + timedelta(seconds=rng.randrange(DAYS * 86400), milliseconds=i % 1000)
    duration = int(rng.lognormvariate(8, 0.8))
    completed = started + timedelta(milliseconds=duration)
    return (
        f"exec_{i:024x}",
        workspace_id,
        workflow_id,
        rng.choices(STATUSES, WEIGHTS)[0],
        "manual",
        "{}",
        "{}",
        "[]",
        0,
        0,
        started.isoformat(" "),
        started.isoformat(" "),
        completed.isoformat(" "),
        duration,
        0,
        0,
        0,
    )


async def build_database(path: Path, rows: int) -> tuple[str, str]:
    """Migrate, create a viewer token and a workflow, bulk-insert executions."""
    url = f"sqlite://{path}"
    await apply_migrations(url)
    await Tortoise.init(config=tortoise_config(url))
    try:
        token = await create_token("bench", "bench", Role.VIEWER)
        workspace = await Workspace.get(slug="bench")
        workflow = await Workflow.create(
            id=new_id("wf"), workspace=workspace, name="Bench", actions=[]
        )
    finally:
        await Tortoise.close_connections()
    rng = random.Random(5)
    with sqlite3.connect(path) as db:
        placeholders = ", ".join("?" * len(COLUMNS.split(",")))
        db.executemany(
            f"INSERT INTO execution ({COLUMNS}) VALUES ({placeholders})",
            (_row(workspace.id, workflow.id, rng, i) for i in range(rows)),
        )
        db.execute("ANALYZE")
    return token, workflow.id


async def time_route(
    client: httpx.AsyncClient, scenario: Scenario, headers: dict[str, str], n: int
) -> list[float]:
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        await scenario.send(client, headers)
        samples.append((time.perf_counter() - began) * 1000)
    return samples


async def capture_statements(
    client: httpx.AsyncClient, scenario: Scenario, headers: dict[str, str]
) -> list[tuple[str, list[Any]]]:
    """The statements one request sends to the `execution` table (on the ORM's connection,
    where the listings read, or on the store's own)."""
    log = QueryLog()
    loggers = [logging.getLogger(name) for name in ("tortoise.db_client", "runcast.sql")]
    for logger in loggers:
        logger.addHandler(log)
        logger.setLevel(logging.DEBUG)
    try:
        await scenario.send(client, headers)
    finally:
        for logger in loggers:
            logger.removeHandler(log)
            logger.setLevel(logging.WARNING)
    return [
        (sql, p)
        for sql, p in log.statements
        if sql.startswith("SELECT") and _FROM_EXECUTION.search(sql)
    ]


def time_floor(path: Path, statements: list[tuple[str, list[Any]]], n: int) -> list[float]:
    db = sqlite3.connect(path)
    for pragma, value in SQLITE_PRAGMAS.items():
        db.execute(f"PRAGMA {pragma}={value}")
    samples = []
    try:
        for _ in range(n):
            began = time.perf_counter()
            for sql, params in statements:
                db.execute(sql, params).fetchall()
            samples.append((time.perf_counter() - began) * 1000)
    finally:
        db.close()
    return samples


async def run(rows: int, repeat: int, directory: Path) -> dict[str, Any]:
    path = directory / "history-bench.db"
    path.unlink(missing_ok=True)
    began = time.perf_counter()
    token, workflow_id = await build_database(path, rows)
    build_s = time.perf_counter() - began
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/workspaces/bench/workflows/{workflow_id}/executions"
    scenarios = {
        "first page + statistics": Scenario(url),
        "filtered (2 statuses, 30 days, offset 40)": Scenario(
            url,
            {
                "status": "FAILED,CANCELLED",
                "from": "2024-10-01T00:00:00Z",
                "to": "2024-10-31T00:00:00Z",
                "offset": "40",
            },
        ),
        "graphql: 100 + workflow + statistics": Scenario(
            "/graphql",
            body={"query": GRAPHQL_PAGE, "variables": {"filter": {"workflowId": workflow_id}}},
        ),
        "graphql: same, workspace-wide": Scenario(
            "/graphql", body={"query": GRAPHQL_PAGE, "variables": {}}
        ),
    }
    app = create_app(Settings(database_url=f"sqlite://{path}", poll_seconds=60.0))
    results: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, scenario in scenarios.items():
                await time_route(client, scenario, headers, 3)
                statements = await capture_statements(client, scenario, headers)
                resolver = await time_route(client, scenario, headers, repeat)
                time_floor(path, statements, 3)
                floor = time_floor(path, statements, repeat)
                body = (await scenario.send(client, headers)).json()
                if scenario.body is not None:
                    body = body["data"]["executions"]
                results[name] = {
                    "resolver_ms": {p: round(nearest_rank(resolver, p), 2) for p in (50, 95)},
                    "floor_ms": {p: round(nearest_rank(floor, p), 2) for p in (50, 95)},
                    "ratio_p50": round(nearest_rank(resolver, 50) / nearest_rank(floor, 50), 2),
                    "floor_statements": len(statements),
                    "statistics": body["statistics"],
                }
    return {
        "rows": rows,
        "repeat": repeat,
        "build_seconds": round(build_s, 2),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "scenarios": results,
    }


def print_table(report: dict[str, Any]) -> None:
    print(
        f"{report['rows']:,} executions, {report['repeat']} requests per scenario "
        f"(SQLite {report['sqlite']}, Python {report['python']})"
    )
    header = f"{'scenario':44} {'resolver p50':>12} {'p95':>8} {'floor p50':>10} {'p95':>8}"
    print(header + f" {'ratio':>6}")
    for name, r in report["scenarios"].items():
        print(
            f"{name:44} {r['resolver_ms'][50]:>10.1f}ms {r['resolver_ms'][95]:>6.1f}ms "
            f"{r['floor_ms'][50]:>8.1f}ms {r['floor_ms'][95]:>6.1f}ms {r['ratio_p50']:>6.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--dir", type=Path, help="where to build the database (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        report = asyncio.run(run(args.rows, args.repeat, args.dir or Path(scratch)))
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
