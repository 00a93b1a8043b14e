"""step-overhead: what the engine spends between one step and the next.

One workflow of 40 sequential `noop` steps (the plugin action: no I/O, answers at once) is
executed --runs times, one at a time, each with `"wait": true`. Reported:

- wall: request → COMPLETED answer, and wall / 40;
- per step: the interval between one step's commit and the next one's (`completed_at[k] -
  completed_at[k-1]`, microseconds from the database), which is the whole cost of one step:
  handler, template rendering, the commit's transaction and publishing. p50 / p99;
- gap: the time between a step's `completedAt` and the next step's `startedAt` in the REST
  step list (`GET …/executions/:id`), as the issue defines it. Since the engine starts the
  next step inside the previous step's commit, both carry the same timestamp and this gap
  is 0 by construction: the per-step interval above is where the overhead shows;
- 40 steps: first step's start → last step's end.

Floor: the rows one step changes, written with the raw driver in a loop, one transaction per
step, on the server's own database after the engine runs (same tables, same indexes, same
pragmas): the guarded execution update (`last_seq`), the finished step, the next step marked
running, and the two event inserts (`step`, `progress`). sqlite3 on SQLite, asyncpg on
Postgres.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.harness import (
    API,
    HEADERS,
    create_workflow,
    epoch,
    percentile,
    print_table,
    py_spy,
    server,
    sql_rows,
    write_json,
)

NOOP = {"type": "noop", "config": {}}


def run_executions(
    url: str, workflow_id: str, runs: int, sent: dict[str, tuple[float, float]] | None = None
) -> tuple[list[str], list[float]]:
    """Execute one at a time; `sent` gets each execution's (request sent, answer read) as
    time.time(), to place the server's timestamps on the same clock."""
    ids, walls = [], []
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as http:
        for _ in range(runs):
            started, sent_at = time.perf_counter(), time.time()
            response = http.post(f"{API}/workflows/{workflow_id}/execute", json={"wait": True})
            walls.append((time.perf_counter() - started) * 1000)
            if sent is not None:
                sent[response.json()["execution"]["id"]] = (sent_at, time.time())
            execution = response.json()["execution"]
            if response.status_code != 201 or execution["status"] != "COMPLETED":
                raise RuntimeError(f"unexpected answer: {response.status_code} {execution}")
            ids.append(execution["id"])
    return ids, walls


def rest_gaps(url: str, ids: list[str]) -> list[float]:
    """completedAt[k] → startedAt[k+1] from the REST step lists, ms (ms resolution)."""
    gaps = []
    with httpx.Client(base_url=url, headers=HEADERS, timeout=60) as http:
        for execution_id in ids:
            steps = http.get(f"{API}/workflows/executions/{execution_id}").json()["execution"][
                "steps"
            ]
            for before, after in itertools.pairwise(steps):
                gaps.append((epoch(after["startedAt"]) - epoch(before["completedAt"])) * 1000)
    return gaps


def step_intervals(database_url: str, ids: list[str]) -> tuple[list[float], dict[str, float]]:
    """(commit-to-commit intervals, first-start-to-last-end span by execution), ms, from the
    step rows."""
    marks = ", ".join("?" * len(ids))
    rows = sql_rows(
        database_url,
        "SELECT execution_id, position, started_at, completed_at FROM step_run "
        f"WHERE execution_id IN ({marks}) ORDER BY execution_id, position",
        ids,
    )
    by_execution: dict[str, list[tuple[float, float]]] = {}
    for execution_id, _, started, completed in rows:
        by_execution.setdefault(execution_id, []).append((epoch(started), epoch(completed)))
    intervals, spans = [], {}
    for execution_id, steps in by_execution.items():
        intervals.append((steps[0][1] - steps[0][0]) * 1000)
        intervals += [(b[1] - a[1]) * 1000 for a, b in itertools.pairwise(steps)]
        spans[execution_id] = (steps[-1][1] - steps[0][0]) * 1000
    return intervals, spans


def outside_steps(
    database_url: str, sent: dict[str, tuple[float, float]]
) -> dict[str, list[float]]:
    """Where the time outside the steps goes, ms: request → execution row created (its
    `created_at`; `started_at` is the same moment), created → first step started (wake-up,
    claim, runner start), last step done → execution completed, completed → answer read by
    the client."""
    ids = list(sent)
    marks = ", ".join("?" * len(ids))
    executions = sql_rows(
        database_url,
        f"SELECT id, created_at, completed_at FROM execution WHERE id IN ({marks})",
        ids,
    )
    steps = sql_rows(
        database_url,
        "SELECT execution_id, MIN(started_at), MAX(completed_at) FROM step_run "
        f"WHERE execution_id IN ({marks}) GROUP BY execution_id",
        ids,
    )
    first_last = {e: (epoch(first), epoch(last)) for e, first, last in steps}
    parts: dict[str, list[float]] = {
        "request→created": [],
        "created→first step started": [],
        "last step→completed": [],
        "completed→answer read": [],
    }
    for execution_id, created, completed in executions:
        request, answer = sent[execution_id]
        first, last = first_last[execution_id]
        moments = [request, epoch(created), first, last, epoch(completed), answer]
        gaps = [(b - a) * 1000 for a, b in itertools.pairwise(moments)]
        del gaps[2]  # first step → last step: the steps themselves
        for name, value in zip(parts, gaps, strict=True):
            parts[name].append(value)
    return parts


def _floor_target(database_url: str, execution_id: str) -> tuple[str, int, int, list[int]]:
    (status, fencing, last_seq), *_ = sql_rows(
        database_url,
        "SELECT status, fencing_token, last_seq FROM execution WHERE id = ?",
        [execution_id],
    )
    steps = sql_rows(
        database_url,
        "SELECT id FROM step_run WHERE execution_id = ? ORDER BY position",
        [execution_id],
    )
    return status, fencing, last_seq, [row[0] for row in steps]


def _event_payloads(i: int) -> tuple[str, str]:
    """The `step` and `progress` payloads a floor writes for step `i`, as JSON text."""
    step_event = {
        "actionId": f"action-{i}",
        "actionType": "noop",
        "status": "success",
        "output": {"ok": True},
        "durationMs": 1,
    }
    progress = {
        "totalSteps": 40,
        "completedSteps": i % 40,
        "successfulSteps": i % 40,
        "failedSteps": 0,
        "percentage": 50,
        "status": "RUNNING",
    }
    return json.dumps(step_event), json.dumps(progress)


def floor_sqlite(database_url: str, execution_id: str, count: int) -> list[float]:
    """Per-step ms of the same writes through sqlite3, one transaction per step."""
    from runcast.db import SQLITE_PRAGMAS

    status, fencing, seq, steps = _floor_target(database_url, execution_id)
    db = sqlite3.connect(database_url.removeprefix("sqlite://"), isolation_level=None)
    for pragma, value in SQLITE_PRAGMAS.items():
        db.execute(f"PRAGMA {pragma}={value}")
    samples = []
    try:
        for i in range(count):
            began = time.perf_counter()
            now = str(datetime.now(UTC))
            step, following = steps[i % len(steps)], steps[(i + 1) % len(steps)]
            output = json.dumps({"ok": True})
            step_event, progress = _event_payloads(i)
            db.execute("BEGIN")
            updated = db.execute(
                "UPDATE execution SET last_seq = ? WHERE id = ? AND fencing_token = ? "
                "AND status = ?",
                (seq + 2, execution_id, fencing, status),
            ).rowcount
            assert updated == 1
            db.execute(
                "UPDATE step_run SET status = ?, output = ?, error = ?, attempts = ?, "
                "completed_at = ?, duration_ms = ? WHERE id = ?",
                ("success", output, None, 1, now, 1, step),
            )
            db.execute(
                "UPDATE step_run SET status = ?, started_at = ? WHERE id = ?",
                ("running", now, following),
            )
            db.executemany(
                "INSERT INTO execution_event (seq, type, payload, created_at, execution_id) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (seq + 1, "step", step_event, now, execution_id),
                    (seq + 2, "progress", progress, now, execution_id),
                ],
            )
            db.execute("COMMIT")
            seq += 2
            samples.append((time.perf_counter() - began) * 1000)
    finally:
        db.close()
    return samples


def floor_postgres(database_url: str, execution_id: str, count: int) -> list[float]:
    """Per-step ms of the same writes through asyncpg, one transaction per step."""
    import asyncio

    import asyncpg

    status, fencing, seq, steps = _floor_target(database_url, execution_id)

    async def loop() -> list[float]:
        nonlocal seq
        db = await asyncpg.connect(database_url)
        samples = []
        try:
            for i in range(count):
                began = time.perf_counter()
                now = datetime.now(UTC)
                step, following = steps[i % len(steps)], steps[(i + 1) % len(steps)]
                step_event, progress = _event_payloads(i)
                async with db.transaction():
                    updated = await db.execute(
                        "UPDATE execution SET last_seq = $1 WHERE id = $2 AND "
                        "fencing_token = $3 AND status = $4",
                        seq + 2,
                        execution_id,
                        fencing,
                        status,
                    )
                    assert updated == "UPDATE 1"
                    await db.execute(
                        "UPDATE step_run SET status = $1, output = $2, error = $3, "
                        "attempts = $4, completed_at = $5, duration_ms = $6 WHERE id = $7",
                        "success",
                        json.dumps({"ok": True}),
                        None,
                        1,
                        now,
                        1,
                        step,
                    )
                    await db.execute(
                        "UPDATE step_run SET status = $1, started_at = $2 WHERE id = $3",
                        "running",
                        now,
                        following,
                    )
                    await db.executemany(
                        "INSERT INTO execution_event (seq, type, payload, created_at, "
                        "execution_id) VALUES ($1, $2, $3, $4, $5)",
                        [
                            (seq + 1, "step", step_event, now, execution_id),
                            (seq + 2, "progress", progress, now, execution_id),
                        ],
                    )
                seq += 2
                samples.append((time.perf_counter() - began) * 1000)
        finally:
            await db.close()
        return samples

    return asyncio.run(loop())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench step-overhead")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--py-spy", help="record the server with py-spy (raw stacks) here")
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    with server(args.backend) as live:
        workflow_id = create_workflow(live.url, [NOOP] * args.steps)
        run_executions(live.url, workflow_id, 3)  # warm-up
        sent: dict[str, tuple[float, float]] = {}
        with py_spy(live.process.pid, args.py_spy):
            ids, walls = run_executions(live.url, workflow_id, args.runs, sent)
        parts = outside_steps(live.database_url, sent)
        gaps = rest_gaps(live.url, ids)
        intervals, span_of = step_intervals(live.database_url, ids)
        floor_run = floor_sqlite if args.backend == "sqlite" else floor_postgres
        floor_run(live.database_url, ids[0], 50)  # warm-up
        floor = floor_run(live.database_url, ids[-1], args.runs * args.steps)

    spans = [span_of[i] for i in ids]
    outside = [wall - span for wall, span in zip(walls, spans, strict=True)]
    per_step = {"p50": percentile(intervals, 50), "p99": percentile(intervals, 99)}
    floor_p50 = percentile(floor, 50)
    result = {
        "backend": args.backend,
        "steps": args.steps,
        "runs": args.runs,
        "wall_ms": {"p50": percentile(walls, 50), "p99": percentile(walls, 99)},
        "wall_per_step_ms": percentile(walls, 50) / args.steps,
        "step_interval_ms": per_step,
        "gap_completed_to_next_started_ms": {
            "p50": percentile(gaps, 50),
            "p99": percentile(gaps, 99),
        },
        "steps_span_ms": {"p50": percentile(spans, 50), "p99": percentile(spans, 99)},
        "outside_steps_ms": {"p50": percentile(outside, 50), "p99": percentile(outside, 99)},
        "outside_steps_p50_ms": {name: percentile(v, 50) for name, v in parts.items()},
        "floor_step_ms": {"p50": floor_p50, "p99": percentile(floor, 99)},
        "ratio_engine_to_floor_p50": per_step["p50"] / floor_p50,
    }
    name = "SQLite + sqlite3" if args.backend == "sqlite" else "Postgres + asyncpg"
    print_table(
        f"step-overhead ({args.backend}, {args.runs} runs of {args.steps} noop steps)",
        [
            ("request→COMPLETED p50 ms", result["wall_ms"]["p50"]),
            ("request→COMPLETED p99 ms", result["wall_ms"]["p99"]),
            ("wall p50 / steps ms", result["wall_per_step_ms"]),
            (f"first start→last end of {args.steps} steps p50 ms", result["steps_span_ms"]["p50"]),
            (f"first start→last end of {args.steps} steps p99 ms", result["steps_span_ms"]["p99"]),
            ("request→COMPLETED minus the steps p50 ms", result["outside_steps_ms"]["p50"]),
            *[
                (f"  of which {name} p50 ms", value)
                for name, value in result["outside_steps_p50_ms"].items()
            ],
            ("per step (commit→commit) p50 ms", per_step["p50"]),
            ("per step (commit→commit) p99 ms", per_step["p99"]),
            (
                "gap completedAt→next startedAt p50 ms",
                result["gap_completed_to_next_started_ms"]["p50"],
            ),
            (
                "gap completedAt→next startedAt p99 ms",
                result["gap_completed_to_next_started_ms"]["p99"],
            ),
            (f"floor ({name}) per step p50 ms", floor_p50),
            (f"floor ({name}) per step p99 ms", result["floor_step_ms"]["p99"]),
            ("engine / floor (per step p50)", result["ratio_engine_to_floor_p50"]),
        ],
    )
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
