"""The runner against an in-memory store: what it writes, in what order, and when it stops.

No database and no server: the engine's seam (`ExecutionStore`) is all the runner uses of
storage, so these tests see exactly the writes it asks for.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from tortoise import Tortoise

from runcast import ActionContext, ActionResult, register_action_handler
from runcast.domain.clock import utcnow
from runcast.domain.enums import ExecutionStatus, StepStatus
from runcast.engine.actions.registry import unregister_action_handler
from runcast.engine.http_guard import HttpPolicy
from runcast.engine.persistence import Recorder
from runcast.engine.runner import ExecutionRunner
from runcast.events.bus import EventBus, execution_channel, workspace_channel
from runcast.models import Execution, StepRun
from runcast.settings import Settings
from tests.engine.memory_store import MemoryExecutionStore

_ids = itertools.count(1)


class Published:
    """Stands in for broadcaster: records what the bus publishes, by channel."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    async def publish(self, channel: str, message: str) -> None:
        self.messages.append((channel, message))


class Host:
    """What a runner uses of its engine."""

    def __init__(self, store: MemoryExecutionStore) -> None:
        self.settings = Settings(retry_base_ms=1)
        self.published = Published()
        self.bus = EventBus(self.published)  # type: ignore[arg-type]
        self.recorder = Recorder(store, self.bus)
        self.http: HttpPolicy | None = None


@pytest.fixture
def store() -> MemoryExecutionStore:
    # The models' relations, without a database: rows are built in memory.
    Tortoise.init_models(["runcast.models"], "runcast")
    return MemoryExecutionStore()


@pytest.fixture
def calls() -> Iterator[list[tuple[str, int]]]:
    """Registers `flaky` (fails its first attempt) and `boom` (always fails); records the
    (action id, attempt) of each call."""
    seen: list[tuple[str, int]] = []

    async def flaky(action: dict[str, Any], context: ActionContext) -> ActionResult:
        seen.append((context.action_id, context.attempt))
        if context.attempt == 1:
            return ActionResult(False, error="first attempt fails")
        return ActionResult(True, {"attempt": context.attempt})

    async def boom(action: dict[str, Any], context: ActionContext) -> ActionResult:
        seen.append((context.action_id, context.attempt))
        return ActionResult(False, error="boom", retryable=False)

    register_action_handler("flaky", flaky)
    register_action_handler("boom", boom)
    yield seen
    unregister_action_handler("flaky")
    unregister_action_handler("boom")


async def stored_execution(
    store: MemoryExecutionStore, actions: list[dict[str, Any]], status: ExecutionStatus
) -> tuple[Execution, list[StepRun]]:
    """An execution as a request or a claim leaves it: stored with fencing token 1."""
    now = utcnow()
    execution = Execution(
        id=f"exec_{next(_ids)}",
        workspace_id="ws_1",
        workflow_id="wf_1",
        status=status,
        trigger_type="manual",
        trigger_data={"who": "ada"},
        variables={},
        actions=actions,
        triggered_by="usr_1",
        is_simulation=False,
        fencing_token=1,
        created_at=now,
        started_at=now,
    )
    steps = [
        StepRun(execution_id=execution.id, position=i, action_id=a["id"], action_type=a["type"])
        for i, a in enumerate(actions)
    ]
    await store.insert(execution, steps)
    return execution, steps


def notify(action_id: str, message: str = "hi {{ trigger.who }}") -> dict[str, Any]:
    return {"id": action_id, "type": "send_notification", "config": {"message": message}}


async def test_a_run_writes_each_step_with_its_events_and_ends_completed(
    store: MemoryExecutionStore,
) -> None:
    actions = [notify("a"), {"id": "b", "type": "wait", "config": {"durationMs": 0}}]
    execution, steps = await stored_execution(store, actions, ExecutionStatus.PENDING)
    host = Host(store)

    await ExecutionRunner(host, execution, steps, 1).run()

    row = store.executions[execution.id]
    assert row.status == ExecutionStatus.COMPLETED and row.completed_at is not None
    assert [s.status for s in store.steps[execution.id]] == [StepStatus.SUCCESS] * 2
    events = store.events[execution.id]
    assert [(e.seq, e.type) for e in events] == [
        (1, "step"),
        (2, "progress"),
        (3, "step"),
        (4, "progress"),
        (5, "complete"),
    ]
    assert events[0].data["output"]["message"] == "hi ada"
    assert row.last_seq == 5
    # The notification is stored in its step's own write.
    assert [(model, record["message"]) for model, record in store.rows] == [
        ("Notification", "hi ada")
    ]
    first_write, second_write = store.writes[0], store.writes[1]
    assert first_write.status == ExecutionStatus.RUNNING and first_write.start is not None
    assert second_write.steps[0].action_id == "a" and second_write.rows
    assert second_write.start is not None and second_write.start.step.action_id == "b"
    # What was written is what was published, in order, after the writes.
    published = host.published.messages
    on_execution = [json.loads(m) for c, m in published if c == execution_channel(execution.id)]
    assert [(m["seq"], m["type"]) for m in on_execution] == [(e.seq, e.type) for e in events]
    statuses = [json.loads(m)["status"] for c, m in published if c == workspace_channel("ws_1")]
    assert statuses == [ExecutionStatus.RUNNING, ExecutionStatus.COMPLETED]


async def test_a_failed_step_stops_the_run_and_skips_the_rest(
    store: MemoryExecutionStore, calls: list[tuple[str, int]]
) -> None:
    actions = [{"id": "a", "type": "boom"}, notify("b")]
    execution, steps = await stored_execution(store, actions, ExecutionStatus.RUNNING)

    await ExecutionRunner(Host(store), execution, steps, 1).run()

    row = store.executions[execution.id]
    assert (row.status, row.error_code) == (ExecutionStatus.FAILED, "EXECUTION_FAILED")
    assert row.error == "Action a failed: boom"
    assert [s.status for s in store.steps[execution.id]] == [StepStatus.FAILED, StepStatus.SKIPPED]
    assert [e.type for e in store.events[execution.id]][-2:] == ["error", "complete"]
    assert store.rows == []
    assert calls == [("a", 1)]


async def test_retries_store_each_attempt_before_it_runs(
    store: MemoryExecutionStore, calls: list[tuple[str, int]]
) -> None:
    actions = [{"id": "a", "type": "flaky", "onError": "retry"}]
    execution, steps = await stored_execution(store, actions, ExecutionStatus.RUNNING)

    await ExecutionRunner(Host(store), execution, steps, 1).run()

    assert calls == [("a", 1), ("a", 2)]
    (step,) = store.steps[execution.id]
    assert (step.status, step.attempts) == (StepStatus.SUCCESS, 2)
    assert step.output == {"attempt": 2, "attempts": 2, "attemptErrors": ["first attempt fails"]}


async def test_a_runner_that_lost_its_lease_writes_nothing_more(
    store: MemoryExecutionStore,
) -> None:
    actions = [notify("a"), notify("b")]
    execution, steps = await stored_execution(store, actions, ExecutionStatus.RUNNING)
    store.executions[execution.id].fencing_token = 2  # another node claimed it

    await ExecutionRunner(Host(store), execution, steps, 1).run()

    assert store.events[execution.id] == []
    assert store.rows == []
    assert store.executions[execution.id].status == ExecutionStatus.RUNNING
    # In memory, the step says what the store says: not finished.
    assert steps[0].status == StepStatus.RUNNING


async def test_a_failed_write_leaves_the_steps_in_memory_as_stored(
    store: MemoryExecutionStore,
) -> None:
    execution, steps = await stored_execution(store, [notify("a")], ExecutionStatus.RUNNING)
    store.step_write_failure = OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        await ExecutionRunner(Host(store), execution, steps, 1).run()

    assert store.writes[-1].steps == [steps[0]]  # the step's result was attempted
    assert (steps[0].status, steps[0].output, steps[0].completed_at) == (
        StepStatus.RUNNING,
        None,
        None,
    )
    assert store.events[execution.id] == []


async def test_a_cancel_requested_before_start_cancels_without_running(
    store: MemoryExecutionStore, calls: list[tuple[str, int]]
) -> None:
    actions = [{"id": "a", "type": "boom"}, notify("b")]
    execution, steps = await stored_execution(store, actions, ExecutionStatus.RUNNING)
    execution.cancel_requested = True

    await ExecutionRunner(Host(store), execution, steps, 1).run()

    assert calls == []
    row = store.executions[execution.id]
    assert (row.status, row.error) == (ExecutionStatus.CANCELLED, "Cancelled by user")
    assert [s.status for s in store.steps[execution.id]] == [StepStatus.SKIPPED] * 2
    assert [e.type for e in store.events[execution.id]][-1] == "complete"
