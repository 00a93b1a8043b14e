"""GraphQL subscriptions over both websocket protocols: refusals, workspace feed, clean-up."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from runcast.events.bus import execution_channel, workspace_channel
from runcast.models import Workspace
from tests.helpers import notify
from tests.streams.support import (
    EVENTS_QUERY,
    eventually,
    init,
    receive,
    send_init,
    start_execution,
    status_of,
    variables,
    wait,
    ws_url,
)

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
OTHER = "/api/workspaces/other"
LONG_WAIT = wait(30_000)

WORKSPACE_QUERY = """
subscription Feed($ws: String!) {
  workspaceExecutions(workspaceSlug: $ws) {
    executionId workflowId status startedAt completedAt durationMs isSimulation
  }
}
"""


def open_ws(live: str, protocol: str) -> Any:
    return connect(ws_url(live), subprotocols=[protocol])  # type: ignore[list-item]


async def subscribe(
    ws: ClientConnection, protocol: str, query: str, values: dict[str, Any], id: str = "1"
) -> None:
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    payload = {"query": query, "variables": values}
    await ws.send(json.dumps({"id": id, "type": kind, "payload": payload}))


async def closed_with(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed):
        while True:
            await ws.recv()
    return ws.close_code


def error_code(message: dict[str, Any]) -> str:
    assert message["type"] == "error", message
    payload = message["payload"]
    error = payload[0] if isinstance(payload, list) else payload
    return str(error["extensions"]["code"])


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_refusals(client, tokens, live, protocol):
    running = await start_execution(client, tokens.headers(), LONG_WAIT)
    elsewhere = await start_execution(client, tokens.headers("outsider"), notify(), workspace=OTHER)
    transport_ws = protocol == "graphql-transport-ws"

    for token in (None, "rc_not-a-token"):
        async with open_ws(live, protocol) as ws:
            await send_init(ws, token)
            if transport_ws:
                assert await closed_with(ws) == 4401
            else:
                answer = await receive(ws)
                assert answer["type"] == "connection_error"
                assert answer["payload"]["code"] == "UNAUTHORIZED"

    async with open_ws(live, protocol) as ws:
        assert (await init(ws, tokens.outsider))["type"] == "connection_ack"
        await subscribe(ws, protocol, EVENTS_QUERY, variables(running["id"], None))
        if transport_ws:
            assert await closed_with(ws) == 4403
        else:
            assert error_code(await receive(ws)) == "FORBIDDEN"

    async with open_ws(live, protocol) as ws:
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        await subscribe(ws, protocol, EVENTS_QUERY, variables(elsewhere["id"], None))
        assert error_code(await receive(ws)) == "EXECUTION_NOT_FOUND"
        await subscribe(ws, protocol, EVENTS_QUERY, variables(running["id"], 5), id="2")
        assert error_code(await receive(ws)) == "VALIDATION_ERROR"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_spent_after_on_a_finished_execution_completes_at_once(
    client, tokens, live, protocol
):
    finished = await start_execution(client, tokens.headers(), notify(), wait=True)
    async with open_ws(live, protocol) as ws:
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        await subscribe(ws, protocol, EVENTS_QUERY, variables(finished["id"], 3))
        assert await receive(ws) == {"id": "1", "type": "complete"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_workspace_feed_shows_each_status_change(client, tokens, live, hub, protocol):
    async with open_ws(live, protocol) as ws:
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        await subscribe(ws, protocol, WORKSPACE_QUERY, {"ws": "acme"})
        workspace = await Workspace.get(slug="acme")
        await eventually(lambda: hub.readers(workspace_channel(workspace.id)) == 1)
        await start_execution(
            client, tokens.headers("outsider"), notify(), workspace=OTHER, wait=True
        )
        execution = await start_execution(client, tokens.headers(), notify(), wait=True)
        changes = [(await receive(ws))["payload"]["data"]["workspaceExecutions"] for _ in range(2)]

    status = (await status_of(client, tokens.viewer, execution["id"]))["execution"]
    common = {
        "executionId": execution["id"],
        "workflowId": execution["workflowId"],
        "startedAt": status["startedAt"],
        "isSimulation": False,
    }
    # It started at once (a free slot): stored RUNNING, so its first change is RUNNING.
    assert changes == [
        {**common, "status": "RUNNING", "completedAt": None, "durationMs": None},
        {
            **common,
            "status": "COMPLETED",
            "completedAt": status["completedAt"],
            "durationMs": status["durationMs"],
        },
    ]


async def test_closed_sockets_and_unsubscribes_release_their_subscriptions(
    client, tokens, live, hub
):
    running = await start_execution(client, tokens.headers(), notify(), LONG_WAIT)
    sockets = []
    for n in range(20):
        protocol = PROTOCOLS[n % 2]
        ws = await open_ws(live, protocol)
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        await subscribe(ws, protocol, EVENTS_QUERY, variables(running["id"], None))
        while (await receive(ws))["payload"]["data"]["executionEvents"]["__typename"] != (
            "ProgressEvent"
        ):
            pass  # connected, then the first step's events: the stream is live
        sockets.append((ws, protocol))
    channel = execution_channel(running["id"])
    assert hub.readers(channel) == 20

    for ws, protocol in sockets[:10]:
        await ws.send(
            json.dumps({"id": "1", "type": "complete" if protocol == PROTOCOLS[0] else "stop"})
        )
    await eventually(lambda: hub.readers(channel) == 10)
    for ws, _ in sockets:
        await ws.close()
    await eventually(lambda: not hub.holds(channel))
