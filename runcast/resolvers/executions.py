"""Executions: start (with idempotency and optional wait), read status, cancel.

Every answer shows one instant: an execution just stored is answered from copies taken
as it was stored, before it ran (see `Engine.submit`), and one read back from the database
is read with its steps so that status, steps and progress agree (see
`load_steps_with_state`).
"""

from __future__ import annotations

import hashlib
import json
from copy import copy
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from runcast.domain import records
from runcast.domain.callers import Caller
from runcast.domain.clock import utcnow
from runcast.domain.enums import (
    FINAL_EXECUTION_STATUSES,
    ExecutionStatus,
    TriggerType,
    WorkflowStatus,
)
from runcast.engine.flow_control import concurrency_slot
from runcast.engine.scheduler import Engine
from runcast.errors import (
    ExecutionNotFound,
    ExecutionNotRunning,
    IdempotencyKeyReused,
    ValidationError,
    WorkflowInactive,
)
from runcast.ids import is_client_key, is_wellformed_id, new_id
from runcast.jsonsafe import json_problem, json_size
from runcast.models import Execution, Role, StepRun, Workflow
from runcast.resolvers import records as to_record
from runcast.resolvers.auth import Access, require_role
from runcast.resolvers.workflows import get_workflow_in
from runcast.store import reads, statements

WAIT_LIMIT_S = 30.0
MAX_INPUT_BYTES = 256 * 1024
MAX_IDEMPOTENCY_KEY = 200
EXECUTE_FIELDS = {"triggerData", "variables", "dryRun", "wait"}


@dataclass(frozen=True)
class ExecuteRequest:
    trigger_data: dict[str, Any]
    variables: dict[str, Any]
    dry_run: bool
    wait: bool
    idempotency_key: str | None

    def fingerprint(self) -> str:
        """SHA-256 of what the request asks to run: canonical JSON of its trigger data,
        variables and dry-run flag. `wait` only changes how the answer is delivered, so
        it is left out."""
        asked = {"triggerData": self.trigger_data, "variables": self.variables}
        canonical = json.dumps(
            {**asked, "dryRun": self.dry_run}, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def parse_execute(body: Any, idempotency_key: str | None) -> ExecuteRequest:
    """Validate an execute request body (`{}` when the client sent none)."""
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object")
    unknown = sorted(set(body) - EXECUTE_FIELDS)
    if unknown:
        raise ValidationError(f"{unknown[0]}: unknown field", [{"field": unknown[0]}])
    values: dict[str, Any] = {}
    for name in ("triggerData", "variables"):
        value = body.get(name)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ValidationError(f"{name}: must be a JSON object", [{"field": name}])
        problem = json_problem(value)
        if problem is not None:
            raise ValidationError(f"{name}: {problem}", [{"field": name}])
        if json_size(value) > MAX_INPUT_BYTES:
            raise ValidationError(f"{name}: larger than {MAX_INPUT_BYTES} bytes", [{"field": name}])
        values[name] = value
    for name in ("dryRun", "wait"):
        if body.get(name) is not None and not isinstance(body[name], bool):
            raise ValidationError(f"{name}: must be true or false", [{"field": name}])
    if idempotency_key is not None and not is_client_key(idempotency_key, MAX_IDEMPOTENCY_KEY):
        raise ValidationError(
            f"Idempotency-Key: 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
        )
    return ExecuteRequest(
        values["triggerData"],
        values["variables"],
        bool(body.get("dryRun")),
        bool(body.get("wait")),
        idempotency_key,
    )


async def get_execution_in(access: Access, execution_id: str) -> Execution:
    execution = None
    if is_wellformed_id(execution_id):
        execution = await statements.get_in_workspace(Execution, execution_id, access.workspace.id)
    if execution is None:
        raise ExecutionNotFound(f"Execution {execution_id!r} not found")
    return execution


async def load_steps_with_state(execution: Execution) -> list[StepRun]:
    """The execution's steps, read with its state (see `reads.steps_with_state`)."""
    return (await reads.steps_with_state([execution]))[execution.id]


def new_execution(
    workflow: Workflow,
    caller: Caller | None,
    request: ExecuteRequest,
    trigger_type: TriggerType = TriggerType.MANUAL,
) -> tuple[Execution, list[StepRun]]:
    """The execution a request asks for (PENDING, with a snapshot of the workflow's actions)
    and its steps, not yet stored: `Engine.submit` stores and starts them. Built with the
    ORM's `construct` (the fields' defaults, without `__init__`'s checks, which cost twice
    as much): every value here is the engine's own, already checked."""
    now = utcnow()
    limit, key = concurrency_slot(workflow.concurrency, request.trigger_data, request.variables)
    execution = Execution.construct(
        id=new_id("exec"),
        workspace_id=workflow.workspace_id,
        workflow_id=workflow.id,
        status=ExecutionStatus.PENDING,
        trigger_type=trigger_type,
        trigger_data=request.trigger_data,
        variables=request.variables,
        actions=workflow.actions,
        timeout_ms=workflow.timeout_ms,
        triggered_by=None if caller is None else caller.user_id,
        is_simulation=request.dry_run,
        idempotency_key=request.idempotency_key,
        request_fingerprint=None if request.idempotency_key is None else request.fingerprint(),
        concurrency_limit=limit,
        concurrency_key=key,
        created_at=now,
        started_at=now,
    )
    steps = [
        StepRun.construct(
            execution_id=execution.id, position=i, action_id=a["id"], action_type=a["type"]
        )
        for i, a in enumerate(workflow.actions)
    ]
    return execution, steps


@dataclass(frozen=True)
class Started:
    """An execution as execute answers it: the execution and its steps as they stood at
    one instant, never the objects the engine is changing."""

    execution: Execution
    steps: list[StepRun]


def _snapshot(execution: Execution, steps: list[StepRun]) -> Started:
    return Started(copy(execution), [copy(step) for step in steps])


async def _read_back(execution: Execution) -> Started:
    steps = await load_steps_with_state(execution)
    return Started(execution, steps)


async def _store_and_start(
    workflow: Workflow, caller: Caller, request: ExecuteRequest, engine: Engine
) -> Started:
    """Hand the engine the execution the request asks for; answers with it as stored."""
    execution, steps = new_execution(workflow, caller, request)
    return Started(*await engine.submit(execution, steps))


def _same_request(execution: Execution, request: ExecuteRequest) -> Execution:
    """The execution stored under the request's key, if the key came with the same request
    then; executions stored without a fingerprint match any request."""
    stored = execution.request_fingerprint
    if stored is not None and stored != request.fingerprint():
        raise IdempotencyKeyReused(
            "This idempotency key was already used with a different request "
            f"(execution {execution.id!r})"
        )
    return execution


async def _previous(workflow: Workflow, request: ExecuteRequest) -> Execution | None:
    if request.idempotency_key is None:
        return None
    found = await Execution.get_or_none(
        workflow_id=workflow.id, idempotency_key=request.idempotency_key
    )
    return None if found is None else _same_request(found, request)


async def execute(
    caller: Caller, workspace: str, workflow_id: str, request: ExecuteRequest, engine: Engine
) -> Started:
    """Start a run of the workflow (or return the one started with the same key and the
    same request; the same key with another request is 409 IDEMPOTENCY_KEY_REUSED)."""
    access = await require_role(caller, workspace, Role.EDITOR)
    workflow = await get_workflow_in(access, workflow_id)
    if workflow.status != WorkflowStatus.ACTIVE:
        raise WorkflowInactive(f"Workflow {workflow.id!r} is not active")
    execution = await _previous(workflow, request)
    if execution is None:
        try:
            started = await _store_and_start(workflow, caller, request, engine)
        except IntegrityError:  # a concurrent request with the same key stored it first
            execution = await _previous(workflow, request)
            if execution is None:
                raise
        else:
            if not request.wait:
                return started
            execution = started.execution
    if not request.wait:
        return await _read_back(execution)
    finished = await engine.wait_finished(execution.id, WAIT_LIMIT_S)
    if finished is not None:
        return _snapshot(finished.execution, finished.steps)
    return await _read_back(await Execution.get(id=execution.id))


TRIGGER_KEY_MARK = "\u00a7"
"""The first character of an idempotency key a trigger sets (`§webhook:…`, `§event:…`):
manual Idempotency-Keys are printable ASCII only, so the two never collide."""


def trigger_key(namespace: str, key: str) -> str:
    """The idempotency key a trigger of kind `namespace` stores for its own `key`."""
    return f"{TRIGGER_KEY_MARK}{namespace}:{key}"


@dataclass(frozen=True)
class TriggerStart:
    """What a trigger asks to start: its type and data, the key that dedupes it (made with
    `trigger_key`), the user it acts for, and the built-in event chain depth."""

    trigger_type: TriggerType
    trigger_data: dict[str, Any]
    idempotency_key: str | None = None
    triggered_by: Caller | None = None
    chain_depth: int = 0


def triggered_execution(workflow: Workflow, start: TriggerStart) -> tuple[Execution, list[StepRun]]:
    """The execution a trigger starts (not yet stored): a trigger key dedupes on the key
    alone, so it carries no request fingerprint."""
    request = ExecuteRequest(start.trigger_data, {}, False, False, None)
    execution, steps = new_execution(workflow, start.triggered_by, request, start.trigger_type)
    execution.idempotency_key = start.idempotency_key
    execution.chain_depth = start.chain_depth
    return execution, steps


async def start_triggered(
    workflow: Workflow, start: TriggerStart, engine: Engine
) -> tuple[Started, bool]:
    """Start an execution of `workflow` for a trigger (webhook, schedule, event) through the
    same path as a manual execute; the caller has checked the workflow is ACTIVE. With an
    idempotency key already stored it starts nothing and answers that execution: the flag
    says whether this call started it. A trigger key dedupes on the key alone, whatever
    the data (a repeated delivery or event id is the same occurrence)."""
    execution, steps = triggered_execution(workflow, start)
    try:
        return Started(*await engine.submit(execution, steps)), True
    except IntegrityError:  # the key was stored first, by an earlier or concurrent start
        if start.idempotency_key is None:
            raise
        found = await Execution.get_or_none(
            workflow_id=workflow.id, idempotency_key=start.idempotency_key
        )
        if found is None:
            raise
        return Started(found, []), False


async def execution_with_steps(started: Started) -> records.Execution:
    """The execution and its steps, as the seed's execute answer shows it."""
    return to_record.execution(started.execution, started.steps)


async def execution_status(caller: Caller, workspace: str, execution_id: str) -> records.Execution:
    """The execution with its steps, workflow and summary: the seed's status answer is
    its `ExecutionState`."""
    access = await require_role(caller, workspace, Role.VIEWER)
    execution = await get_execution_in(access, execution_id)
    return await status_view(execution)


async def status_view(execution: Execution) -> records.Execution:
    """The execution as the status answer shows it, read back consistently (see
    `load_steps_with_state`)."""
    steps = await load_steps_with_state(execution)
    workflow = await reads.workflow_by_id(execution.workflow_id)
    brief = to_record.workflow_brief(workflow)
    return to_record.execution(execution, steps, workflow=brief, with_summary=True)


async def cancel_execution(
    caller: Caller, workspace: str, execution_id: str, engine: Engine
) -> records.CancelResult:
    """Cancel a PENDING or RUNNING execution; a finished one is 409."""
    access = await require_role(caller, workspace, Role.EDITOR)
    execution = await get_execution_in(access, execution_id)
    if execution.status in FINAL_EXECUTION_STATUSES:
        raise ExecutionNotRunning(f"Execution {execution.id!r} is already {execution.status}")
    await engine.cancel(execution)
    await execution.refresh_from_db()
    cancelled = execution.status == ExecutionStatus.CANCELLED
    if not cancelled and execution.status in FINAL_EXECUTION_STATUSES:
        raise ExecutionNotRunning(f"Execution {execution.id!r} is already {execution.status}")
    return records.CancelResult(
        success=cancelled,
        execution=records.CancelledExecution(
            id=execution.id,
            status=ExecutionStatus(execution.status),
            error=execution.error,
            completed_at=execution.completed_at,
        ),
        message="Execution cancelled successfully" if cancelled else "Cancellation requested",
    )
