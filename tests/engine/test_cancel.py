"""Cancelling executions: running waits and HTTP calls stop at once; finished ones are 409."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from runcast.models import Execution
from tests.helpers import WS, create_workflow, graphql
from tests.receiver import running_receiver

pytestmark = pytest.mark.settings(allow_private_network=True)


async def start(client, tokens, *actions: dict[str, Any]) -> str:
    workflow = await create_workflow(client, tokens.headers(), *actions)
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute", json={}, headers=tokens.headers("editor")
    )
    assert response.status_code == 201
    assert response.json()["execution"]["status"] in ("PENDING", "RUNNING")
    return response.json()["execution"]["id"]


async def until_step_running(client, tokens, execution_id: str, index: int) -> None:
    for _ in range(500):
        body = (
            await client.get(
                f"{WS}/workflows/executions/{execution_id}", headers=tokens.headers("viewer")
            )
        ).json()
        if body["execution"]["steps"][index]["status"] == "running":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("step never started")


NOTE = {"type": "send_notification", "config": {"message": "m"}}


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_cancel_a_long_wait_at_once(client, tokens, method):
    execution_id = await start(
        client, tokens, NOTE, {"type": "wait", "config": {"durationMs": 30_000}}, NOTE
    )
    await until_step_running(client, tokens, execution_id, 1)
    started = time.monotonic()
    response = await client.request(
        method, f"{WS}/workflows/executions/{execution_id}", headers=tokens.headers("editor")
    )
    elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Execution cancelled successfully"
    assert body["execution"]["id"] == execution_id
    assert body["execution"]["status"] == "CANCELLED"
    assert body["execution"]["error"] == "Cancelled by user"
    assert body["execution"]["completedAt"].endswith("Z")
    status = (
        await client.get(
            f"{WS}/workflows/executions/{execution_id}", headers=tokens.headers("viewer")
        )
    ).json()
    assert [s["status"] for s in status["execution"]["steps"]] == [
        "success",
        "cancelled",
        "skipped",
    ]
    assert status["timing"]["isRunning"] is False
    assert status["progress"]["percentage"] == 100


async def test_cancel_a_call_that_never_answers(client, tokens):
    async with running_receiver() as receiver:
        execution_id = await start(
            client, tokens, {"type": "call_api", "config": {"url": f"{receiver.url}/hang"}}
        )
        await until_step_running(client, tokens, execution_id, 0)
        while not receiver.to("/hang"):  # noqa: ASYNC110 - polling what the server saw
            await asyncio.sleep(0.01)
        started = time.monotonic()
        result = await graphql(
            client,
            """mutation($id: ID!) { cancelExecution(workspaceSlug: "acme", executionId: $id)
                 { success message execution { id status error completedAt } } }""",
            tokens.headers("editor"),
            id=execution_id,
        )
        assert time.monotonic() - started < 1.0
    data = result["data"]["cancelExecution"]
    assert data["success"] is True
    assert data["execution"]["status"] == "CANCELLED"
    stored = await Execution.get(id=execution_id)
    assert stored.status == "CANCELLED"


async def test_concurrent_cancels_are_harmless(client, tokens):
    execution_id = await start(client, tokens, {"type": "wait", "config": {"durationMs": 30_000}})
    await until_step_running(client, tokens, execution_id, 0)
    url = f"{WS}/workflows/executions/{execution_id}"
    responses = await asyncio.gather(
        *(client.post(url, headers=tokens.headers("editor")) for _ in range(5))
    )
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {200, 409}
    assert codes[0] == 200
    for response in responses:
        if response.status_code == 200:
            assert response.json()["execution"]["status"] == "CANCELLED"
        else:
            assert response.json()["error"]["code"] == "EXECUTION_NOT_RUNNING"
    status = (await client.get(url, headers=tokens.headers())).json()
    assert status["execution"]["status"] == "CANCELLED"
    assert [s["status"] for s in status["execution"]["steps"]] == ["cancelled"]


async def test_cancelling_a_finished_execution_is_409(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), NOTE)
    done = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute",
        json={"wait": True},
        headers=tokens.headers("editor"),
    )
    execution_id = done.json()["execution"]["id"]
    response = await client.delete(
        f"{WS}/workflows/executions/{execution_id}", headers=tokens.headers("editor")
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "EXECUTION_NOT_RUNNING"
    assert (await Execution.get(id=execution_id)).status == "COMPLETED"


@pytest.mark.settings(max_concurrent_executions=1)
async def test_cancelling_a_pending_execution_runs_nothing(client, tokens):
    blocker = await start(client, tokens, {"type": "wait", "config": {"durationMs": 30_000}})
    await until_step_running(client, tokens, blocker, 0)
    workflow = await create_workflow(client, tokens.headers(), NOTE)
    queued = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute", json={}, headers=tokens.headers("editor")
    )
    queued_id = queued.json()["execution"]["id"]
    assert queued.json()["execution"]["status"] == "PENDING"
    response = await client.post(
        f"{WS}/workflows/executions/{queued_id}", headers=tokens.headers("editor")
    )
    assert response.json()["execution"]["status"] == "CANCELLED"
    status = (
        await client.get(f"{WS}/workflows/executions/{queued_id}", headers=tokens.headers())
    ).json()
    assert [s["status"] for s in status["execution"]["steps"]] == ["skipped"]
    assert status["execution"]["steps"][0]["startedAt"] is None
    await client.post(f"{WS}/workflows/executions/{blocker}", headers=tokens.headers("editor"))


async def test_viewer_cannot_cancel_and_unknown_is_404(client, tokens):
    execution_id = await start(client, tokens, {"type": "wait", "config": {"durationMs": 30_000}})
    url = f"{WS}/workflows/executions/{execution_id}"
    assert (await client.post(url, headers=tokens.headers("viewer"))).status_code == 403
    other = await client.post(
        f"/api/workspaces/other/workflows/executions/{execution_id}",
        headers=tokens.headers("outsider"),
    )
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "EXECUTION_NOT_FOUND"
    missing = await client.get(f"{WS}/workflows/executions/exec_nope", headers=tokens.headers())
    assert missing.status_code == 404
    assert (await client.post(url, headers=tokens.headers("editor"))).status_code == 200


async def test_head_reads_the_status_and_never_cancels(client, tokens):
    execution_id = await start(
        client, tokens, NOTE, {"type": "wait", "config": {"durationMs": 30_000}}, NOTE
    )
    await until_step_running(client, tokens, execution_id, 1)
    path = f"{WS}/workflows/executions/{execution_id}"
    head = await client.head(path, headers=tokens.headers("owner"))
    assert head.status_code == 200
    status = (await client.get(path, headers=tokens.headers("viewer"))).json()
    assert status["execution"]["status"] == "RUNNING"
    assert status["execution"]["steps"][1]["status"] == "running"
    assert (await client.post(path, headers=tokens.headers("editor"))).status_code == 200
