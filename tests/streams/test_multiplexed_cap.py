"""The response-size cap holds for multiplexed frames: an event whose shared payload is over
the cap reaches every subscriber as RESPONSE_TOO_LARGE, the others as usual."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from runcast.events.bus import execution_channel
from runcast.schema import multiplex
from runcast.settings import Settings
from tests.helpers import notify
from tests.streams.support import (
    EVENTS_QUERY,
    eventually,
    receive,
    start_execution,
    variables,
    wait,
)
from tests.streams.test_multiplexed_subscriptions import close_all, open_subscribers

MAX_BYTES = 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(graphql_max_response_bytes=MAX_BYTES)


async def payloads_until_complete(ws: ClientConnection) -> list[dict[str, Any]]:
    payloads = []
    while (message := await receive(ws))["type"] != "complete":
        payloads.append(message["payload"])
    return payloads


async def test_an_oversize_shared_event_is_refused_to_each_subscriber(client, tokens, live, hub):
    running = await start_execution(client, tokens.headers(), wait(400), notify("x" * 2_000))
    sockets = await open_subscribers(
        live, tokens.viewer, EVENTS_QUERY, variables(running["id"], None), 4
    )
    before = multiplex.stats()
    try:
        await eventually(lambda: hub.readers(execution_channel(running["id"])) == 4)
        streams = await asyncio.gather(*(payloads_until_complete(ws) for ws in sockets))
    finally:
        await close_all(sockets)

    for payloads in streams:
        refused = [p for p in payloads if p["data"] is None]
        assert len(refused) == 1, payloads
        [error] = refused[0]["errors"]
        [detail] = error["extensions"]["details"]
        assert (detail["reason"], detail["maxBytes"]) == ("RESPONSE_TOO_LARGE", MAX_BYTES)
        kinds = [p["data"]["executionEvents"]["__typename"] for p in payloads if p["data"]]
        assert kinds[0] == "ExecutionConnected"
        assert kinds[-1] == "CompleteEvent"
    assert multiplex.stats().reuses > before.reuses
