"""`attempts` counts every run of a step: re-runs after a crash and retries before it.

A crash is simulated as in test_crash_points: an exception nothing in the engine catches
kills the runner task, the app is shut down and a new one resumes on the same database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

import runcast
from runcast.app import create_app
from runcast.engine.actions.registry import unregister_action_handler
from runcast.models import Execution
from runcast.settings import Settings
from tests.engine.crashes import crash_once
from tests.helpers import WS, create_workflow

pytestmark = pytest.mark.settings(lease_seconds=1.0, heartbeat_seconds=0.5, poll_seconds=0.2)

NOTE = {"type": "send_notification", "config": {"message": "m"}}
calls: list[int] = []


async def flaky(action: dict[str, Any], context: runcast.ActionContext) -> runcast.ActionResult:
    """Fails its first two calls, then succeeds; records the attempt number it was given."""
    calls.append(context.attempt)
    if len(calls) <= 2:
        return runcast.ActionResult(False, error=f"flaky {len(calls)}")
    return runcast.ActionResult(True, {"calls": len(calls)})


@pytest.fixture
def flaky_handler() -> Iterator[None]:
    calls.clear()
    runcast.register_action_handler("flaky", flaky)
    yield
    unregister_action_handler("flaky")


def crash_on_attempt(monkeypatch: pytest.MonkeyPatch, action_id: str, attempt: int) -> None:
    """Crash, once, when step `action_id` is about to run its attempt number `attempt`."""
    crash_once(monkeypatch, lambda c: (c.action_id, c.attempt) == (action_id, attempt))


@asynccontextmanager
async def crash_then_resume(
    app: Starlette,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    client: httpx.AsyncClient,
    tokens: Any,
    workflow_id: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """Start an execution that crashes, restart the app; yield a client of the new app."""
    started = await client.post(
        f"{WS}/workflows/{workflow_id}/execute", json={}, headers=tokens.headers("editor")
    )
    execution_id = started.json()["execution"]["id"]
    for _ in range(400):
        claimed = (await Execution.get(id=execution_id)).status == "RUNNING"
        if claimed and not app.state.engine.running_count:
            break
        await asyncio.sleep(0.025)
    assert (await Execution.get(id=execution_id)).status == "RUNNING"
    monkeypatch.undo()
    await app.state.engine.stop()
    restarted = create_app(settings)
    async with restarted.router.lifespan_context(restarted):
        transport = httpx.ASGITransport(app=restarted)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as resumed:
            yield resumed, execution_id


async def finished(client: httpx.AsyncClient, tokens: Any, execution_id: str) -> dict[str, Any]:
    for _ in range(400):
        response = await client.get(
            f"{WS}/workflows/executions/{execution_id}", headers=tokens.headers("viewer")
        )
        execution = response.json()["execution"]
        if execution["status"] not in ("PENDING", "RUNNING"):
            return execution
        await asyncio.sleep(0.025)
    raise AssertionError("execution did not finish")


async def test_a_step_run_again_after_a_crash_reports_two_attempts(
    app, client, tokens, settings, monkeypatch
):
    workflow = await create_workflow(client, tokens.headers(), NOTE, NOTE, NOTE)
    crash_on_attempt(monkeypatch, "action-2", 1)
    resumed = crash_then_resume(app, settings, monkeypatch, client, tokens, workflow["id"])
    async with resumed as (new_client, execution_id):
        execution = await finished(new_client, tokens, execution_id)
    assert execution["status"] == "COMPLETED"
    assert [s["status"] for s in execution["steps"]] == ["success"] * 3
    assert [s["attempts"] for s in execution["steps"]] == [1, 2, 1]


async def test_retries_before_a_crash_count_too(
    app, client, tokens, settings, monkeypatch, flaky_handler
):
    workflow = await create_workflow(
        client, tokens.headers(), {"type": "flaky", "config": {}, "onError": "retry"}, NOTE
    )
    # Attempts 1 and 2 fail; the process dies as attempt 3 begins; after the restart the
    # step runs once more (its fourth attempt) and succeeds.
    crash_on_attempt(monkeypatch, "action-1", 3)
    resumed = crash_then_resume(app, settings, monkeypatch, client, tokens, workflow["id"])
    async with resumed as (new_client, execution_id):
        execution = await finished(new_client, tokens, execution_id)
    step = execution["steps"][0]
    assert execution["status"] == "COMPLETED"
    assert calls == [1, 2, 4]
    assert step["attempts"] == 4
    assert step["output"]["attempts"] == 4
    assert step["output"]["attemptErrors"] == []


async def test_a_cancelled_step_in_flight_counts_its_attempt(client, tokens):
    workflow = await create_workflow(
        client, tokens.headers(), NOTE, {"type": "wait", "config": {"durationMs": 30_000}}, NOTE
    )
    started = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute", json={}, headers=tokens.headers("editor")
    )
    url = f"{WS}/workflows/executions/{started.json()['execution']['id']}"
    for _ in range(200):
        steps = (await client.get(url, headers=tokens.headers())).json()["execution"]["steps"]
        if steps[1]["status"] == "running":
            break
        await asyncio.sleep(0.02)
    assert steps[1]["attempts"] == 1
    assert (await client.delete(url, headers=tokens.headers("editor"))).status_code == 200
    execution = (await client.get(url, headers=tokens.headers())).json()["execution"]
    assert [s["status"] for s in execution["steps"]] == ["success", "cancelled", "skipped"]
    assert [s["attempts"] for s in execution["steps"]] == [1, 1, 0]
