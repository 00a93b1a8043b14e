"""stream-latency: how long a committed event takes to reach 1,000 SSE or websocket clients.

--executions executions (default 10) of a workflow `noop, (wait --wait-ms, noop) x --cycles`
run at once while --subscribers clients (default 1,000) follow them, spread evenly: first
over SSE (`GET …/executions/:id/stream`), then, on fresh executions, over GraphQL websockets
(`executionEvents`, protocol `graphql-transport-ws`, selecting every field of the SSE
payloads). Every subscriber is connected before the first event: the executions are queued
(PENDING) behind as many blocking executions (one long `wait`) as
RUNCAST_MAX_CONCURRENT_EXECUTIONS allows, and the blockers are cancelled once all clients
hold their `connected` event.

Latency of one event at one client = its arrival time (stamped as the chunk or websocket
message is read, `time.time()`) minus the event's `created_at` in the database, which the
engine takes at the start of the step's commit (microseconds; same clock, same machine).
p50 / p99 over every event at every client; a client that misses an event is counted.

Floor: a tiny Starlette + sse-starlette app (`relay_app`, in its own uvicorn process like the
server) relaying pre-made events through one asyncio.Queue per client: the very events the
first phase's executions committed (same payloads, same bursts, each burst at the same
offset from the first commit), to the same number of clients over the same number of
channels, measured the same way (each event's id carries its publish time). Ratios are
engine / floor.

`--broadcast redis` runs the server with RUNCAST_BROADCAST_URL=redis://127.0.0.1:6379/0.
Both processes get a raised RLIMIT_NOFILE (the server inherits it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.harness import (
    API,
    HEADERS,
    ROOT,
    cpu_seconds,
    create_workflow,
    epoch,
    free_port,
    open_sse,
    open_subscription,
    percentile,
    print_table,
    py_spy,
    raise_open_files,
    run_loop,
    server,
    sql_rows,
    stop_process,
    write_json,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
SUBSCRIPTION = """
subscription Events($ws: String!, $id: ID!) {
  executionEvents(workspaceSlug: $ws, executionId: $id) {
    __typename
    ... on ExecutionConnected { seq executionId timestamp }
    ... on StepEvent { seq actionId actionType status output durationMs error }
    ... on ProgressEvent {
      seq totalSteps completedSteps successfulSteps failedSteps percentage status
    }
    ... on CompleteEvent { seq status durationMs completedAt }
    ... on ErrorEvent { seq message }
  }
}
"""
BLOCKER = [{"type": "wait", "config": {"durationMs": 600_000}}]
NOOP = {"type": "noop", "config": {}}


class Countdown:
    """Called once per connected subscriber; `done` is set when all have connected."""

    def __init__(self, expected: int) -> None:
        self.remaining = expected
        self.done = asyncio.Event()

    def __call__(self) -> None:
        self.remaining -= 1
        if self.remaining <= 0:
            self.done.set()


def measured_actions(cycles: int, wait_ms: int, step: dict[str, Any] = NOOP) -> list[Any]:
    wait = {"type": "wait", "config": {"durationMs": wait_ms}}
    return [step] + [action for _ in range(cycles) for action in (wait, step)]


@dataclass
class Phase:
    """What one round of subscribers saw."""

    transport: str
    subscribers: int
    connect_s: float = 0.0
    rss_connected_mib: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    expected: int = 0
    stalled: dict[str, Any] | None = None
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0  # this process's: the clients reading (and stamping) events
    schedule: dict[int, list[tuple[float, list[tuple[int, str, str]]]]] = field(
        default_factory=dict
    )

    def cpu_per_event_us(self) -> float:
        return 1e6 * self.server_cpu_s / max(1, len(self.latencies_ms))

    def client_cpu_per_event_us(self) -> float:
        return 1e6 * self.client_cpu_s / max(1, len(self.latencies_ms))

    def summary(self) -> dict[str, Any]:
        values = self.latencies_ms
        return {
            "transport": self.transport,
            "subscribers": self.subscribers,
            "events_received": len(values),
            "events_expected": self.expected,
            "connect_s": self.connect_s,
            "rss_connected_mib": self.rss_connected_mib,
            "server_cpu_s_while_events_flow": self.server_cpu_s,
            "server_cpu_us_per_delivered_event": self.cpu_per_event_us(),
            "client_cpu_us_per_delivered_event": self.client_cpu_per_event_us(),
            "latency_ms": {
                "p50": percentile(values, 50),
                "p95": percentile(values, 95),
                "p99": percentile(values, 99),
                "max": max(values, default=float("nan")),
            },
            **({"stalled_client": self.stalled} if self.stalled is not None else {}),
        }


async def sse_follow(
    url: str,
    path: str,
    channel: int,
    gate: asyncio.Semaphore,
    on_connected: Any,
    receipts: list[tuple[int, str, float]],
) -> None:
    """Open an SSE stream, report `connected`, then record (channel, id, arrival) of every
    event until `complete`."""
    async with gate:
        stream = await open_sse(url, path)
        if stream.status != 200:
            raise RuntimeError(f"SSE answered {stream.status}")
        events = stream.events()
        first = await anext(events)
        if first.event != "connected":
            raise RuntimeError(f"first event {first}")
    on_connected()
    try:
        async for event in events:
            receipts.append((channel, event.id or "", event.received))
            if event.event == "complete":
                break
    finally:
        stream.close()


async def ws_follow(
    url: str,
    execution_id: str,
    channel: int,
    gate: asyncio.Semaphore,
    on_connected: Any,
    receipts: list[tuple[int, str, float]],
) -> None:
    """Subscribe to `executionEvents` and record (channel, seq, arrival) until `complete`."""
    async with gate:
        socket = await open_subscription(url, SUBSCRIPTION, {"ws": "default", "id": execution_id})
        first = json.loads(await socket.recv())
        if first.get("type") != "next":
            raise RuntimeError(f"first message {first}")
    on_connected()
    try:
        while True:
            message = await socket.recv()
            received = time.time()
            answer = json.loads(message)
            if answer["type"] == "complete":
                break
            if answer["type"] != "next" or "errors" in answer["payload"]:
                raise RuntimeError(f"unexpected message {answer}")
            event = answer["payload"]["data"]["executionEvents"]
            receipts.append((channel, str(event["seq"]), received))
    finally:
        await socket.close()


def socket_queues(local_port: int) -> dict[str, int]:
    """Recv-Q / Send-Q of both ends of a loopback connection, from `ss`."""
    out = subprocess.run(["ss", "-tnH"], capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        recv_q, send_q, local, peer = int(parts[1]), int(parts[2]), parts[3], parts[4]
        if local.endswith(f":{local_port}"):
            found["client_recv_q"], found["client_send_q"] = recv_q, send_q
        elif peer.endswith(f":{local_port}"):
            found["server_recv_q"], found["server_send_q"] = recv_q, send_q
    return found


async def engine_phase(
    live: Any,
    transport: str,
    workflow_id: str,
    blocker_id: str,
    executions: int,
    subscribers: int,
    *,
    concurrency: int = 100,
    trigger_data: dict[str, Any] | None = None,
    stall: bool = False,
    limit_s: float = 300,
    spy: str | None = None,
) -> Phase:
    """Queue `executions` runs behind blockers, connect the subscribers (and one stalled SSE
    client if `stall`), release the runs, collect every event, return the latencies."""
    phase = Phase(transport, subscribers)
    receipts: list[tuple[int, str, float]] = []
    async with httpx.AsyncClient(base_url=live.url, headers=HEADERS, timeout=60) as http:

        async def execute(workflow: str, data: dict[str, Any] | None = None) -> str:
            response = await http.post(
                f"{API}/workflows/{workflow}/execute", json={"triggerData": data or {}}
            )
            response.raise_for_status()
            return str(response.json()["execution"]["id"])

        blockers = [await execute(blocker_id) for _ in range(executions)]
        for blocker in blockers:
            for _ in range(200):
                status = (await http.get(f"{API}/workflows/executions/{blocker}")).json()
                if status["execution"]["status"] == "RUNNING":
                    break
                await asyncio.sleep(0.05)
        measured = [await execute(workflow_id, trigger_data) for _ in range(executions)]

        gate = asyncio.Semaphore(concurrency)
        on_connected = Countdown(subscribers)
        all_connected = on_connected.done

        began = time.monotonic()
        tasks = []
        for i in range(subscribers):
            channel = i % executions
            if transport == "sse":
                path = f"{API}/workflows/executions/{measured[channel]}/stream"
                follow = sse_follow(live.url, path, channel, gate, on_connected, receipts)
            else:
                follow = ws_follow(
                    live.url, measured[channel], channel, gate, on_connected, receipts
                )
            tasks.append(asyncio.create_task(follow))
        stalled = None
        if stall:
            stalled = await open_sse(
                live.url, f"{API}/workflows/executions/{measured[0]}/stream", rcvbuf=4096
            )
            stalled.stop_reading()
        waiter = asyncio.create_task(all_connected.wait())
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        if not all_connected.is_set():
            for task in tasks:
                if task.done() and task.exception():
                    raise task.exception()  # type: ignore[misc]
        phase.connect_s = time.monotonic() - began
        phase.rss_connected_mib = live.rss_mib()
        with py_spy(live.process.pid, spy):  # only while the events flow
            cpu, client_cpu = cpu_seconds(live.process.pid), time.process_time()
            # all at once: one by one, the later cancels queue behind the earlier runs'
            # deliveries (at 10,000 subscribers they then time out)
            await asyncio.gather(
                *(http.delete(f"{API}/workflows/executions/{blocker}") for blocker in blockers)
            )
            await asyncio.wait_for(asyncio.gather(*tasks), limit_s)
            phase.server_cpu_s = cpu_seconds(live.process.pid) - cpu
            phase.client_cpu_s = time.process_time() - client_cpu
        if stalled is not None:
            port = stalled.writer.get_extra_info("sockname")[1]
            phase.stalled = socket_queues(port)
            stalled.close()

    marks = ", ".join("?" * len(measured))
    rows = sql_rows(
        live.database_url,
        "SELECT execution_id, seq, type, payload, created_at FROM execution_event "
        f"WHERE execution_id IN ({marks}) ORDER BY execution_id, seq",
        measured,
    )
    index = {execution_id: channel for channel, execution_id in enumerate(measured)}
    created = {(index[e], str(seq)): epoch(at) for e, seq, _, _, at in rows}
    per_channel = {channel: 0 for channel in range(executions)}
    for execution_id, *_ in rows:
        per_channel[index[execution_id]] += 1
    phase.expected = sum(per_channel[i % executions] for i in range(subscribers))
    phase.latencies_ms = [
        (received - created[(channel, seq)]) * 1000 for channel, seq, received in receipts
    ]
    # The events as they were committed, for the floor to replay: per channel, the bursts
    # (one per commit) with their offset from the first commit of the phase.
    first = min(created.values())
    for execution_id, seq, kind, payload, at in rows:
        bursts = phase.schedule.setdefault(index[execution_id], [])
        offset = epoch(at) - first
        if not bursts or bursts[-1][0] != offset:
            bursts.append((offset, []))
        data = payload if isinstance(payload, str) else json.dumps(payload)
        bursts[-1][1].append((seq, kind, json.dumps(json.loads(data))))
    return phase


# --- The floor: an SSE relay of pre-made events. ---


def relay_app() -> Any:
    """Starlette + sse-starlette relaying pre-made events through one queue per client."""
    from sse_starlette import EventSourceResponse, ServerSentEvent
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    channels: dict[int, list[asyncio.Queue[tuple[str, str, str]]]] = {}
    running: set[asyncio.Task[None]] = set()

    async def stream(request: Request) -> Response:
        channel = int(request.path_params["channel"])
        queue: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        channels.setdefault(channel, []).append(queue)

        async def events() -> Any:
            try:
                yield ServerSentEvent(json.dumps({"channel": channel}), event="connected")
                while True:
                    kind, ident, data = await queue.get()
                    yield ServerSentEvent(data, event=kind, id=ident)
                    if kind == "complete":
                        return
            finally:
                channels[channel].remove(queue)

        return EventSourceResponse(events(), ping=15)

    async def publish(queues: list[Any], bursts: list[Any]) -> None:
        """Hand each burst to every queue of the channel at its offset, stamped then."""
        began = time.monotonic()
        for offset, items in bursts:
            await asyncio.sleep(max(0.0, began + offset - time.monotonic()))
            stamp = time.time()
            for seq, kind, data in items:
                message = (kind, f"{seq}/{stamp:.6f}", data)
                for queue in list(queues):
                    queue.put_nowait(message)

    async def start(request: Request) -> Response:
        schedule = await request.json()
        for channel, bursts in schedule.items():
            task = asyncio.create_task(publish(channels.get(int(channel), []), bursts))
            running.add(task)
            task.add_done_callback(running.discard)
        return JSONResponse({"subscribers": sum(len(q) for q in channels.values())})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/stream/{channel}", stream),
            Route("/start", start, methods=["POST"]),
            Route("/healthz", health),
        ]
    )


@contextmanager
def relay_server() -> Iterator[tuple[str, int]]:
    """The relay app in its own uvicorn process (uvloop + httptools, like `runcast serve`)."""
    port = free_port()
    code = (
        "import uvicorn; from bench.stream_latency import relay_app; "
        f"uvicorn.run(relay_app(), host='127.0.0.1', port={port}, log_level='info')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            time.sleep(0.05)
        yield url, process.pid
    finally:
        stop_process(process)


async def floor_phase(
    url: str, pid: int, schedule: dict[int, Any], subscribers: int, concurrency: int = 100
) -> Phase:
    """Connect the subscribers to the relay, replay `schedule` (an engine phase's bursts),
    measure publish → arrival."""
    channels = len(schedule)
    phase = Phase("sse relay (floor)", subscribers)
    receipts: list[tuple[int, str, float]] = []
    gate = asyncio.Semaphore(concurrency)
    on_connected = Countdown(subscribers)
    all_connected = on_connected.done

    began = time.monotonic()
    tasks = [
        asyncio.create_task(
            sse_follow(
                url,
                f"/stream/{i % channels}",
                i % channels,
                gate,
                on_connected,
                receipts,
            )
        )
        for i in range(subscribers)
    ]
    await asyncio.wait_for(all_connected.wait(), 300)
    phase.connect_s = time.monotonic() - began
    cpu, client_cpu = cpu_seconds(pid), time.process_time()
    async with httpx.AsyncClient(base_url=url) as http:
        await http.post("/start", json=schedule)
    await asyncio.wait_for(asyncio.gather(*tasks), 300)
    phase.server_cpu_s = cpu_seconds(pid) - cpu
    phase.client_cpu_s = time.process_time() - client_cpu
    phase.expected = sum(
        sum(len(items) for _, items in schedule[i % channels]) for i in range(subscribers)
    )
    for _, ident, received in receipts:
        published = float(ident.partition("/")[2])
        phase.latencies_ms.append((received - published) * 1000)
    return phase


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench stream-latency")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--broadcast", choices=["memory", "redis"], default="memory")
    parser.add_argument("--subscribers", type=int, default=1000, help="per transport")
    parser.add_argument("--executions", type=int, default=10)
    parser.add_argument("--cycles", type=int, default=10, help="(wait, noop) pairs")
    parser.add_argument("--wait-ms", type=int, default=200)
    parser.add_argument("--transports", default="sse,ws", help="sse, ws or both")
    parser.add_argument(
        "--py-spy", help="record the server while events flow, per phase: PATH.sse, PATH.ws"
    )
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    limit = raise_open_files(2 * args.subscribers + 1024)
    broadcast = REDIS_URL if args.broadcast == "redis" else "memory://"
    env = {
        "RUNCAST_BROADCAST_URL": broadcast,
        "RUNCAST_MAX_CONCURRENT_EXECUTIONS": str(args.executions),
        # every client connects from 127.0.0.1
        "RUNCAST_MAX_CONNECTIONS_PER_ADDRESS": str(limit),
    }
    phases: list[Phase] = []
    with server(args.backend, **env) as live:
        idle_rss = live.rss_mib()
        workflow_id = create_workflow(live.url, measured_actions(args.cycles, args.wait_ms))
        blocker_id = create_workflow(live.url, BLOCKER)
        for transport in args.transports.split(","):
            spy = f"{args.py_spy}.{transport}" if args.py_spy else None
            phases.append(
                run_loop(
                    engine_phase(
                        live,
                        transport,
                        workflow_id,
                        blocker_id,
                        args.executions,
                        args.subscribers,
                        spy=spy,
                    )
                )
            )
    with relay_server() as (relay_url, relay_pid):
        floor = run_loop(floor_phase(relay_url, relay_pid, phases[0].schedule, args.subscribers))

    fp50, fp99 = percentile(floor.latencies_ms, 50), percentile(floor.latencies_ms, 99)
    result: dict[str, Any] = {
        "backend": args.backend,
        "broadcast": broadcast,
        "subscribers_per_transport": args.subscribers,
        "executions": args.executions,
        "events_per_execution": 2 * (1 + 2 * args.cycles) + 1,
        "open_files_limit": limit,
        "server_rss_idle_mib": idle_rss,
        "phases": [phase.summary() for phase in phases],
        "floor": floor.summary(),
    }
    rows: list[tuple[str, Any]] = []
    for phase in phases:
        p50 = percentile(phase.latencies_ms, 50)
        p99 = percentile(phase.latencies_ms, 99)
        name = phase.transport.upper()
        rows += [
            (f"{name} commit→client p50 ms", p50),
            (f"{name} commit→client p99 ms", p99),
            (
                f"{name} events received / expected",
                f"{len(phase.latencies_ms):,} / {phase.expected:,}",
            ),
            (f"{name} connect {phase.subscribers:,} clients s", phase.connect_s),
            (f"{name} server RSS with clients MiB", phase.rss_connected_mib),
            (f"{name} server CPU µs per delivered event", phase.cpu_per_event_us()),
            (f"{name} client CPU µs per delivered event", phase.client_cpu_per_event_us()),
            (f"{name} / floor p50, p99", f"{p50 / fp50:.2f}, {p99 / fp99:.2f}"),
        ]
        result[f"ratio_{phase.transport}_to_floor"] = {"p50": p50 / fp50, "p99": p99 / fp99}
    rows += [
        ("floor (sse-starlette relay) p50 ms", fp50),
        ("floor (sse-starlette relay) p99 ms", fp99),
        ("floor server CPU µs per delivered event", floor.cpu_per_event_us()),
        ("floor client CPU µs per delivered event", floor.client_cpu_per_event_us()),
        ("floor events received / expected", f"{len(floor.latencies_ms):,} / {floor.expected:,}"),
    ]
    print_table(
        f"stream-latency ({args.backend}, {broadcast}, {args.subscribers:,} subscribers per "
        f"transport over {args.executions} executions, {result['events_per_execution']} "
        "events each)",
        rows,
    )
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
