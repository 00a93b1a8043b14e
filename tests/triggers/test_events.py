"""Events over real HTTP (uvicorn): fan-out to every matching workflow exactly once, dedupe
by event id, filters, GraphQL emitEvent, built-in execution events and the chain limit."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest

from runcast.domain.clock import utcnow
from runcast.models import Execution
from runcast.resolvers import events
from runcast.resolvers.events import MAX_CHAIN_DEPTH, ExecutionEvents
from tests.helpers import WS
from tests.triggers.helpers import make_workflow

EVENTS = int(os.environ.get("RUNCAST_TEST_EVENTS", "1000"))
"""Events emitted concurrently in the fan-out test (issue 13: 1,000 to 3 workflows)."""
SENDERS = 50
"""Requests in flight at once while emitting them."""


def order_trigger(**filter_: Any) -> dict[str, Any]:
    trigger: dict[str, Any] = {"type": "event", "event": "order.created"}
    if filter_:
        trigger["filter"] = filter_
    return trigger


async def _settled(predicate, timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def _emit_all(live: str, editor: dict[str, str]) -> list[httpx.Response]:
    """Emit events 0..EVENTS-1 from SENDERS concurrent senders, over a pool of fresh
    connections (a pooled one left idle past the server's keep-alive could be closed under
    a request). Each sender sends its share one after another: httpx's pool looks through
    every waiting request each time a connection frees, so a thousand requests queued in it
    at once cost the test more than the server."""
    limits = httpx.Limits(max_connections=SENDERS)
    responses: dict[int, httpx.Response] = {}
    async with httpx.AsyncClient(base_url=live, limits=limits, timeout=60) as client:

        async def sender(first: int) -> None:
            for i in range(first, EVENTS, SENDERS):
                body = {"name": "order.created", "id": f"order-{i}", "data": {"n": i, "total": 20}}
                responses[i] = await client.post(f"{WS}/events", json=body, headers=editor)

        await asyncio.gather(*(sender(first) for first in range(SENDERS)))
    return [responses[i] for i in range(EVENTS)]


async def test_concurrent_events_start_each_matching_workflow_once(live, tokens):
    headers, editor = tokens.headers(), tokens.headers("editor")
    async with httpx.AsyncClient(base_url=live) as client:
        matching = [
            await make_workflow(client, headers, order_trigger()),
            await make_workflow(client, headers, order_trigger(field="n", operator="exists")),
            await make_workflow(
                client, headers, order_trigger(field="total", operator="greater_than", value=10)
            ),
        ]
        await make_workflow(
            client, headers, order_trigger(field="total", operator="less_than", value=10)
        )
        await make_workflow(client, headers, {"type": "event", "event": "order.paid"})
        await make_workflow(client, headers, order_trigger(), status="INACTIVE")

    first = await _emit_all(live, editor)
    assert {r.status_code for r in first} == {202}
    started = [r.json()["executionIds"] for r in first]
    assert all(len(ids) == 3 for ids in started)
    assert len({i for ids in started for i in ids}) == 3 * EVENTS
    assert await Execution.all().count() == 3 * EVENTS

    again = await _emit_all(live, editor)
    assert [r.json()["executionIds"] for r in again] == started
    assert await Execution.all().count() == 3 * EVENTS
    for workflow in matching:
        count = await Execution.filter(workflow_id=workflow["id"], trigger_type="event").count()
        assert count == EVENTS


async def test_event_data_is_the_trigger_data_and_graphql_emits(live, tokens):
    headers = tokens.headers()
    async with httpx.AsyncClient(base_url=live) as client:
        workflow = await make_workflow(client, headers, order_trigger())
        mutation = (
            'mutation($input: EmitEventInput!) { emitEvent(workspaceSlug: "acme", input: $input)'
            " { executionIds } }"
        )
        variables = {"input": {"name": "order.created", "data": {"n": 7}, "id": "g-1"}}
        answer = await client.post(
            "/graphql",
            json={"query": mutation, "variables": variables},
            headers=tokens.headers("editor"),
        )
        ids = answer.json()["data"]["emitEvent"]["executionIds"]
        assert len(ids) == 1
        repeat = await client.post(
            "/graphql",
            json={"query": mutation, "variables": variables},
            headers=tokens.headers("editor"),
        )
        assert repeat.json()["data"]["emitEvent"]["executionIds"] == ids
        execution = await Execution.get(id=ids[0])
        assert execution.workflow_id == workflow["id"]
        assert execution.trigger_type == "event"
        assert execution.trigger_data == {"n": 7}
        nobody = await client.post(
            f"{WS}/events", json={"name": "nobody.listens"}, headers=tokens.headers("editor")
        )
        assert nobody.status_code == 202
        assert nobody.json() == {"executionIds": []}


async def test_bad_events_are_refused(live, tokens):
    async with httpx.AsyncClient(base_url=live) as client:
        await make_workflow(client, tokens.headers(), order_trigger())
        editor = tokens.headers("editor")
        for body, field in (
            ({"data": {}}, "name"),
            ({"name": "a b"}, "name"),
            ({"name": "execution.completed", "data": {}}, "name"),
            ({"name": "order.created", "data": [1]}, "data"),
            ({"name": "order.created", "id": 5}, "id"),
            ({"name": "order.created", "id": "x" * 151}, "id"),
            ({"name": "order.created", "extra": 1}, "extra"),
        ):
            response = await client.post(f"{WS}/events", json=body, headers=editor)
            assert response.status_code == 400, body
            assert response.json()["error"]["code"] == "VALIDATION_ERROR"
            assert response.json()["error"]["message"].startswith(field)
        viewer = await client.post(
            f"{WS}/events", json={"name": "order.created"}, headers=tokens.headers("viewer")
        )
        assert viewer.status_code == 403
        anonymous = await client.post(f"{WS}/events", json={"name": "order.created"})
        assert anonymous.status_code == 401
        outsider = await client.post(
            f"{WS}/events", json={"name": "order.created"}, headers=tokens.headers("outsider")
        )
        assert outsider.status_code == 403
    assert await Execution.all().count() == 0


async def test_one_workflow_follows_another(live, tokens):
    headers = tokens.headers()
    async with httpx.AsyncClient(base_url=live) as client:
        first = await make_workflow(client, headers, {"type": "manual"})
        follower = await make_workflow(
            client,
            headers,
            {
                "type": "event",
                "event": "execution.completed",
                "filter": {"field": "workflowId", "operator": "equals", "value": first["id"]},
            },
        )
        on_failure = await make_workflow(
            client, headers, {"type": "event", "event": "execution.failed"}
        )
        run = await client.post(
            f"{WS}/workflows/{first['id']}/execute",
            json={"triggerData": {"n": 1}, "wait": True},
            headers=headers,
        )
        first_id = run.json()["execution"]["id"]

        async def followed() -> bool:
            return await Execution.filter(workflow_id=follower["id"], status="COMPLETED").exists()

        await _settled(followed)
        (execution,) = await Execution.filter(workflow_id=follower["id"])
        assert execution.trigger_type == "event"
        ended = run.json()["execution"]
        assert execution.trigger_data == {
            "executionId": first_id,
            "workflowId": first["id"],
            "status": "COMPLETED",
            "startedAt": ended["startedAt"],
            "completedAt": ended["completedAt"],
            "durationMs": ended["durationMs"],
            "isSimulation": False,
            "triggerType": "manual",
            "error": None,
        }
        assert execution.chain_depth == 1
        await asyncio.sleep(0.5)  # the follower's own end matches no one: nothing more starts
        assert await Execution.filter(workflow_id=follower["id"]).count() == 1
        assert await Execution.filter(workflow_id=on_failure["id"]).count() == 0


async def test_a_workflow_following_itself_stops_at_the_depth_limit(live, tokens):
    headers = tokens.headers()
    async with httpx.AsyncClient(base_url=live) as client:
        loop = await make_workflow(
            client, headers, {"type": "event", "event": "execution.completed"}
        )
        run = await client.post(
            f"{WS}/workflows/{loop['id']}/execute", json={"triggerData": {"n": 0}}, headers=headers
        )
        assert run.status_code == 201

        async def stopped() -> bool:
            return await Execution.filter(workflow_id=loop["id"], status="FAILED").exists()

        await _settled(stopped)
        await asyncio.sleep(0.5)
        executions = await Execution.filter(workflow_id=loop["id"]).order_by("chain_depth")
        assert [e.chain_depth for e in executions] == list(range(MAX_CHAIN_DEPTH + 2))
        assert [e.status for e in executions[:-1]] == ["COMPLETED"] * (MAX_CHAIN_DEPTH + 1)
        last = executions[-1]
        assert last.status == "FAILED"
        assert last.error is not None and "Event chain too deep" in last.error
        state = await client.get(f"{WS}/workflows/executions/{last.id}", headers=headers)
        shown = state.json()["execution"]
        assert shown["status"] == "FAILED"
        assert "limit is 10" in shown["error"]
        assert {s["status"] for s in shown["steps"]} == {"skipped"}


def _ended(execution_id: str) -> Execution:
    return Execution(
        id=execution_id,
        workspace_id="ws_x",
        workflow_id="wf_x",
        status="COMPLETED",
        trigger_type="manual",
        is_simulation=False,
        chain_depth=0,
        started_at=utcnow(),
        completed_at=utcnow(),
        duration_ms=1,
    )


async def test_shutdown_cancels_emissions_still_under_way(app, monkeypatch: pytest.MonkeyPatch):
    """Emissions are named tasks the app owns: on shutdown, those that do not end within
    the drain are cancelled, and an execution that ends after it emits nothing."""
    entered = asyncio.Event()

    async def stuck(*_: Any) -> list[str]:
        entered.set()
        await asyncio.Event().wait()
        return []

    monkeypatch.setattr(events, "publish", stuck)
    emitter = ExecutionEvents(app.state.engine)
    emitter.finished(_ended("exec_stuck"))
    (task,) = [
        t for t in asyncio.all_tasks() if t.get_name() == "emit execution.completed exec_stuck"
    ]
    await entered.wait()
    await emitter.drain(0.2)
    assert task.cancelled()
    emitter.finished(_ended("exec_late"))
    assert not [t for t in asyncio.all_tasks() if "exec_late" in t.get_name()]


async def test_an_execution_submitted_while_the_engine_stops_only_queues(app, client, tokens):
    """Once shutdown has stopped the engine, a start (a request, a follower) is stored
    PENDING for another node (or the next start) to claim; nothing runs on this node."""
    workflow = await make_workflow(client, tokens.headers(), {"type": "manual"})
    await app.state.engine.stop()
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute",
        json={"triggerData": {"n": 1}},
        headers=tokens.headers("editor"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["execution"]["status"] == "PENDING"
    await asyncio.sleep(0.5)
    stored = await Execution.get(id=response.json()["execution"]["id"])
    assert stored.status == "PENDING"
    assert stored.lease_owner is None
    assert app.state.engine.running_count == 0
