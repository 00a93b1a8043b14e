"""fanout-memory: what an idle subscriber costs the server, and whether a stalled one hurts.

Idle: --executions executions sit in a 10-minute `wait` step. --sse clients (default 5,000)
open `GET …/executions/:id/stream` on them and keep the connection after the `connected`
event; then --ws clients (default 5,000) open a `graphql-transport-ws` websocket each and
subscribe to `executionEvents`, keeping it after `ExecutionConnected`. The server's RSS
(VmRSS from /proc) is read after a warm-up (20 streams of each kind opened and closed),
after the SSE clients, after the websocket clients and after closing them all:
KiB per idle subscriber = RSS growth / clients. The server's CPU use over 5 s in which no
event is sent is measured at the same points (idle subscribers should cost nothing, and
closed ones nothing either).

Stalled: --active SSE subscribers (default 100) follow --executions executions of a workflow
of (`send_notification` whose message is a --payload-kib KiB string from the trigger data,
`wait` --wait-ms) x --cycles, exactly as `stream-latency` measures them (queued behind
blockers until every client is connected; latency = arrival - the event's `created_at`).
Each round runs once without and once with (the order alternating between rounds) one more
SSE client on the first execution that shrank its receive buffer to 4 KiB and never reads
after the response headers; `ss` shows how much its connection holds at the end. Reported:
the others' p99 with and without it, pooled over the rounds and per round.

Floor: an idle connection to the `stream-latency` relay app (sse-starlette, one queue per
client, nothing else) measured the same way: its KiB per idle SSE client is what a stream
costs before the engine adds its own subscription state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
from typing import Any

import httpx

from bench.harness import (
    API,
    HEADERS,
    cpu_seconds,
    create_workflow,
    open_sse,
    open_subscription,
    percentile,
    print_table,
    raise_open_files,
    run_loop,
    server,
    write_json,
)
from bench.stream_latency import (
    BLOCKER,
    REDIS_URL,
    SUBSCRIPTION,
    Phase,
    engine_phase,
    measured_actions,
    relay_server,
)

SETTLE_S = 2.0
IDLE_CPU_S = 5.0


async def idle_cpu_percent(pid: int) -> float:
    """The server's CPU use over IDLE_CPU_S seconds while nobody sends anything, in %."""
    began = cpu_seconds(pid)
    await asyncio.sleep(IDLE_CPU_S)
    return 100 * (cpu_seconds(pid) - began) / IDLE_CPU_S


def rss_of(pid: int) -> float:
    """The server's RSS in MiB; with BENCH_PROBE_TRACEMALLOC set (see `bench/probe.py`),
    the server also writes a tracemalloc snapshot at each such moment."""
    rss = float("nan")
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    if os.environ.get("BENCH_PROBE_DIR") and (
        os.environ.get("BENCH_PROBE_TRACEMALLOC") or os.environ.get("BENCH_PROBE_TRIM")
    ):
        os.kill(pid, signal.SIGUSR1)
    return rss


async def open_idle_sse(url: str, paths: list[str], count: int, concurrency: int) -> list[Any]:
    """`count` SSE streams over `paths` (round robin), each read up to its first event."""
    gate = asyncio.Semaphore(concurrency)

    async def one(path: str) -> Any:
        async with gate:
            stream = await open_sse(url, path)
            if stream.status != 200:
                raise RuntimeError(f"SSE answered {stream.status}")
            await anext(stream.events())
            return stream

    return list(await asyncio.gather(*(one(paths[i % len(paths)]) for i in range(count))))


async def open_idle_ws(url: str, ids: list[str], count: int, concurrency: int) -> list[Any]:
    """`count` executionEvents subscriptions over `ids`, each read up to ExecutionConnected."""
    gate = asyncio.Semaphore(concurrency)

    async def one(execution_id: str) -> Any:
        async with gate:
            socket = await open_subscription(
                url, SUBSCRIPTION, {"ws": "default", "id": execution_id}
            )
            first = json.loads(await socket.recv())
            if first.get("type") != "next":
                raise RuntimeError(f"first message {first}")
            return socket

    return list(await asyncio.gather(*(one(ids[i % len(ids)]) for i in range(count))))


async def idle(live: Any, args: argparse.Namespace) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=live.url, headers=HEADERS, timeout=60) as http:
        workflow_id = create_workflow(live.url, BLOCKER)
        ids = []
        for _ in range(args.executions):
            response = await http.post(f"{API}/workflows/{workflow_id}/execute", json={})
            ids.append(response.json()["execution"]["id"])
        paths = [f"{API}/workflows/executions/{i}/stream" for i in ids]
        pid = live.process.pid
        for stream in await open_idle_sse(live.url, paths, 20, 20):  # warm-up
            stream.close()
        for socket in await open_idle_ws(live.url, ids, 20, 20):
            await socket.close()
        await asyncio.sleep(SETTLE_S)
        rss = {"before": rss_of(pid)}
        cpu = {"before": await idle_cpu_percent(pid)}
        began = time.monotonic()
        streams = await open_idle_sse(live.url, paths, args.sse, args.concurrency)
        sse_connect_s = time.monotonic() - began
        await asyncio.sleep(SETTLE_S)
        rss["with_sse"] = rss_of(pid)
        cpu["with_sse"] = await idle_cpu_percent(pid)
        began = time.monotonic()
        sockets = await open_idle_ws(live.url, ids, args.ws, args.concurrency)
        ws_connect_s = time.monotonic() - began
        await asyncio.sleep(SETTLE_S)
        rss["with_sse_and_ws"] = rss_of(pid)
        cpu["with_sse_and_ws"] = await idle_cpu_percent(pid)
        for stream in streams:
            stream.close()
        await asyncio.gather(*(socket.close() for socket in sockets))
        await asyncio.sleep(SETTLE_S)
        rss["after_close"] = rss_of(pid)
        cpu["after_close"] = await idle_cpu_percent(pid)
        for execution_id in ids:
            await http.delete(f"{API}/workflows/executions/{execution_id}")
    return {
        "rss_mib": rss,
        "server_cpu_percent_while_idle": cpu,
        "sse_kib_per_subscriber": (rss["with_sse"] - rss["before"]) * 1024 / max(1, args.sse),
        "ws_kib_per_subscriber": (rss["with_sse_and_ws"] - rss["with_sse"])
        * 1024
        / max(1, args.ws),
        "sse_connect_s": sse_connect_s,
        "ws_connect_s": ws_connect_s,
    }


async def idle_floor(url: str, pid: int, count: int, concurrency: int) -> float:
    """KiB per idle SSE client of the relay app."""
    for stream in await open_idle_sse(url, ["/stream/0"], 20, 20):
        stream.close()
    await asyncio.sleep(SETTLE_S)
    before = rss_of(pid)
    streams = await open_idle_sse(url, [f"/stream/{i}" for i in range(10)], count, concurrency)
    await asyncio.sleep(SETTLE_S)
    after = rss_of(pid)
    for stream in streams:
        stream.close()
    return (after - before) * 1024 / max(1, count)


def stalled(live: Any, args: argparse.Namespace) -> dict[str, Any]:
    step = {
        "type": "send_notification",
        "config": {"message": "{{trigger.blob}}", "recipient": "bench"},
    }
    workflow_id = create_workflow(live.url, measured_actions(args.cycles, args.wait_ms, step))
    blocker_id = create_workflow(live.url, BLOCKER)
    blob = {"blob": "x" * (args.payload_kib * 1024)}
    phases: dict[bool, list[Phase]] = {False: [], True: []}
    for round_ in range(args.rounds):
        # alternate the order, so that whatever drifts during the run (database size, WAL
        # checkpoints, the neighbours' load) does not always land on the same side
        for stall in (False, True) if round_ % 2 == 0 else (True, False):
            phase = run_loop(
                engine_phase(
                    live,
                    "sse",
                    workflow_id,
                    blocker_id,
                    args.executions,
                    args.active,
                    trigger_data=blob,
                    stall=stall,
                )
            )
            phases[stall].append(phase)
    pooled = {stall: [v for phase in phases[stall] for v in phase.latencies_ms] for stall in phases}
    p99 = {stall: percentile(values, 99) for stall, values in pooled.items()}
    return {
        "rounds": [
            {
                "p99_without_ms": percentile(a.latencies_ms, 99),
                "p99_with_stalled_ms": percentile(b.latencies_ms, 99),
                "p50_without_ms": percentile(a.latencies_ms, 50),
                "p50_with_stalled_ms": percentile(b.latencies_ms, 50),
                "stalled_connection_queues": b.stalled,
                "received_without": f"{len(a.latencies_ms)}/{a.expected}",
                "received_with": f"{len(b.latencies_ms)}/{b.expected}",
            }
            for a, b in zip(phases[False], phases[True], strict=True)
        ],
        "p50_without_ms": percentile(pooled[False], 50),
        "p50_with_stalled_ms": percentile(pooled[True], 50),
        "p99_without_ms": p99[False],
        "p99_with_stalled_ms": p99[True],
        "p99_change_pct": 100 * (p99[True] - p99[False]) / p99[False],
        "received": f"{len(pooled[False]) + len(pooled[True])}/"
        f"{sum(p.expected for ps in phases.values() for p in ps)}",
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench fanout-memory")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--broadcast", choices=["memory", "redis"], default="memory")
    parser.add_argument("--sse", type=int, default=5000, help="idle SSE clients")
    parser.add_argument("--ws", type=int, default=5000, help="idle websocket subscriptions")
    parser.add_argument("--executions", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=100, help="connections opening")
    parser.add_argument("--active", type=int, default=100, help="subscribers measured")
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--wait-ms", type=int, default=100)
    parser.add_argument("--payload-kib", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=6, help="(without, with) pairs")
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    limit = raise_open_files(args.sse + args.ws + args.active + 2048)
    env = {
        "RUNCAST_BROADCAST_URL": REDIS_URL if args.broadcast == "redis" else "memory://",
        "RUNCAST_MAX_CONCURRENT_EXECUTIONS": str(args.executions),
        # every client connects from 127.0.0.1
        "RUNCAST_MAX_CONNECTIONS_PER_ADDRESS": str(limit),
    }
    with server(args.backend, **env) as live:
        idle_rss = live.rss_mib()
        memory = run_loop(idle(live, args))
        stall = stalled(live, args)
        end_rss = live.rss_mib()
    with relay_server() as (relay_url, relay_pid):
        floor_kib = run_loop(idle_floor(relay_url, relay_pid, args.sse, args.concurrency))

    result = {
        "backend": args.backend,
        "broadcast": env["RUNCAST_BROADCAST_URL"],
        "open_files_limit": limit,
        "server_rss_idle_mib": idle_rss,
        "server_rss_end_mib": end_rss,
        "idle": memory,
        "floor_sse_kib_per_subscriber": floor_kib,
        "ratio_sse_to_floor": memory["sse_kib_per_subscriber"] / floor_kib if floor_kib else None,
        "stalled": stall,
    }
    rss = memory["rss_mib"]
    print_table(
        f"fanout-memory ({args.backend}, {env['RUNCAST_BROADCAST_URL']}, {args.sse:,} SSE + "
        f"{args.ws:,} websocket idle subscribers on {args.executions} executions)",
        [
            ("server RSS before MiB", rss["before"]),
            (f"server RSS with {args.sse:,} SSE MiB", rss["with_sse"]),
            (f"server RSS with + {args.ws:,} websocket MiB", rss["with_sse_and_ws"]),
            ("server RSS after closing all MiB", rss["after_close"]),
            ("KiB per idle SSE subscriber", memory["sse_kib_per_subscriber"]),
            ("KiB per idle websocket subscriber", memory["ws_kib_per_subscriber"]),
            ("floor (sse-starlette relay) KiB per idle SSE", floor_kib),
            ("SSE / floor", result["ratio_sse_to_floor"]),
            (
                "server CPU % in silence: none / SSE / +websocket / closed",
                " / ".join(f"{v:.0f}" for v in memory["server_cpu_percent_while_idle"].values()),
            ),
            (
                "connect SSE / websocket s",
                f"{memory['sse_connect_s']:.1f} / {memory['ws_connect_s']:.1f}",
            ),
        ],
    )
    print_table(
        f"stalled client ({args.active} active SSE subscribers, {args.payload_kib} KiB step "
        f"events, {args.rounds} rounds)",
        [
            (
                "p50 without / with stalled ms",
                f"{stall['p50_without_ms']:.2f} / {stall['p50_with_stalled_ms']:.2f}",
            ),
            ("p99 without stalled client ms", stall["p99_without_ms"]),
            ("p99 with one stalled client ms", stall["p99_with_stalled_ms"]),
            ("p99 change %", stall["p99_change_pct"]),
            ("events received / expected", stall["received"]),
            *[
                (
                    f"round {n} p99 without / with ms; stalled conn queues",
                    f"{r['p99_without_ms']:.1f} / {r['p99_with_stalled_ms']:.1f}; "
                    f"{r['stalled_connection_queues']}",
                )
                for n, r in enumerate(stall["rounds"], start=1)
            ],
        ],
    )
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
