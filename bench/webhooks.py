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
import multiprocessing
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.harness import (
    API,
    HEADERS,
    RawConnection,
    cpu_seconds,
    percentile,
    print_table,
    py_spy,
    run_loop,
    server,
    top_functions,
    write_json,
)
from runcast.resolvers.webhooks import signature

SECRET = "bench-webhook-secret"
PHASES = ("saturated", "paced")
NOOP = [{"type": "noop", "config": {}}]


def _workflow(url: str, trigger: dict[str, Any]) -> dict[str, Any]:
    body = {"name": "bench", "trigger": trigger, "actions": NOOP}
    response = httpx.post(f"{url}{API}/workflows", headers=HEADERS, json=body)
    response.raise_for_status()
    return dict(response.json()["workflow"])


@dataclass
class ClientRun:
    """What one client process measured over the window."""

    latencies_ms: list[float]
    late_starts: int


def _delivery(host: str, path: str, process: int, number: int) -> bytes:
    """One signed delivery's HTTP/1.1 request (keep-alive), with a body of its own."""
    raw = json.dumps({"client": process, "n": number}).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"X-Runcast-Signature: {signature(SECRET, raw)}\r\nContent-Length: {len(raw)}\r\n\r\n"
    )
    return head.encode() + raw


async def _send(connection: RawConnection, request: bytes) -> None:
    status, body = await connection.send(request)
    if status != 202:
        raise RuntimeError(f"delivery answered {status}: {body!r}")


async def closed_loop(
    url: str, hook_url: str, process: int, connections: int, seconds: float, start: Any
) -> ClientRun:
    """`connections` senders, each sending its next delivery when the last is answered."""
    parts = urlsplit(hook_url)
    opened = [await RawConnection.open(url) for _ in range(connections)]
    latencies: list[float] = []
    sent = 0

    async def sender(connection: RawConnection, stop_at: float) -> None:
        nonlocal sent
        while (began := time.perf_counter()) < stop_at:
            sent += 1
            await _send(connection, _delivery(parts.netloc, parts.path, process, sent))
            latencies.append(1000 * (time.perf_counter() - began))

    try:
        start.wait()
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(*(sender(c, stop_at) for c in opened))
        return ClientRun(latencies, 0)
    finally:
        for connection in opened:
            connection.close()


async def open_loop(
    url: str, hook_url: str, process: int, connections: int, seconds: float, rate: float, start: Any
) -> ClientRun:
    """Deliveries sent on a fixed schedule (`rate` per second), whatever the answers: a
    delivery's latency runs from its scheduled time, so one that waited for a free
    connection counts that wait (no coordinated omission)."""
    parts = urlsplit(hook_url)
    idle: asyncio.Queue[RawConnection] = asyncio.Queue()
    opened = [await RawConnection.open(url) for _ in range(connections)]
    for connection in opened:
        idle.put_nowait(connection)
    latencies: list[float] = []
    late = 0

    async def deliver(number: int, due: float) -> None:
        connection = await idle.get()
        try:
            await _send(connection, _delivery(parts.netloc, parts.path, process, number))
        finally:
            idle.put_nowait(connection)
        latencies.append(1000 * (time.perf_counter() - due))

    try:
        start.wait()
        began = time.perf_counter()
        pending: list[asyncio.Task[None]] = []
        for number in range(int(rate * seconds)):
            due = began + number / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.001:
                late += 1
            pending.append(asyncio.create_task(deliver(number, due)))
        await asyncio.gather(*pending)
        return ClientRun(latencies, late)
    finally:
        for connection in opened:
            connection.close()


def client_process(options: tuple[Any, ...], start: Any, results: Any) -> None:
    """A client process: its share of the load; its figures put on `results`."""
    *arguments, rate = options
    if rate is None:
        results.put(run_loop(closed_loop(*arguments, start)))
    else:
        results.put(run_loop(open_loop(*arguments, rate, start)))


@dataclass
class Window:
    """One measured window: the deliveries answered 202 and what the server spent."""

    deliveries: int
    per_s: float
    latencies_ms: list[float]
    server_cpu_ms_per_delivery: float
    server_cores_busy: float
    late_starts: int

    def figures(self) -> dict[str, Any]:
        return {
            "deliveries": self.deliveries,
            "deliveries_per_s": self.per_s,
            "accept_latency_ms": {
                q: percentile(self.latencies_ms, n)
                for q, n in (("p50", 50), ("p95", 95), ("p99", 99))
            },
            "server_cpu_ms_per_delivery": self.server_cpu_ms_per_delivery,
            "server_cores_busy": self.server_cores_busy,
            "late_starts": self.late_starts,
        }


def drive(
    pid: int,
    url: str,
    hook_url: str,
    processes: int,
    connections: int,
    seconds: float,
    rate: float | None,
    spy: str | None = None,
) -> Window:
    """Load the server from `processes` client processes (the load split evenly) over one
    window, and measure it."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes + 1)
    results = context.Queue()
    share = max(1, connections // processes)
    workers = [
        context.Process(
            target=client_process,
            args=(
                (url, hook_url, i, share, seconds, None if rate is None else rate / processes),
                start,
                results,
            ),
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    with py_spy(pid, spy):
        start.wait(timeout=120)
        cpu, began = cpu_seconds(pid), time.monotonic()
        runs: list[ClientRun] = [results.get(timeout=seconds + 120) for _ in workers]
        server_cpu, wall = cpu_seconds(pid) - cpu, time.monotonic() - began
    for worker in workers:
        worker.join()
    latencies = [ms for run in runs for ms in run.latencies_ms]
    count = len(latencies)
    return Window(
        deliveries=count,
        per_s=count / wall,
        latencies_ms=latencies,
        server_cpu_ms_per_delivery=1000 * server_cpu / max(count, 1),
        server_cores_busy=server_cpu / wall,
        late_starts=sum(run.late_starts for run in runs),
    )


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


EMITTERS = 50
"""Event emits in flight at once."""


async def _emit_all(url: str, count: int) -> tuple[list[list[str]], float]:
    """Emit `count` events from EMITTERS concurrent senders, each sending its share one
    after another (httpx's pool looks through every waiting request each time a connection
    frees: `count` requests queued in it at once made the client the bottleneck)."""
    limits = httpx.Limits(max_connections=EMITTERS)
    ids: dict[int, list[str]] = {}
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, limits=limits, timeout=120) as http:

        async def sender(first: int) -> None:
            for i in range(first, count, EMITTERS):
                body = {"name": "order.created", "id": f"order-{i}", "data": {"n": i}}
                response = await http.post(f"{API}/events", json=body)
                if response.status_code != 202:
                    raise RuntimeError(f"emit answered {response.status_code}: {response.text}")
                ids[i] = list(response.json()["executionIds"])

        started = time.monotonic()
        await asyncio.gather(*(sender(first) for first in range(EMITTERS)))
        return [ids[i] for i in range(count)], time.monotonic() - started


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
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--clients", type=int, default=20, help="connections, saturation run")
    parser.add_argument("--rate", type=float, default=500, help="deliveries/s, paced run")
    parser.add_argument("--seconds", type=float, default=15, help="each run's window")
    parser.add_argument("--events", type=int, default=0, help="also emit this many events")
    parser.add_argument("--py-spy", help="record the server: PATH.saturated, PATH.paced")
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    with server(args.backend) as live:
        hook = _workflow(live.url, {"type": "webhook", "mode": "async", "secret": SECRET})
        pid, hook_url = live.process.pid, hook["webhookUrl"]
        warm = drive(pid, live.url, hook_url, 1, 2, 1.0, None)
        spy = {phase: f"{args.py_spy}.{phase}" if args.py_spy else None for phase in PHASES}
        saturated = drive(
            pid,
            live.url,
            hook_url,
            args.processes,
            args.clients,
            args.seconds,
            None,
            spy["saturated"],
        )
        paced = drive(
            pid, live.url, hook_url, args.processes, 64, args.seconds, args.rate, spy["paced"]
        )
        accepted = warm.deliveries + saturated.deliveries + paced.deliveries
        drain_s = _wait_all_finished(live.url, hook["id"], accepted, 300)
        stored = _count(live.url, hook["id"])
        if stored != accepted:
            raise RuntimeError(f"{accepted} deliveries accepted, {stored} executions stored")
        events = events_run(live.url, args.events) if args.events else None
    result: dict[str, Any] = {
        "backend": args.backend,
        "processes": args.processes,
        "saturated": {"connections": args.clients, **saturated.figures()},
        "paced": {"offered_per_s": args.rate, **paced.figures()},
        "deliveries": accepted,
        "all_finished_after_s": drain_s,
        "events": events,
    }
    rows: list[tuple[str, Any]] = []
    for name, window in (
        (f"{args.clients} connections", saturated),
        (f"{args.rate:.0f}/s offered", paced),
    ):
        latency = window.figures()["accept_latency_ms"]
        rows += [
            (f"{name}: deliveries/s (202, started)", f"{window.per_s:.0f}"),
            (
                f"{name}: accept p50 / p95 / p99 ms",
                "{p50:.1f} / {p95:.1f} / {p99:.1f}".format(**latency),
            ),
            (f"{name}: server CPU ms per delivery", f"{window.server_cpu_ms_per_delivery:.2f}"),
            (f"{name}: server cores busy", f"{window.server_cores_busy:.2f}"),
        ]
    rows += [
        ("paced sends that left late (client busy)", paced.late_starts),
        ("deliveries (each exactly one execution)", accepted),
        ("all executions finished after (s)", f"{drain_s:.1f}"),
    ]
    if events is not None:
        rows += [
            (f"{events['events']} events → executions", events["executions"]),
            ("events/s (3 followers each)", f"{events['events_per_s']:.0f}"),
            ("repeated ids: emit time (s), new executions", f"{events['repeat_emit_s']:.1f}, 0"),
        ]
    print_table(f"webhooks ({args.backend}, {args.processes} client processes)", rows)
    for phase, path in spy.items():
        if path is not None:
            print_table(
                f"server functions, {phase} run (% of samples: in stack, on top)",
                [
                    (name, f"{inclusive:.1f} / {own:.1f}")
                    for name, inclusive, own in top_functions(path)
                ],
            )
    write_json(args.json, result)
    return result
