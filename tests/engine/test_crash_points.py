"""A crash at each persistence boundary of a step leaves the same final state as no crash.

The crash is simulated in-process: an exception that no handler catches kills the runner
task at the chosen boundary, leaving the execution RUNNING; the app is then shut down and
started again on the same database, and the engine resumes the execution.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from runcast.app import create_app
from runcast.events.bus import EventBus
from runcast.models import Execution, ExecutionEvent, Notification, StepRun, Task
from runcast.settings import Settings
from tests.engine.crashes import Crash, crash_once
from tests.helpers import WS
from tests.receiver import running_receiver

pytestmark = pytest.mark.settings(
    allow_private_network=True, lease_seconds=1.0, heartbeat_seconds=0.5, poll_seconds=0.2
)


def actions(url: str) -> list[dict[str, Any]]:
    return [
        {"type": "send_notification", "config": {"message": "hello"}},
        {"type": "create_task", "config": {"title": "t"}},
        {"type": "call_api", "config": {"url": f"{url}/hook", "body": {"k": 1}}},
        {"type": "send_notification", "config": {"message": "bye"}},
    ]


async def run_once(app: Starlette, tokens, url: str) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        created = await client.post(
            f"{WS}/workflows", headers=tokens.headers(), json={"name": "w", "actions": actions(url)}
        )
        started = await client.post(
            f"{WS}/workflows/{created.json()['workflow']['id']}/execute",
            json={},
            headers=tokens.headers("editor"),
        )
        return str(started.json()["execution"]["id"])


async def settle(execution_id: str) -> Execution:
    for _ in range(400):
        execution = await Execution.get(id=execution_id)
        if execution.status not in ("PENDING", "RUNNING"):
            return execution
        await asyncio.sleep(0.025)
    raise AssertionError("execution did not finish")


async def final_state(execution_id: str) -> dict[str, Any]:
    execution = await settle(execution_id)
    steps = await StepRun.filter(execution_id=execution_id).order_by("position")
    events = await ExecutionEvent.filter(execution_id=execution_id).order_by("seq")
    return {
        "status": execution.status,
        "steps": [(s.status, s.error) for s in steps],
        "outputs": [sorted((s.output or {}).keys()) for s in steps],
        "event_seqs": [e.seq for e in events],
        "event_types": [e.type for e in events],
        "last_seq": execution.last_seq,
        "tasks": await Task.filter(execution_id=execution_id).count(),
        "notifications": await Notification.filter(execution_id=execution_id).count(),
    }


def crash_before_handler(monkeypatch: pytest.MonkeyPatch, position: int) -> None:
    crash_once(monkeypatch, lambda c: c.action_id == f"action-{position + 1}")


def crash_after_handler(monkeypatch: pytest.MonkeyPatch, position: int) -> None:
    crash_once(monkeypatch, lambda c: c.action_id == f"action-{position + 1}", after_handler=True)


def crash_after_commit(monkeypatch: pytest.MonkeyPatch, position: int) -> None:
    original = EventBus.publish_events
    fired: list[bool] = []

    async def publish(self, events):  # type: ignore[no-untyped-def]
        step_events = [e for e in events if e.type == "step"]
        if (
            step_events
            and step_events[0].data["actionId"] == f"action-{position + 1}"
            and not fired
        ):
            fired.append(True)
            raise Crash()
        await original(self, events)

    monkeypatch.setattr(EventBus, "publish_events", publish)


BOUNDARIES: dict[str, Callable[[pytest.MonkeyPatch, int], None]] = {
    "before-handler": crash_before_handler,
    "after-handler-before-commit": crash_after_handler,
    "after-commit-before-publish": crash_after_commit,
}
RESTARTED_STEP = {
    "before-handler": 0,
    "after-handler-before-commit": 0,
    # The commit that crashed had already started the next step.
    "after-commit-before-publish": 1,
}
"""Which step (after the crash position) the engine had started when it crashed."""


@pytest.mark.parametrize("position", [1, 2])
@pytest.mark.parametrize("boundary", list(BOUNDARIES))
async def test_crash_at_boundary_matches_a_clean_run(
    app, tokens, settings: Settings, monkeypatch, boundary, position
):
    async with running_receiver() as receiver:
        clean_id = await run_once(app, tokens, receiver.url)
        clean = await final_state(clean_id)
        assert clean["status"] == "COMPLETED"

        BOUNDARIES[boundary](monkeypatch, position)
        crashed_id = await run_once(app, tokens, receiver.url)
        for _ in range(400):
            claimed = (await Execution.get(id=crashed_id)).status == "RUNNING"
            if claimed and not app.state.engine.running_count:
                break
            await asyncio.sleep(0.025)
        assert (await Execution.get(id=crashed_id)).status == "RUNNING"
        monkeypatch.undo()
        await app.state.engine.stop()

        restarted = create_app(settings)
        async with restarted.router.lifespan_context(restarted):
            resumed = await final_state(crashed_id)
            attempts = await StepRun.filter(execution_id=crashed_id).order_by("position")
    assert resumed == clean
    # The step in flight ran again: its attempts count both runs.
    rerun = position + RESTARTED_STEP[boundary]
    assert [s.attempts for s in attempts] == [2 if s.position == rerun else 1 for s in attempts]
    keys = {r.headers["idempotency-key"] for r in receiver.to("/hook")}
    assert keys == {f"{clean_id}:action-3", f"{crashed_id}:action-3"}
