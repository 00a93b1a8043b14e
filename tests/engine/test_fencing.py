"""Only the lease holder writes: a node whose execution was claimed by another stops it."""

from __future__ import annotations

import asyncio

from tortoise.expressions import F

from runcast.models import Execution, ExecutionEvent, StepRun
from tests.helpers import WS, create_workflow


async def test_a_runner_that_lost_its_lease_writes_nothing_more(client, tokens, app):
    workflow = await create_workflow(
        client,
        tokens.headers(),
        {"type": "wait", "config": {"durationMs": 300}},
        {"type": "send_notification", "config": {"message": "late"}},
    )
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute", json={}, headers=tokens.headers("editor")
    )
    execution_id = response.json()["execution"]["id"]
    for _ in range(200):
        if await StepRun.filter(execution_id=execution_id, status="running").exists():
            break
        await asyncio.sleep(0.01)
    # Another node claims the execution (as after a lease expiry): a new fencing token.
    await Execution.filter(id=execution_id).update(
        lease_owner="node_other", fencing_token=F("fencing_token") + 1
    )
    for _ in range(200):
        if not app.state.engine.running_count:
            break
        await asyncio.sleep(0.01)
    assert app.state.engine.running_count == 0
    execution = await Execution.get(id=execution_id)
    assert (execution.status, execution.lease_owner, execution.last_seq) == (
        "RUNNING",
        "node_other",
        0,
    )
    steps = await StepRun.filter(execution_id=execution_id).order_by("position")
    assert [s.status for s in steps] == ["running", "pending"]
    assert await ExecutionEvent.filter(execution_id=execution_id).count() == 0
