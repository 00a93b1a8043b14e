"""Multiplexed subscriptions: many subscribers of one selection share each event's execution
and encoding, yet each keeps its own stream, shape and access check; the workflow feed and
the workspace feed's filter."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from runcast.domain.events import Event
from runcast.events.bus import execution_channel, workspace_channel
from runcast.models import Workspace
from runcast.schema import multiplex
from runcast.store.reads import events_after
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
from tests.streams.test_subscriptions import (
    PROTOCOLS,
    closed_with,
    error_code,
    open_ws,
    subscribe,
)

SUBSCRIBERS = 6
STEPS_ONLY = """
subscription Steps($ws: String!, $id: ID!) {
  executionEvents(workspaceSlug: $ws, executionId: $id) {
    __typename
    ... on StepEvent { seq status }
  }
}
"""
FEED = """
subscription Feed($ws: String!, $filter: ExecutionChangeFilter) {
  workspaceExecutions(workspaceSlug: $ws, filter: $filter) {
    executionId workflowId status triggerType
  }
}
"""
WORKFLOW_FEED = """
subscription Workflow($ws: String!, $workflowId: ID!) {
  workflowExecutions(workspaceSlug: $ws, workflowId: $workflowId) {
    executionId workflowId status completedAt
  }
}
"""


async def next_data(ws: ClientConnection) -> tuple[str, dict[str, Any]]:
    """The next result message's operation id and `data` (no errors allowed)."""
    message = await receive(ws)
    assert message["type"] in ("next", "data"), message
    assert "errors" not in message["payload"], message
    return message["id"], message["payload"]["data"]


async def events_until_complete(ws: ClientConnection) -> list[Received]:
    received = []
    while (message := await receive(ws))["type"] != "complete":
        assert message["type"] in ("next", "data"), message
        assert "errors" not in message["payload"], message
        received.append(from_graphql(message["payload"]["data"]["executionEvents"]))
    return received


async def open_subscribers(
    live: str, token: str, query: str, values: dict[str, Any], count: int
) -> list[ClientConnection]:
    """`count` sockets (alternating protocols), each subscribed and holding `connected`."""
    sockets = []
    for n in range(count):
        protocol = PROTOCOLS[n % 2]
        ws = await open_ws(live, protocol)
        assert (await init(ws, token))["type"] == "connection_ack"
        await subscribe(ws, protocol, query, values)
        sockets.append(ws)
    return sockets


def last_seq_of(received: list[Received]) -> int:
    """The stream's last seq, after checking it is `connected`, then seqs 1, 2, … in order
    up to `complete`."""
    assert received[0].type == "connected"
    assert received[-1].type == "complete"
    seqs = [e.seq for e in received[1:]]
    assert seqs == list(range(1, len(seqs) + 1))
    return len(seqs)


async def close_all(sockets: list[ClientConnection]) -> None:
    for ws in sockets:
        await ws.close()


async def test_one_selection_runs_once_per_event_for_all_its_subscribers(client, tokens, live, hub):
    running = await start_execution(client, tokens.headers(), wait(600), notify(), notify())
    channel = execution_channel(running["id"])
    before = multiplex.stats()
    sockets = await open_subscribers(
        live, tokens.viewer, EVENTS_QUERY, variables(running["id"], None), SUBSCRIBERS
    )
    try:
        await eventually(lambda: hub.readers(channel) == SUBSCRIBERS)
        streams = await asyncio.gather(*(events_until_complete(ws) for ws in sockets))
    finally:
        await close_all(sockets)

    for received in streams:  # the same events after `connected` (whose timestamps differ)
        assert received[1:] == streams[0][1:]
    last_seq = last_seq_of(streams[0])

    after = multiplex.stats()
    executions = after.executions - before.executions
    reuses = after.reuses - before.reuses
    # The wait's first events may be replayed (not shared); every later event is live,
    # executed by one subscriber and reused by the others.
    live_events = last_seq - 2
    assert 0 < executions <= last_seq
    assert reuses >= (SUBSCRIBERS - 1) * live_events
    assert after.payload_encodings - before.payload_encodings <= executions
    await eventually(lambda: multiplex.stats().groups == 0)
    held = multiplex.stats()
    assert (held.subscribers, held.results, held.frames) == (0, 0, 0)


async def test_other_variables_and_selections_get_their_own_shapes(client, tokens, live, hub):
    first = await start_execution(client, tokens.headers(), wait(500), notify())
    second = await start_execution(client, tokens.headers(), wait(500), notify(), notify())
    everything = await open_subscribers(
        live, tokens.viewer, EVENTS_QUERY, variables(first["id"], None), 2
    )
    other_execution = await open_subscribers(
        live, tokens.viewer, EVENTS_QUERY, variables(second["id"], None), 2
    )
    steps_only = await open_subscribers(
        live, tokens.viewer, STEPS_ONLY, {"ws": "acme", "id": first["id"]}, 2
    )
    try:
        await eventually(lambda: hub.readers(execution_channel(first["id"])) == 4)
        full, others, steps = await asyncio.gather(
            asyncio.gather(*(events_until_complete(ws) for ws in everything)),
            asyncio.gather(*(events_until_complete(ws) for ws in other_execution)),
            asyncio.gather(*(stream_of_steps(ws) for ws in steps_only)),
        )
    finally:
        await close_all(everything + other_execution + steps_only)

    for received in (full, others):
        assert received[0][1:] == received[1][1:]
        last_seq_of(received[0])
    assert len(full[0]) < len(others[0])
    step_events = [
        {"__typename": "StepEvent", "seq": e.seq, "status": e.data["status"]}
        for e in full[0]
        if e.type == "step"
    ]
    assert steps[0] == steps[1] == step_events
    assert multiplex.stats().groups == 0


async def stream_of_steps(ws: ClientConnection) -> list[dict[str, Any]]:
    """The `STEPS_ONLY` nodes that are steps (the others come as `{__typename}` only)."""
    nodes = []
    while (message := await receive(ws))["type"] != "complete":
        node = message["payload"]["data"]["executionEvents"]
        assert node.keys() == ({"__typename", "seq", "status"} if len(node) > 1 else {"__typename"})
        if node["__typename"] == "StepEvent":
            nodes.append(node)
    return nodes


async def test_a_late_subscriber_replays_from_after_while_others_are_live(
    client, tokens, live, hub
):
    running = await start_execution(client, tokens.headers(), wait(300), notify(), wait(900))
    channel = execution_channel(running["id"])
    early = await open_subscribers(
        live, tokens.viewer, EVENTS_QUERY, variables(running["id"], None), 3
    )
    try:
        await eventually(lambda: hub.readers(channel) == 3)
        for ws in early:  # connected, then events up to the notify step's progress
            while (await next_data(ws))[1]["executionEvents"].get("completedSteps") != 2:
                pass
        late = await open_subscribers(
            live, tokens.viewer, EVENTS_QUERY, variables(running["id"], 2), 1
        )
        early_rest, late_all = await asyncio.gather(
            asyncio.gather(*(events_until_complete(ws) for ws in early)),
            events_until_complete(late[0]),
        )
    finally:
        await close_all(early + late)

    assert late_all[0].type == "connected"
    assert [e.seq for e in late_all[1:]] == list(range(3, late_all[-1].seq + 1))
    assert late_all[-1].type == "complete"
    assert early_rest[0] == early_rest[1] == early_rest[2] == late_all[-len(early_rest[0]) :]
    assert early_rest[0][-1].type == "complete"
    await eventually(lambda: multiplex.stats().groups == 0)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_subscriber_without_access_is_refused_beside_a_live_one(
    client, tokens, live, hub, protocol
):
    running = await start_execution(client, tokens.headers(), wait(30_000))
    values = variables(running["id"], None)
    [allowed] = await open_subscribers(live, tokens.viewer, EVENTS_QUERY, values, 1)
    try:
        await eventually(lambda: hub.readers(execution_channel(running["id"])) == 1)
        async with open_ws(live, protocol) as ws:
            assert (await init(ws, tokens.outsider))["type"] == "connection_ack"
            await subscribe(ws, protocol, EVENTS_QUERY, values)
            if protocol == "graphql-transport-ws":
                assert await closed_with(ws) == 4403
            else:
                assert error_code(await receive(ws)) == "FORBIDDEN"
        assert multiplex.stats().subscribers == 1
        assert hub.readers(execution_channel(running["id"])) == 1
    finally:
        await allowed.close()
    await eventually(lambda: multiplex.stats().groups == 0)


async def workflow_of(client, tokens, *actions: dict[str, Any]) -> str:
    created = await client.post(
        "/api/workspaces/acme/workflows",
        json={"name": "Feed", "actions": list(actions)},
        headers=tokens.headers(),
    )
    assert created.status_code == 201, created.text
    return str(created.json()["workflow"]["id"])


async def execute(client, tokens, workflow_id: str) -> dict[str, Any]:
    response = await client.post(
        f"/api/workspaces/acme/workflows/{workflow_id}/execute",
        json={"wait": True},
        headers=tokens.headers(),
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["execution"])


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_workflow_feed_shows_only_that_workflows_executions(
    client, tokens, live, hub, protocol
):
    watched = await workflow_of(client, tokens, notify())
    other = await workflow_of(client, tokens, notify())
    workspace = await Workspace.get(slug="acme")
    async with open_ws(live, protocol) as ws:
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        await subscribe(ws, protocol, WORKFLOW_FEED, {"ws": "acme", "workflowId": watched})
        await eventually(lambda: hub.readers(workspace_channel(workspace.id)) == 1)
        await execute(client, tokens, other)
        execution = await execute(client, tokens, watched)
        changes = [(await next_data(ws))[1]["workflowExecutions"] for _ in range(2)]
    assert [c["status"] for c in changes] == ["RUNNING", "COMPLETED"]
    assert {(c["executionId"], c["workflowId"]) for c in changes} == {(execution["id"], watched)}
    assert changes[1]["completedAt"] is not None

    async with open_ws(live, protocol) as ws:
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        unknown = {"ws": "acme", "workflowId": "wf_unknown"}
        await subscribe(ws, protocol, WORKFLOW_FEED, unknown)
        assert error_code(await receive(ws)) == "WORKFLOW_NOT_FOUND"
    async with open_ws(live, protocol) as ws:
        assert (await init(ws, tokens.outsider))["type"] == "connection_ack"
        await subscribe(ws, protocol, WORKFLOW_FEED, {"ws": "acme", "workflowId": watched})
        if protocol == "graphql-transport-ws":
            assert await closed_with(ws) == 4403
        else:
            assert error_code(await receive(ws)) == "FORBIDDEN"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_workspace_feed_filter(client, tokens, live, hub, protocol):
    watched = await workflow_of(client, tokens, notify())
    other = await workflow_of(client, tokens, notify())
    workspace = await Workspace.get(slug="acme")
    async with open_ws(live, protocol) as ws:
        assert (await init(ws, tokens.viewer))["type"] == "connection_ack"
        completed_of_watched = {"status": ["COMPLETED"], "workflowId": watched}
        no_trigger_type = {"triggerType": []}  # an empty list matches nothing
        manual_running = {"status": ["RUNNING"], "triggerType": ["MANUAL"]}
        await subscribe(ws, protocol, FEED, {"ws": "acme", "filter": completed_of_watched}, "a")
        await subscribe(ws, protocol, FEED, {"ws": "acme", "filter": no_trigger_type}, "b")
        await eventually(lambda: hub.readers(workspace_channel(workspace.id)) == 2)
        first = await execute(client, tokens, other)
        second = await execute(client, tokens, watched)
        assert await next_data(ws) == ("a", change(second["id"], watched, "COMPLETED"))
        await subscribe(ws, protocol, FEED, {"ws": "acme", "filter": manual_running}, "c")
        await eventually(lambda: hub.readers(workspace_channel(workspace.id)) == 3)
        third = await execute(client, tokens, other)
        fourth = await execute(client, tokens, watched)
        seen = [await next_data(ws) for _ in range(3)]
    assert first["id"] not in json.dumps(seen)
    assert seen == [
        ("c", change(third["id"], other, "RUNNING")),
        ("c", change(fourth["id"], watched, "RUNNING")),
        ("a", change(fourth["id"], watched, "COMPLETED")),
    ]


def change(execution_id: str, workflow_id: str, status: str) -> dict[str, Any]:
    return {
        "workspaceExecutions": {
            "executionId": execution_id,
            "workflowId": workflow_id,
            "status": status,
            "triggerType": "MANUAL",
        }
    }


async def test_a_masked_error_reaches_each_subscriber_of_a_shared_event(
    app, client, tokens, live, hub
):
    running = await start_execution(client, tokens.headers(), wait(30_000))
    sockets = await open_subscribers(
        live, tokens.viewer, EVENTS_QUERY, variables(running["id"], None), 4
    )
    try:
        for ws in sockets:  # the wait step sends nothing until it ends
            assert (await next_data(ws))[1]["executionEvents"]["__typename"] == (
                "ExecutionConnected"
            )
        await eventually(lambda: hub.readers(execution_channel(running["id"])) == len(sockets))
        before = multiplex.stats()
        # A `complete` whose completedAt the DateTime scalar cannot serialize: a fault in
        # the selection, masked as INTERNAL_ERROR for every subscriber.
        broken = Event(running["id"], 1, "complete", {"status": "COMPLETED", "completedAt": 5})
        await app.state.engine.bus.publish_events([broken])
        answers = [await receive(ws) for ws in sockets]
        endings = [await receive(ws) for ws in sockets]
    finally:
        await close_all(sockets)
    for answer in answers:
        node = answer["payload"]["data"]["executionEvents"]
        assert (node["__typename"], node["seq"], node["completedAt"]) == ("CompleteEvent", 1, None)
        [error] = answer["payload"]["errors"]
        assert error["message"] == "Internal server error"
        assert error["extensions"] == {"code": "INTERNAL_ERROR"}
        assert error["path"] == ["executionEvents", "completedAt"]
    assert [e["type"] for e in endings] == ["complete"] * len(sockets)
    after = multiplex.stats()
    assert (after.executions - before.executions, after.reuses - before.reuses) == (1, 3)


async def test_events_replayed_from_the_log_are_shared_like_live_ones(client, tokens, live, hub):
    """Subscribers that read the same events from the log (a replay, or a gap filled
    by a lagging stream) share each event's execution as live subscribers do."""
    running = await start_execution(client, tokens.headers(), notify(), notify(), wait(60_000))
    for _ in range(200):  # until both notify steps are in the log
        stored = await events_after(running["id"], 0)
        if any(event.data.get("completedSteps") == 2 for event in stored):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the notify steps did not finish")
    replayed = [event.seq for event in stored]
    before = multiplex.stats()
    sockets = await open_subscribers(
        live, tokens.viewer, EVENTS_QUERY, variables(running["id"], None), SUBSCRIBERS
    )
    try:
        for ws in sockets:
            seqs = []
            while len(seqs) < len(replayed):
                data = (await next_data(ws))[1]["executionEvents"]
                if data["__typename"] != "ExecutionConnected":
                    seqs.append(data["seq"])
            assert seqs == replayed
    finally:
        await close_all(sockets)

    after = multiplex.stats()
    # Each replayed event ran once for the group; an event the wait step may have added
    # since arrives live and is shared, too.
    assert len(replayed) <= after.executions - before.executions <= len(replayed) + 1
    assert after.reuses - before.reuses >= (SUBSCRIBERS - 1) * len(replayed)
    await eventually(lambda: multiplex.stats().groups == 0)
