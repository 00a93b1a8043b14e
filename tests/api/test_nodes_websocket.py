"""`node` over a websocket: the connection's loaders batch but keep nothing, so a later
operation on the same socket sees the rows as they are then."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.streams.support import init, receive, start_execution, status_of, wait, ws_url

NODE = "query($id: ID!) { node(id: $id) { ... on Execution { status steps { status } } } }"


async def ask(ws: ClientConnection, operation_id: str, execution_id: str) -> dict[str, Any]:
    payload = {"query": NODE, "variables": {"id": execution_id}}
    await ws.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": payload}))
    message = await receive(ws)
    assert message["type"] == "next", message
    assert await receive(ws) == {"id": operation_id, "type": "complete"}
    return dict(message["payload"]["data"]["node"])


async def finished(client: Any, token: str, execution_id: str) -> bool:
    return (await status_of(client, token, execution_id))["execution"]["status"] == "COMPLETED"


async def test_a_later_operation_on_the_socket_reads_afresh(client, tokens, live):
    execution = await start_execution(client, tokens.headers(), wait(400))
    async with connect(ws_url(live), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        before = await ask(ws, "1", execution["id"])
        assert before["status"] in ("PENDING", "RUNNING")
        assert before["steps"][0]["status"] in ("PENDING", "RUNNING")
        while not await finished(client, tokens.viewer, execution["id"]):  # noqa: ASYNC110 - polls REST
            await asyncio.sleep(0.05)
        after = await ask(ws, "2", execution["id"])
    assert after == {"status": "COMPLETED", "steps": [{"status": "SUCCESS"}]}
