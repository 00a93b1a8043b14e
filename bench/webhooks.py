"""webhooks: signed webhook deliveries in async mode, and concurrent events.

`python -m bench webhooks` — `--clients` concurrent senders post signed deliveries to one
webhook workflow (one `noop` action) for `--seconds`; a 202 means the execution is stored
and started, so the rate of 202s is deliveries (executions started) per second and a
delivery's latency is its accept latency. The run then waits until every execution has
finished and checks that each accepted delivery started exactly one. Targets (issue 13):
≥ 500 deliveries/s on SQLite, p99 accept latency ≤ 20 ms.

`python -m bench webhooks --events 1000` — in addition, emits that many events at once to 3
matching workflows, checks exactly 3N executions, emits them all again and checks that
none more start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx

from bench.harness import (
    API,
    HEADERS,
    percentile,
    print_table,
    py_spy,
    server,
    top_functions,
    write_json,
)
from runcast.resolvers.webhooks import signature

SECRET = "bench-webhook-secret"
NOOP = [{"type": "noop", "config": {}}]


def _workflow(url: str, trigger: dict[str, Any]) -> dict[str, Any]:
    body = {"name": "bench", "trigger": trigger, "actions": NOOP}
    response = httpx.post(f"{url}{API}/workflows", headers=HEADERS, json=body)
    response.raise_for_status()
    return dict(response.json()["workflow"])


async def deliveries(url: str, hook_url: str, clients: int, seconds: float) -> list[float]:
    """Accept latencies (ms) of every delivery answered 202."""
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:

        async def client(number: int) -> None:
            sent = 0
            while time.monotonic() < stop_at:
                raw = json.dumps({"client": number, "n": sent}).encode()
                headers = {
                    "Content-Type": "application/json",
                    "X-Runcast-Signature": signature(SECRET, raw),
                }
                started = time.perf_counter()
                response = await http.post(hook_url, content=raw, headers=headers)
                if response.status_code != 202:
                    raise RuntimeError(f"delivery answered {response.status_code}: {response.text}")
                latencies.append(1000 * (time.perf_counter() - started))
                sent += 1

        await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies


def _count(url: str, workflow_id: str, status: str | None = None) -> int:
    params: dict[str, Any] = {"limit": 1}
    if status is not None:
        params["status"] = status
    response = httpx.get(
        f"{url}{API}/workflows/{workflow_id}/executions", headers=HEADERS, params=params
    )
    response.raise_for_status()
    return int(response.json()["pagination"]["total"])


def _wait_all_finished(url: str, workflow_id: str, expected: int, within_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        if _count(url, workflow_id, "COMPLETED") >= expected:
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"not all {expected} executions finished within {within_s} s")


async def _emit_all(url: str, count: int) -> tuple[list[list[str]], float]:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, limits=limits, timeout=120) as http:

        async def emit(i: int) -> list[str]:
            body = {"name": "order.created", "id": f"order-{i}", "data": {"n": i}}
            response = await http.post(f"{API}/events", json=body)
            if response.status_code != 202:
                raise RuntimeError(f"emit answered {response.status_code}: {response.text}")
            return list(response.json()["executionIds"])

        started = time.monotonic()
        ids = await asyncio.gather(*(emit(i) for i in range(count)))
        return ids, time.monotonic() - started


def events_run(url: str, count: int) -> dict[str, Any]:
    """N events at once to 3 matching workflows: exactly 3N executions, repeats none."""
    workflows = [_workflow(url, {"type": "event", "event": "order.created"}) for _ in range(3)]
    first, first_s = asyncio.run(_emit_all(url, count))
    total = sum(_count(url, w["id"]) for w in workflows)
    again, again_s = asyncio.run(_emit_all(url, count))
    after = sum(_count(url, w["id"]) for w in workflows)
    distinct = len({i for ids in first for i in ids})
    if total != 3 * count or distinct != 3 * count or after != total or again != first:
        raise RuntimeError(f"events: {total} stored, {distinct} distinct, {after} after repeats")
    return {
        "events": count,
        "executions": total,
        "emit_s": first_s,
        "events_per_s": count / first_s,
        "repeat_emit_s": again_s,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench webhooks")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--events", type=int, default=0, help="also emit this many events")
    parser.add_argument("--py-spy", help="record the server during the deliveries (raw stacks)")
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    with server(args.backend) as live:
        hook = _workflow(live.url, {"type": "webhook", "mode": "async", "secret": SECRET})
        asyncio.run(deliveries(live.url, hook["webhookUrl"], 2, 1.0))  # warm up
        warm = _count(live.url, hook["id"])
        with py_spy(live.process.pid, args.py_spy):
            started = time.monotonic()
            latencies = asyncio.run(
                deliveries(live.url, hook["webhookUrl"], args.clients, args.seconds)
            )
            elapsed = time.monotonic() - started
        accepted = len(latencies)
        drain_s = _wait_all_finished(live.url, hook["id"], warm + accepted, 300)
        stored = _count(live.url, hook["id"])
        if stored != warm + accepted:
            raise RuntimeError(f"{accepted} deliveries accepted, {stored - warm} executions")
        events = events_run(live.url, args.events) if args.events else None
    result: dict[str, Any] = {
        "backend": args.backend,
        "clients": args.clients,
        "deliveries_per_s": accepted / elapsed,
        "accept_latency_ms": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
        },
        "deliveries": accepted,
        "all_finished_after_s": drain_s,
        "events": events,
    }
    rows: list[tuple[str, Any]] = [
        ("deliveries/s (202, execution started)", f"{result['deliveries_per_s']:.0f}"),
        (
            "accept latency p50 / p95 / p99 ms",
            "{p50:.1f} / {p95:.1f} / {p99:.1f}".format(**result["accept_latency_ms"]),
        ),
        ("deliveries (each exactly one execution)", accepted),
        ("all executions finished after (s)", f"{drain_s:.1f}"),
    ]
    if events is not None:
        rows += [
            (f"{events['events']} events → executions", events["executions"]),
            ("events/s (3 followers each)", f"{events['events_per_s']:.0f}"),
            ("repeated ids: emit time (s), new executions", f"{events['repeat_emit_s']:.1f}, 0"),
        ]
    print_table(f"webhooks ({args.backend}, {args.clients} clients, {args.seconds:.0f} s)", rows)
    if args.py_spy:
        top = top_functions(args.py_spy)
        print_table(
            "server functions (% of samples: in stack, on top)",
            [(name, f"{inclusive:.1f} / {own:.1f}") for name, inclusive, own in top],
        )
    write_json(args.json, result)
    return result
