"""Shared results written by each subscriber's stream: every subscription of a group gets
every event in its own protocol's frame with its own operation id, an operation that is
stopped gets no more frames while the others go on, and the groups are released. What
idle subscriptions of one document share: its text and the tuple of validation rules."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

import pytest
from graphql import specified_rules
from strawberry.http.exceptions import WebSocketDisconnected
from websockets.asyncio.client import ClientConnection

from runcast.events.bus import execution_channel
from runcast.schema import multiplex
from runcast.schema.build import limited_rules
from runcast.schema.view import DataFrames, share_query_text, text_sharer
from tests.helpers import notify
from tests.streams.support import (
    EVENTS_QUERY,
    Received,
    eventually,
    from_graphql,
    init,
    receive,
    start_execution,
    variables,
    wait,
)
from tests.streams.test_multiplexed_subscriptions import close_all, last_seq_of
from tests.streams.test_subscriptions import PROTOCOLS, open_ws, subscribe

IDS = ("a", "b")
RESULT_TYPE = {"graphql-transport-ws": "next", "graphql-ws": "data"}


async def opened(live: str, token: str, protocol: str) -> ClientConnection:
    ws = await open_ws(live, protocol)
    assert (await init(ws, token))["type"] == "connection_ack"
    return ws


async def streams_by_id(ws: ClientConnection, protocol: str) -> dict[str, list[Received]]:
    """Each operation's events on `ws` until all of `IDS` are complete, after checking
    every result frame's type and that none carries errors."""
    received: dict[str, list[Received]] = defaultdict(list)
    open_ids = set(IDS)
    while open_ids:
        message = await receive(ws)
        assert message["id"] in open_ids, message
        if message["type"] == "complete":
            open_ids.discard(message["id"])
            continue
        assert message["type"] == RESULT_TYPE[protocol], message
        assert message["payload"].keys() == {"data"}, message
        received[message["id"]].append(from_graphql(message["payload"]["data"]["executionEvents"]))
    return received


async def test_every_subscription_of_a_group_gets_each_shared_result_under_its_own_id(
    client, tokens, live, hub
):
    running = await start_execution(client, tokens.headers(), wait(600), notify(), notify())
    values = variables(running["id"], None)
    before = multiplex.stats()
    sockets = [await opened(live, tokens.viewer, protocol) for protocol in PROTOCOLS]
    try:
        for ws, protocol in zip(sockets, PROTOCOLS, strict=True):
            for operation_id in IDS:
                await subscribe(ws, protocol, EVENTS_QUERY, values, operation_id)
        await eventually(lambda: hub.readers(execution_channel(running["id"])) == 4)
        streams = await asyncio.gather(
            *(streams_by_id(ws, protocol) for ws, protocol in zip(sockets, PROTOCOLS, strict=True))
        )
    finally:
        await close_all(sockets)

    every = [stream[operation_id] for stream in streams for operation_id in IDS]
    last_seq = last_seq_of(every[0])
    for received in every:  # the same events after `connected` (whose timestamps differ)
        assert received[1:] == every[0][1:]
    after = multiplex.stats()
    # Each live event runs once for the group, through graphql-core and Strawberry, for
    # the first subscriber to reach it; the others' streams write its frame themselves.
    live_events = last_seq - 2  # the wait's first events may be replayed
    assert after.direct_frames - before.direct_frames >= 3 * live_events
    await eventually(lambda: multiplex.stats().groups == 0)
    held = multiplex.stats()
    assert (held.subscribers, held.results, held.frames) == (0, 0, 0)


async def test_a_stopped_operation_gets_no_more_frames_while_its_group_goes_on(
    client, tokens, live, hub
):
    # The wait step sends nothing until it ends: both operations are stopped before.
    running = await start_execution(client, tokens.headers(), wait(1500), notify(), notify())
    values = variables(running["id"], None)
    sockets = [await opened(live, tokens.viewer, protocol) for protocol in PROTOCOLS]
    try:
        for ws, protocol in zip(sockets, PROTOCOLS, strict=True):
            for operation_id in IDS:
                await subscribe(ws, protocol, EVENTS_QUERY, values, operation_id)
        for ws in sockets:
            connected = {(await receive(ws))["id"] for _ in IDS}
            assert connected == set(IDS)
        for ws, protocol in zip(sockets, PROTOCOLS, strict=True):
            stop = "complete" if protocol == "graphql-transport-ws" else "stop"
            await ws.send(json.dumps({"id": "a", "type": stop}))
        await eventually(lambda: hub.readers(execution_channel(running["id"])) == 2)
        rest = [await frames_until_b_completes(ws) for ws in sockets]
    finally:
        await close_all(sockets)

    transport_ws, legacy_ws = rest
    assert {m["id"] for m in transport_ws} == {"b"}
    # graphql-ws confirms the stop with a `complete` for the stopped operation.
    assert [m for m in legacy_ws if m["id"] == "a"] == [{"type": "complete", "id": "a"}]
    for messages in rest:
        events = [
            from_graphql(m["payload"]["data"]["executionEvents"])
            for m in messages
            if m["id"] == "b" and m["type"] != "complete"
        ]
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[-1].type == "complete"
    await eventually(lambda: multiplex.stats().groups == 0)


async def frames_until_b_completes(ws: ClientConnection) -> list[dict[str, Any]]:
    messages = []
    while True:
        message = await receive(ws)
        messages.append(message)
        if message == {"id": "b", "type": "complete"} or message == {"type": "complete", "id": "b"}:
            return messages


def test_subscribers_of_one_document_hold_one_copy_of_its_text():
    """Each connection decodes its own `subscribe` frame; the query text they keep for
    the subscription's lifetime is one string."""
    first, second = (
        json.loads(json.dumps({"id": "1", "type": kind, "payload": {"query": EVENTS_QUERY}}))
        for kind in ("subscribe", "start")
    )
    assert first["payload"]["query"] is not second["payload"]["query"]
    share_query_text(first)
    share_query_text(second)
    assert first["payload"]["query"] is second["payload"]["query"]
    assert first["payload"]["query"] == EVENTS_QUERY


def test_the_shared_texts_are_bounded():
    """Any client may send any number of distinct texts: only the last few are kept."""
    share = text_sharer(3)
    first = [share("".join(["subscription { n", str(n), " }"])) for n in range(10)]
    assert share.cache_info().currsize == 3
    again = ["".join(["subscription { n", str(n), " }"]) for n in range(10)]
    kept = sorted(n for n in reversed(range(10)) if share(again[n]) is first[n])
    assert kept == [7, 8, 9]  # the texts of the last three; the others were let go


def test_operations_with_the_same_cost_limit_hold_one_tuple_of_validation_rules():
    default = tuple(specified_rules)  # each execution context starts with a tuple of its own
    limited = limited_rules(default, 100)
    assert limited is limited_rules(tuple(specified_rules), 100)
    assert limited[: len(default)] == default
    assert limited_rules(default, 200) != limited


class GoneClient:
    """A websocket whose client has gone: every send fails as Strawberry reports it."""

    def __init__(self) -> None:
        self.sent: list[object] = []

    async def send_json(self, message: object) -> None:
        self.sent.append(message)
        raise WebSocketDisconnected


async def test_a_frame_to_a_client_that_left_ends_its_operation_quietly():
    """The stream writing a shared frame to a closed socket ends as a stopped operation
    (cancelled), not with an exception that would come back as a GraphQL error."""
    client = GoneClient()
    sink = DataFrames("op-1", client, max_bytes=1_000_000)  # type: ignore[arg-type]
    with pytest.raises(asyncio.CancelledError):
        await sink.send(sink.frame('{"data":{"x":1}}') or "")
    assert len(client.sent) == 1
