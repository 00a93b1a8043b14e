"""schedules: many schedules due in the same minute, each started within how long of its tick.

--schedules workflows (distinct, one `noop` step each) are created with the same cron
`M * * * *`, M the first whole minute at least --lead seconds away (time to create them all).
After the tick, the benchmark reads every execution the tick started and reports how many
started, and the lag from the tick to each one's start (`startedAt`, stored as it is
created) and to its first step's end: p50, p99, max; and the server's CPU from a second
before the tick to the end (starting and running them), also per execution started. The
goal: all start within 5 s.

Floor: none is meaningful here (the lag is the loop's own latency); the table shows the
creation rate for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.harness import (
    API,
    HEADERS,
    cpu_seconds,
    epoch,
    percentile,
    print_table,
    py_spy,
    server,
    sql_rows,
    write_json,
)

NOOP = {"type": "noop", "config": {}}


async def create_all(url: str, count: int, cron: str, concurrency: int = 32) -> float:
    """Create `count` scheduled workflows; answers the seconds it took."""
    slots = asyncio.Semaphore(concurrency)
    body = {"name": "tick", "actions": [NOOP], "trigger": {"type": "schedule", "cron": cron}}
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=60) as http:

        async def one() -> None:
            async with slots:
                response = await http.post(f"{API}/workflows", json=body)
                response.raise_for_status()

        await asyncio.gather(*(one() for _ in range(count)))
    return time.perf_counter() - started


def tick_after(lead_s: float) -> datetime:
    """The first whole minute at least `lead_s` seconds from now."""
    soonest = datetime.now(UTC) + timedelta(seconds=lead_s)
    return soonest.replace(second=0, microsecond=0) + timedelta(minutes=1)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench schedules")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--lead", type=float, default=45.0, help="seconds to create them")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds to wait after")
    parser.add_argument("--json")
    parser.add_argument("--py-spy", help="sample the server around the tick into this file")
    args = parser.parse_args(argv)

    with server(args.backend) as live:
        tick = tick_after(args.lead)
        cron = f"{tick.minute} * * * *"
        took = asyncio.run(create_all(live.url, args.schedules, cron))
        wait = (tick - datetime.now(UTC)).total_seconds()
        if wait < 0:
            raise SystemExit(f"creating took {took:.1f} s, past the tick: raise --lead")
        time.sleep(max(0.0, wait - 1))
        cpu_before = cpu_seconds(live.process.pid)
        with py_spy(live.process.pid, args.py_spy):
            time.sleep(1 + args.settle)
        cpu = cpu_seconds(live.process.pid) - cpu_before
        rows = sql_rows(
            live.database_url,
            "SELECT e.trigger_data, e.started_at, MIN(s.completed_at) FROM execution e "
            "LEFT JOIN step_run s ON s.execution_id = e.id "
            "WHERE e.trigger_type = ? GROUP BY e.id, e.trigger_data, e.started_at",
            ["schedule"],
        )
    at = tick.timestamp()
    starts, firsts, off_tick = [], [], 0
    for trigger_data, started_at, first_end in rows:
        data: dict[str, Any] = (
            json.loads(trigger_data) if isinstance(trigger_data, str) else trigger_data
        )
        if epoch(data["scheduledAt"]) != at:
            off_tick += 1
            continue
        starts.append(epoch(started_at) - at)
        if first_end is not None:
            firsts.append(epoch(first_end) - at)
    figures = {
        "backend": args.backend,
        "schedules": args.schedules,
        "create_per_s": args.schedules / took,
        "started": len(starts),
        "other_ticks": off_tick,
        "start_lag_p50_s": percentile(starts, 50),
        "start_lag_p99_s": percentile(starts, 99),
        "start_lag_max_s": max(starts, default=float("nan")),
        "all_within_5s": len(starts) == args.schedules and max(starts, default=99) <= 5,
        "first_step_done": len(firsts),
        "first_step_lag_p50_s": percentile(firsts, 50),
        "first_step_lag_max_s": max(firsts, default=float("nan")),
        "server_cpu_s": cpu,
        "server_cpu_ms_per_start": 1000 * cpu / len(starts) if starts else float("nan"),
    }
    print_table(
        f"schedules ({args.backend}): {args.schedules} due at {tick.isoformat()}",
        list(figures.items()),
    )
    write_json(args.json, figures)
