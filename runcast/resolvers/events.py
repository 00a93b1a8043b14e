"""Events: emitted through the API, or built in when an execution ends (see docs/triggers.md).

An event `{name, data, id?}` starts every ACTIVE workflow of its workspace whose trigger
follows that name and whose filter holds on `data`. Each start is keyed by the event id
(`trigger_key("event", id)`) in the workflow's unique idempotency index, so a repeated id
starts nothing anywhere in the cluster and answers the executions its first emission
started.

When an execution ends the engine calls `ExecutionEvents.finished`, which emits
`execution.completed|failed|cancelled` with the execution's summary as data. An execution
started by such an event is one link deeper in the chain than the execution that ended;
past `MAX_CHAIN_DEPTH` links the follower is not run but stored FAILED with an error that
says so, which ends the chain (a stored failure emits no event).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from runcast.domain.callers import Caller
from runcast.domain.enums import ExecutionStatus, TriggerType
from runcast.domain.events import status_change
from runcast.engine.conditions import evaluate
from runcast.engine.scheduler import Engine
from runcast.engine.templates import lookup
from runcast.errors import ValidationError
from runcast.ids import is_client_key, new_id
from runcast.jsonsafe import json_problem, json_size
from runcast.models import Execution, Role, Workflow
from runcast.resolvers.auth import require_role
from runcast.resolvers.executions import (
    MAX_INPUT_BYTES,
    ExecuteRequest,
    TriggerStart,
    new_execution,
    start_triggered,
    trigger_key,
)
from runcast.resolvers.trigger_input import EVENT_NAME
from runcast.store import reads
from runcast.tasks import cancel_and_wait

logger = logging.getLogger("runcast.events")

MAX_CHAIN_DEPTH = 10
"""How many executions in a row may start each other through built-in events."""
DRAIN_CANCEL_S = 5.0
"""How long shutdown waits for cancelled emissions to end."""
BUILT_IN_PREFIX = "execution."
BUILT_IN = {
    ExecutionStatus.COMPLETED: "execution.completed",
    ExecutionStatus.FAILED: "execution.failed",
    ExecutionStatus.CANCELLED: "execution.cancelled",
}
MAX_EVENT_ID = 150
EVENT_FIELDS = {"name", "data", "id"}


@dataclass(frozen=True)
class Event:
    """One event: its name, data and id (generated when the emitter gave none)."""

    name: str
    data: dict[str, Any]
    id: str
    chain_depth: int = 0
    chosen_id: bool = False
    """Whether the emitter chose the id (so it may repeat)."""


def parse_event(body: Any) -> Event:
    """Validate an emitted event; names under `execution.` are reserved for built-ins."""
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object")
    unknown = sorted(set(body) - EVENT_FIELDS)
    if unknown:
        raise ValidationError(f"{unknown[0]}: unknown field", [{"field": unknown[0]}])
    name = body.get("name")
    if not isinstance(name, str) or not EVENT_NAME.match(name):
        raise ValidationError(
            "name: an event name of 1-200 letters, digits, '_', '.', ':' or '-'",
            [{"field": "name"}],
        )
    if name.startswith(BUILT_IN_PREFIX):
        raise ValidationError(
            f"name: names starting with {BUILT_IN_PREFIX!r} are reserved for built-in events",
            [{"field": "name"}],
        )
    data = body.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationError("data: must be a JSON object", [{"field": "data"}])
    problem = json_problem(data)
    if problem is not None:
        raise ValidationError(f"data: {problem}", [{"field": "data"}])
    if json_size(data) > MAX_INPUT_BYTES:
        raise ValidationError(f"data: larger than {MAX_INPUT_BYTES} bytes", [{"field": "data"}])
    event_id = body.get("id")
    if event_id is None:
        return Event(name, data, new_id("evt"))
    if not isinstance(event_id, str) or not is_client_key(event_id, MAX_EVENT_ID):
        raise ValidationError(
            f"id: 1 to {MAX_EVENT_ID} printable ASCII characters", [{"field": "id"}]
        )
    return Event(name, data, event_id, chosen_id=True)


def matches(trigger: dict[str, Any], data: dict[str, Any]) -> bool:
    """Whether the trigger's filter (one condition or a list that must all hold) holds on
    the event's data; `field` is a dotted path into the data."""
    conditions = trigger.get("filter")
    if conditions is None:
        return True
    if isinstance(conditions, dict):
        conditions = [conditions]
    return all(
        evaluate(lookup(data, c["field"]), c["operator"], c.get("value")) for c in conditions
    )


async def _followers(workspace_id: str, event: Event) -> list[Workflow]:
    rows = await reads.event_followers(workspace_id, event.name)
    return [
        row
        for row in rows
        if row.trigger.get("type") == TriggerType.EVENT and matches(row.trigger, event.data)
    ]


async def _too_deep(workflow: Workflow, event: Event, engine: Engine) -> str:
    """Store the follower FAILED, without running it: the chain is too deep."""
    key = trigger_key("event", event.id)
    request = ExecuteRequest(event.data, {}, False, False, key)
    execution, steps = new_execution(workflow, None, request, TriggerType.EVENT)
    execution.request_fingerprint = None
    execution.chain_depth = event.chain_depth
    error = (
        f"Event chain too deep: {event.name!r} would start this workflow as link "
        f"{event.chain_depth} of a chain of executions started by each other's events; "
        f"the limit is {MAX_CHAIN_DEPTH}"
    )
    try:
        await engine.store_refused(execution, steps, error)
    except IntegrityError:
        found = await Execution.get_or_none(workflow_id=workflow.id, idempotency_key=key)
        if found is None:
            raise
        return found.id
    return execution.id


async def _start(workflow: Workflow, event: Event, caller: Caller | None, engine: Engine) -> str:
    if event.chain_depth > MAX_CHAIN_DEPTH:
        return await _too_deep(workflow, event, engine)
    start = TriggerStart(
        TriggerType.EVENT,
        event.data,
        trigger_key("event", event.id),
        caller,
        event.chain_depth,
    )
    started, _created = await start_triggered(workflow, start, engine)
    return started.execution.id


async def publish(
    workspace_id: str, event: Event, caller: Caller | None, engine: Engine
) -> list[str]:
    """Start the event's followers; answers the executions it started (or had started).

    An id the emitter chose may be a repeat: the executions stored under it are read first
    (one query), so a repeat costs no failed inserts; a concurrent first emission is still
    caught by the unique key in `start_triggered`."""
    followers = await _followers(workspace_id, event)
    if not followers:
        return []
    earlier: dict[str, str] = {}
    if event.chosen_id:
        rows = await Execution.filter(
            workflow_id__in=[w.id for w in followers],
            idempotency_key=trigger_key("event", event.id),
        ).values_list("workflow_id", "id")
        earlier = {str(workflow_id): str(execution_id) for workflow_id, execution_id in rows}
    missing = [w for w in followers if w.id not in earlier]
    started = await asyncio.gather(*(_start(w, event, caller, engine) for w in missing))
    earlier.update((w.id, execution_id) for w, execution_id in zip(missing, started, strict=True))
    return [earlier[w.id] for w in followers]


async def emit(caller: Caller, workspace: str, body: Any, engine: Engine) -> list[str]:
    """`POST /api/workspaces/:ws/events` and `emitEvent` (EDITOR)."""
    access = await require_role(caller, workspace, Role.EDITOR)
    return await publish(access.workspace.id, parse_event(body), caller, engine)


def summary(execution: Execution) -> dict[str, Any]:
    """A built-in event's data: the execution that ended, as the workspace feed shows its
    status change, with its error."""
    return {**status_change(execution), "error": execution.error}


class ExecutionEvents:
    """Emits the built-in event of each execution that ends on this node (the engine's
    `on_finished` callback); runs each emission as a named task of its own, so the engine
    never waits on followers, and owns those tasks: `drain` ends them on shutdown."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def finished(self, execution: Execution) -> None:
        name = BUILT_IN.get(ExecutionStatus(execution.status))
        if name is None or execution.is_simulation:
            return
        if self._closed:
            logger.warning("shutting down: %s of %s not emitted", name, execution.id)
            return
        event = Event(
            name,
            summary(execution),
            f"{execution.id}.{execution.status.lower()}",
            execution.chain_depth + 1,
        )
        task = asyncio.create_task(
            self._emit(execution.workspace_id, event), name=f"emit {name} {execution.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _emit(self, workspace_id: str, event: Event) -> None:
        try:
            await publish(workspace_id, event, None, self.engine)
        except Exception:
            logger.exception("emitting %s (%s) failed", event.name, event.id)

    async def drain(self, within_s: float) -> None:
        """On shutdown: let emissions under way (and those of executions ending meanwhile)
        finish for up to `within_s` seconds, then cancel the rest and take no more; an
        event not emitted by then is lost (built-in events are emitted at most once)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while self._tasks and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._tasks), timeout=remaining)
        self._closed = True
        await cancel_and_wait(set(self._tasks), DRAIN_CANCEL_S)
