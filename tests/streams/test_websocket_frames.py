"""Malformed websocket frames get the protocol's answer, and the server stays up.

graphql-transport-ws closes with 4400 (4401 when `connection_init` carries no valid
token); graphql-ws answers an `error` message and keeps the connection open.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from tests.streams.support import EVENTS_QUERY, init, receive, variables
from tests.streams.test_subscriptions import closed_with, open_ws

ME = "{ me { id } }"
MALFORMED = {
    "payload null": {"type": "{op}", "id": "1", "payload": None},
    "no id": {"type": "{op}", "payload": {"query": ME}},
    "numeric id": {"type": "{op}", "id": 7, "payload": {"query": ME}},
    "query not a string": {"type": "{op}", "id": "1", "payload": {"query": 1}},
    "variables a list": {"type": "{op}", "id": "1", "payload": {"query": ME, "variables": []}},
    "not an object": 1,
    "no type": {"id": "1"},
    "nested 10,000 deep": "[" * 10_000 + "]" * 10_000,
    "not JSON": "{",
}


def frame(shape: Any, operation: str) -> str:
    if isinstance(shape, str):
        return shape
    return json.dumps(shape).replace("{op}", operation)


async def still_answers(ws: ClientConnection, protocol: str) -> None:
    """The connection serves a well-formed operation after the bad frame."""
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    await ws.send(json.dumps({"id": "ok", "type": kind, "payload": {"query": ME}}))
    answer = await receive(ws)
    assert answer["id"] == "ok"
    assert answer["payload"]["data"]["me"]["id"].startswith("usr_")


@pytest.mark.parametrize("shape", list(MALFORMED), ids=list(MALFORMED))
async def test_transport_ws_closes_4400_on_a_malformed_frame(client, tokens, live, shape):
    async with open_ws(live, "graphql-transport-ws") as ws:
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        await ws.send(frame(MALFORMED[shape], "subscribe"))
        assert await closed_with(ws) == 4400
    async with open_ws(live, "graphql-transport-ws") as ws:
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        await still_answers(ws, "graphql-transport-ws")


@pytest.mark.parametrize(
    "shape", [s for s in MALFORMED if s not in ("nested 10,000 deep", "not JSON")]
)
async def test_legacy_ws_answers_an_error_and_stays_open(client, tokens, live, shape):
    async with open_ws(live, "graphql-ws") as ws:
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        await ws.send(frame(MALFORMED[shape], "start"))
        answer = await receive(ws)
        assert answer["type"] == "error"
        assert answer["payload"]["extensions"]["code"] == "VALIDATION_ERROR"
        await still_answers(ws, "graphql-ws")


async def test_legacy_ws_ignores_frames_that_are_not_json(client, tokens, live):
    async with open_ws(live, "graphql-ws") as ws:
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        await ws.send(MALFORMED["nested 10,000 deep"])
        await ws.send(MALFORMED["not JSON"])
        await still_answers(ws, "graphql-ws")


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_connection_init_with_a_null_payload_is_unauthorized(client, live, protocol):
    async with open_ws(live, protocol) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": None}))
        if protocol == "graphql-ws":
            answer = await receive(ws)
            assert answer["type"] == "connection_error"
            assert answer["payload"]["code"] == "UNAUTHORIZED"
        assert await closed_with(ws) == 4401


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_queries_and_mutations_run_once_over_either_protocol(client, tokens, live, protocol):
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    cancel = (
        'mutation { cancelExecution(workspaceSlug: "acme", executionId: "exec_1") { success } }'
    )
    async with open_ws(live, protocol) as ws:
        assert (await init(ws, tokens.editor))["type"] == "connection_ack"
        await still_answers(ws, protocol)
        completed = await receive(ws)
        assert (completed["type"], completed["id"]) == ("complete", "ok")
        await ws.send(json.dumps({"id": "m", "type": kind, "payload": {"query": cancel}}))
        answer = await receive(ws)
        assert answer["payload"]["errors"][0]["extensions"]["code"] == "EXECUTION_NOT_FOUND"
        assert (await receive(ws))["type"] == "complete"


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_an_overlong_execution_id_is_not_found(client, tokens, live, protocol):
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    async with open_ws(live, protocol) as ws:
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        values = variables("exec_" + "x" * 200, None, workspace="w" * 500)
        await ws.send(
            json.dumps(
                {"id": "1", "type": kind, "payload": {"query": EVENTS_QUERY, "variables": values}}
            )
        )
        answer = await receive(ws)
        assert answer["type"] == "error"
        payload = answer["payload"]
        error = payload[0] if isinstance(payload, list) else payload
        assert error["extensions"]["code"] == "WORKSPACE_NOT_FOUND"
        await still_answers(ws, protocol)
