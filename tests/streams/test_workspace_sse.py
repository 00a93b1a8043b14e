"""The workspace feed over SSE (`GET /api/workspaces/:ws/stream`): the status changes the
GraphQL `workspaceExecutions` subscription sends, under the same access rules."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from runcast.events.bus import workspace_channel
from runcast.models import Workspace
from tests.helpers import WS, notify
from tests.streams.support import eventually, start_execution, status_of

OTHER = "/api/workspaces/other"


async def feed(
    base_url: str, token: str, received: list[tuple[str, dict[str, Any]]], *, via_query: bool
) -> None:
    headers = {} if via_query else {"Authorization": f"Bearer {token}"}
    params = {"access_token": token} if via_query else {}
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=10) as http,
        aconnect_sse(http, "GET", f"{WS}/stream", headers=headers, params=params) as sse,
    ):
        assert sse.response.status_code == 200, await sse.response.aread()
        assert sse.response.headers["content-type"].startswith("text/event-stream")
        async for event in sse.aiter_sse():
            assert event.id == ""
            received.append((event.event, json.loads(event.data)))


@pytest.mark.parametrize("via_query", [False, True], ids=["header", "access_token"])
async def test_the_workspace_feed_relays_each_status_change(client, tokens, live, hub, via_query):
    workspace = await Workspace.get(slug="acme")
    channel = workspace_channel(workspace.id)
    received: list[tuple[str, dict[str, Any]]] = []
    reader = asyncio.create_task(feed(live, tokens.viewer, received, via_query=via_query))
    try:
        await eventually(lambda: hub.readers(channel) == 1)
        await start_execution(client, tokens.headers("outsider"), notify(), workspace=OTHER)
        execution = await start_execution(client, tokens.headers(), notify(), wait=True)
        await eventually(lambda: len(received) >= 3)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    await eventually(lambda: hub.readers(channel) == 0)

    kind, connected = received[0]
    assert (kind, connected["workspaceId"]) == ("connected", workspace.id)
    status = (await status_of(client, tokens.viewer, execution["id"]))["execution"]
    common = {
        "executionId": execution["id"],
        "workflowId": execution["workflowId"],
        "startedAt": status["startedAt"],
        "isSimulation": False,
    }
    # It started at once (a free slot): stored RUNNING, so its first change is RUNNING.
    expected = [
        {**common, "status": "RUNNING", "completedAt": None, "durationMs": None},
        {
            **common,
            "status": "COMPLETED",
            "completedAt": status["completedAt"],
            "durationMs": status["durationMs"],
        },
    ]
    assert [kind for kind, _ in received[1:]] == ["status"] * 2
    for (_, change), shown in zip(received[1:], expected, strict=True):
        assert shown.items() <= change.items(), change


@pytest.mark.settings(max_concurrent_executions=1)
async def test_an_execution_that_waits_for_a_slot_is_announced_pending_then_running(
    client, tokens, live, hub
):
    blocker = await start_execution(
        client, tokens.headers(), {"type": "wait", "config": {"durationMs": 30_000}}
    )
    workspace = await Workspace.get(slug="acme")
    received: list[tuple[str, dict[str, Any]]] = []
    reader = asyncio.create_task(feed(live, tokens.viewer, received, via_query=False))
    try:
        await eventually(lambda: hub.readers(workspace_channel(workspace.id)) == 1)
        queued = await start_execution(client, tokens.headers(), notify())
        assert queued["status"] == "PENDING"
        await eventually(lambda: len(received) >= 2)
        cancelled = await client.post(
            f"{WS}/workflows/executions/{blocker['id']}", headers=tokens.headers("editor")
        )
        assert cancelled.status_code == 200, cancelled.text
        await eventually(lambda: len(received) >= 5)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)

    changes = [(change["executionId"], change["status"]) for _, change in received[1:5]]
    assert changes == [
        (queued["id"], "PENDING"),
        (blocker["id"], "CANCELLED"),
        (queued["id"], "RUNNING"),
        (queued["id"], "COMPLETED"),
    ]


@pytest.mark.parametrize(
    ("path", "role", "status", "code"),
    [
        (f"{WS}/stream", None, 401, "UNAUTHORIZED"),
        (f"{WS}/stream?access_token=rc_unknown", None, 401, "UNAUTHORIZED"),
        (f"{WS}/stream", "outsider", 403, "FORBIDDEN"),
        ("/api/workspaces/nowhere/stream", "viewer", 404, "WORKSPACE_NOT_FOUND"),
        ("/api/workspaces/bad%20slug!/stream", "viewer", 404, "WORKSPACE_NOT_FOUND"),
    ],
)
async def test_the_workspace_feed_refuses_with_coded_errors(
    client, tokens, path, role, status, code
):
    headers = tokens.headers(role) if role else {}
    response = await client.get(path, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
