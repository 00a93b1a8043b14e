"""throughput: a 5-step workflow run by 20 concurrent clients, and one request at a time.

Each client posts `…/execute` with `"wait": true` in a loop, so a response is a COMPLETED
execution and its latency is request-to-COMPLETED. On SQLite the size of the server's
`-wal` file is sampled every 20 ms from start to end, and its peak reported. The floor
writes the same rows (the execution, five steps, each step's result and its events) with
the raw sqlite3 driver in one loop: the least work the same result needs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bench.harness import (
    API,
    HEADERS,
    cpu_seconds,
    create_workflow,
    percentile,
    print_table,
    py_spy,
    server,
    top_functions,
    write_json,
)
from runcast.db import sqlite_file

WAL_SAMPLE_S = 0.02

ACTIONS = [
    {"type": "send_notification", "config": {"message": "Welcome {{trigger.userId}}"}},
    {"type": "create_task", "config": {"title": "Checklist"}},
    {"type": "condition", "config": {"field": "trigger.userId", "operator": "exists"}},
    {"type": "wait", "config": {"durationMs": 0}},
    {"type": "noop", "config": {}},
]


async def closed_loop(url: str, workflow_id: str, clients: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, limits=limits, timeout=60) as http:

        async def client() -> None:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                response = await http.post(
                    f"{API}/workflows/{workflow_id}/execute",
                    json={"wait": True, "triggerData": {"userId": "u"}},
                )
                body = response.json()
                if response.status_code != 201 or body["execution"]["status"] != "COMPLETED":
                    raise RuntimeError(f"unexpected answer: {response.status_code} {body}")
                latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


class WalPeak:
    """The largest size a SQLite database's `-wal` file reached while sampled, and how
    often it was seen to shrink (a commit cut it back to `journal_size_limit` after a reset)."""

    def __init__(self, database: str) -> None:
        self.path = f"{database}-wal"
        self.bytes = 0
        self.shrinks = 0
        self._previous = 0

    def sample(self) -> None:
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            size = 0
        self.bytes = max(self.bytes, size)
        if size < self._previous:
            self.shrinks += 1
        self._previous = size


@contextmanager
def sampling(database_url: str) -> Iterator[WalPeak | None]:
    """Sample the WAL of `database_url` in a thread while inside; None off SQLite."""
    database = sqlite_file(database_url)
    if database is None:
        yield None
        return
    peak = WalPeak(database)
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(WAL_SAMPLE_S):
            peak.sample()

    thread = threading.Thread(target=run, name="wal sampler", daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()
        peak.sample()


def floor(seconds: float) -> float:
    """Executions/s when the same rows are written with sqlite3 directly."""
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(f"{tmp}/floor.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE execution (id TEXT PRIMARY KEY, status TEXT, data TEXT, "
            "last_seq INT, completed_at TEXT)"
        )
        db.execute(
            "CREATE TABLE step (id INTEGER PRIMARY KEY, execution_id TEXT, position INT,"
            " status TEXT, output TEXT, UNIQUE (execution_id, position))"
        )
        db.execute(
            "CREATE TABLE event (id INTEGER PRIMARY KEY, execution_id TEXT, seq INT, "
            "type TEXT, payload TEXT, UNIQUE (execution_id, seq))"
        )
        done = 0
        stop_at = time.monotonic() + seconds
        started = time.monotonic()
        while time.monotonic() < stop_at:
            execution_id = uuid.uuid4().hex
            db.execute("BEGIN")
            db.execute(
                "INSERT INTO execution VALUES (?, 'PENDING', '{}', 0, NULL)", (execution_id,)
            )
            db.executemany(
                "INSERT INTO step (execution_id, position, status) VALUES (?, ?, 'pending')",
                [(execution_id, i) for i in range(5)],
            )
            db.execute("COMMIT")
            seq = 0
            for position in range(5):
                db.execute(
                    "UPDATE step SET status = 'running' WHERE execution_id = ? AND position = ?",
                    (execution_id, position),
                )
                db.execute("BEGIN")
                db.execute(
                    "UPDATE step SET status = 'success', output = ? WHERE "
                    "execution_id = ? AND position = ?",
                    (json.dumps({"ok": True}), execution_id, position),
                )
                events = [
                    (execution_id, seq + 1, "step", "{}"),
                    (execution_id, seq + 2, "progress", "{}"),
                ]
                if position == 4:
                    events.append((execution_id, seq + 3, "complete", "{}"))
                db.executemany(
                    "INSERT INTO event (execution_id, seq, type, payload) VALUES (?, ?, ?, ?)",
                    events,
                )
                seq += len(events)
                db.execute(
                    "UPDATE execution SET last_seq = ?, status = ? WHERE id = ?",
                    (seq, "COMPLETED" if position == 4 else "RUNNING", execution_id),
                )
                db.execute("COMMIT")
            done += 1
        return done / (time.monotonic() - started)


async def one_at_a_time(url: str, workflow_id: str, count: int) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=60) as http:
        for _ in range(count):
            started = time.perf_counter()
            response = await http.post(
                f"{API}/workflows/{workflow_id}/execute",
                json={"wait": True, "triggerData": {"userId": "u"}},
            )
            assert response.json()["execution"]["status"] == "COMPLETED"
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench throughput")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--single", type=int, default=300, help="one-at-a-time requests")
    parser.add_argument("--py-spy", help="record the server under load with py-spy (raw stacks)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    with server(args.backend) as live, sampling(live.database_url) as wal:
        idle_rss = live.rss_mib()
        workflow_id = create_workflow(live.url, ACTIONS)
        asyncio.run(one_at_a_time(live.url, workflow_id, 20))
        single = asyncio.run(one_at_a_time(live.url, workflow_id, args.single))
        with py_spy(live.process.pid, args.py_spy):
            cpu_before = cpu_seconds(live.process.pid)
            started = time.monotonic()
            latencies = asyncio.run(closed_loop(live.url, workflow_id, args.clients, args.seconds))
            elapsed = time.monotonic() - started
            cpu_used = cpu_seconds(live.process.pid) - cpu_before
        end_rss = live.rss_mib()
    rate = len(latencies) / elapsed
    cpu_ms = 1000 * cpu_used / len(latencies) if latencies else float("nan")
    wal_peak_mib = wal.bytes / 2**20 if wal is not None else None
    wal_shrinks = wal.shrinks if wal is not None else None
    floor_rate = floor(5.0)
    result = {
        "backend": args.backend,
        "clients": args.clients,
        "executions_per_s": rate,
        "latency_ms": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
        },
        "single_latency_ms": {"p50": percentile(single, 50), "p95": percentile(single, 95)},
        "server_cpu_ms_per_execution": cpu_ms,
        "server_cpu_share": cpu_used / elapsed,
        "rss_mib": {"idle": idle_rss, "after_run": end_rss},
        "wal_peak_mib": wal_peak_mib,
        "wal_shrinks": wal_shrinks,
        "floor_executions_per_s": floor_rate,
        "ratio_engine_to_floor": rate / floor_rate,
    }
    print_table(
        f"throughput ({args.backend}, {args.clients} clients, {args.seconds:.0f} s)",
        [
            ("completed executions", len(latencies)),
            ("completed executions/s", rate),
            ("request→COMPLETED p50 ms", result["latency_ms"]["p50"]),
            ("request→COMPLETED p95 ms", result["latency_ms"]["p95"]),
            ("request→COMPLETED p99 ms", result["latency_ms"]["p99"]),
            ("server CPU ms per execution", cpu_ms),
            ("server CPU (cores, under load)", cpu_used / elapsed),
            ("one at a time p50 ms", result["single_latency_ms"]["p50"]),
            ("one at a time p95 ms", result["single_latency_ms"]["p95"]),
            ("server RSS idle MiB", idle_rss),
            ("server RSS after run MiB", end_rss),
            ("SQLite WAL peak MiB", "n/a" if wal_peak_mib is None else wal_peak_mib),
            ("SQLite WAL seen shrinking", "n/a" if wal_shrinks is None else wal_shrinks),
            ("floor (raw sqlite3) executions/s", floor_rate),
            ("engine / floor", result["ratio_engine_to_floor"]),
        ],
    )
    if args.py_spy:
        print_table(
            "server, GIL-holding samples: function, % anywhere in the stack, % on top",
            [(f"{f[:90]}", f"{inc:5.1f} {own:5.1f}") for f, inc, own in top_functions(args.py_spy)],
        )
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
