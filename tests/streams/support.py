"""Clients for the three stream transports, and what a stream of an execution should hold."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from httpx_sse import aconnect_sse
from websockets.asyncio.client import ClientConnection, connect

from tests.helpers import WS, workflow_body

EVENTS_QUERY = """
subscription Events($ws: String!, $id: ID!, $after: Int) {
  executionEvents(workspaceSlug: $ws, executionId: $id, after: $after) {
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

TYPES = {
    "ExecutionConnected": "connected",
    "StepEvent": "step",
    "ProgressEvent": "progress",
    "CompleteEvent": "complete",
    "ErrorEvent": "error",
}


@dataclass(frozen=True)
class Received:
    """One event as a client saw it: SSE `id` (None for `connected`), event type, payload."""

    seq: int | None
    type: str
    data: dict[str, Any]


class Transport(Protocol):
    def __call__(
        self, base_url: str, token: str, execution_id: str, after: int | None = None
    ) -> AsyncIterator[Received]: ...


def wait(ms: int) -> dict[str, Any]:
    """A `wait` action of `ms` milliseconds."""
    return {"type": "wait", "config": {"durationMs": ms}}


async def start_execution(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *actions: dict[str, Any],
    workspace: str = WS,
    **body: Any,
) -> dict[str, Any]:
    """Create a workflow of `actions` and execute it; the execution as `execute` answered."""
    created = await client.post(
        f"{workspace}/workflows", json=workflow_body(*actions), headers=headers
    )
    assert created.status_code == 201, created.text
    workflow_id = created.json()["workflow"]["id"]
    response = await client.post(
        f"{workspace}/workflows/{workflow_id}/execute", json=body, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["execution"])


async def status_of(client: httpx.AsyncClient, token: str, execution_id: str) -> dict[str, Any]:
    """The execution's status answer (`GET …/executions/:id`)."""
    response = await client.get(
        f"{WS}/workflows/executions/{execution_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def stream_path(execution_id: str, workspace: str = WS) -> str:
    return f"{workspace}/workflows/executions/{execution_id}/stream"


async def sse_events(
    base_url: str,
    token: str,
    execution_id: str,
    after: int | None = None,
    *,
    via_query: bool = False,
) -> AsyncIterator[Received]:
    """The SSE stream; `after` goes in `Last-Event-ID` (or `?lastEventId=`)."""
    headers = {"Authorization": f"Bearer {token}"}
    params = {}
    if after is not None and via_query:
        params["lastEventId"] = str(after)
    elif after is not None:
        headers["Last-Event-ID"] = str(after)
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=10) as http,
        aconnect_sse(http, "GET", stream_path(execution_id), headers=headers, params=params) as sse,
    ):
        assert sse.response.status_code == 200, await sse.response.aread()
        async for event in sse.aiter_sse():
            yield Received(int(event.id) if event.id else None, event.event, json.loads(event.data))


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/graphql"


async def send_init(ws: ClientConnection, token: str | None) -> None:
    payload = {"authorization": f"Bearer {token}"} if token is not None else {}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))


async def init(ws: ClientConnection, token: str | None) -> dict[str, Any]:
    await send_init(ws, token)
    return await receive(ws)


async def receive(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = json.loads(await ws.recv())
        if message["type"] != "ka":
            return dict(message)


def variables(execution_id: str, after: int | None, workspace: str = "acme") -> dict[str, Any]:
    return {"ws": workspace, "id": execution_id, "after": after}


async def transport_ws_events(
    base_url: str, token: str, execution_id: str, after: int | None = None
) -> AsyncIterator[Received]:
    """`executionEvents` over graphql-transport-ws."""
    async with connect(ws_url(base_url), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        assert (await init(ws, token))["type"] == "connection_ack"
        query = {"query": EVENTS_QUERY, "variables": variables(execution_id, after)}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": query}))
        while (message := await receive(ws))["type"] != "complete":
            assert message["type"] == "next", message
            assert "errors" not in message["payload"], message
            yield from_graphql(message["payload"]["data"]["executionEvents"])


async def legacy_ws_events(
    base_url: str, token: str, execution_id: str, after: int | None = None
) -> AsyncIterator[Received]:
    """`executionEvents` over the older graphql-ws protocol."""
    async with connect(ws_url(base_url), subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        assert (await init(ws, token))["type"] == "connection_ack"
        query = {"query": EVENTS_QUERY, "variables": variables(execution_id, after)}
        await ws.send(json.dumps({"id": "1", "type": "start", "payload": query}))
        while (message := await receive(ws))["type"] != "complete":
            assert message["type"] == "data", message
            assert "errors" not in message["payload"], message
            yield from_graphql(message["payload"]["data"]["executionEvents"])


def from_graphql(node: dict[str, Any]) -> Received:
    """A union member as the SSE event it mirrors (`ExecutionConnected`'s seq 0 → no id)."""
    data = dict(node)
    kind = TYPES[data.pop("__typename")]
    seq = data.pop("seq")
    if kind == "connected":
        assert seq == 0
        seq = None
    return Received(seq, kind, data)


TRANSPORTS: dict[str, Transport] = {
    "sse": sse_events,
    "graphql-transport-ws": transport_ws_events,
    "graphql-ws": legacy_ws_events,
}


async def collect(events: AsyncIterator[Received], limit: int | None = None) -> list[Received]:
    """Read to the end of the stream, or only `limit` events; then close it."""
    received: list[Received] = []
    async with aclosing(events):
        async for event in events:
            received.append(event)
            if len(received) == limit:
                break
    return received


class Reader:
    """Reads a stream in the background so a test can act while it runs."""

    def __init__(self, events: AsyncIterator[Received]) -> None:
        self.received: list[Received] = []
        self.task = asyncio.create_task(self._read(events), name="test stream reader")

    async def _read(self, events: AsyncIterator[Received]) -> list[Received]:
        async with aclosing(events):
            async for event in events:
                self.received.append(event)
        return self.received

    async def result(self, within: float = 15.0) -> list[Received]:
        async with asyncio.timeout(within):
            return await self.task


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the code under test exposes state, not events
            await asyncio.sleep(0.01)


def expected_events(status: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The events the seed describes for a finished execution, built from its status answer:
    `step` then `progress` per step, `error` if it FAILED, then `complete`."""
    execution = status["execution"]
    steps = execution["steps"]
    total = len(steps)
    events: list[tuple[str, dict[str, Any]]] = []
    for done, step in enumerate(steps, start=1):
        fields = ["actionId", "actionType", "status", "output", "durationMs"]
        events.append(("step", {key: step[key] for key in [*fields, "error"] if key in step}))
        finished = done == total
        statuses = [s["status"] for s in steps[:done]]
        events.append(
            (
                "progress",
                {
                    "totalSteps": total,
                    "completedSteps": done,
                    "successfulSteps": statuses.count("success"),
                    "failedSteps": statuses.count("failed"),
                    "percentage": 100 if finished else round(100 * done / total),
                    "status": execution["status"] if finished else "RUNNING",
                },
            )
        )
    if execution["status"] == "FAILED":
        events.append(("error", {"message": f"Execution failed: {execution['error']}"}))
    events.append(
        (
            "complete",
            {
                "status": execution["status"],
                "durationMs": execution["durationMs"],
                "completedAt": execution["completedAt"],
            },
        )
    )
    return events


def log_of(received: list[Received]) -> list[tuple[str, dict[str, Any]]]:
    """The received events after `connected`, checking their ids run 1, 2, 3, … without gaps."""
    assert received[0].type == "connected" and received[0].seq is None
    assert [event.seq for event in received[1:]] == list(range(1, len(received)))
    return [(event.type, event.data) for event in received[1:]]
