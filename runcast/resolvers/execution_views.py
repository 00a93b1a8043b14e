"""Wire views of executions: the execution, its steps, progress, timing and summary."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from runcast.models import Execution, StepRun, Workflow
from runcast.resolvers.wire import iso

FINAL_STEP_STATUSES = frozenset({"success", "failed", "skipped", "cancelled"})
FINAL_EXECUTION_STATUSES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


def step_view(step: StepRun) -> dict[str, Any]:
    """A step as REST and GraphQL show it; fields without a value are null, never absent."""
    return {
        "actionId": step.action_id,
        "actionType": step.action_type,
        "status": step.status,
        "output": step.output,
        "startedAt": iso(step.started_at),
        "completedAt": iso(step.completed_at),
        "durationMs": step.duration_ms,
        "attempts": step.attempts,
        "error": step.error,
    }


def progress_of(statuses: list[str], execution_status: str) -> dict[str, Any]:
    """`completedSteps` counts final states; percentage is 100 once the execution finished."""
    total = len(statuses)
    completed = sum(1 for s in statuses if s in FINAL_STEP_STATUSES)
    finished = execution_status in FINAL_EXECUTION_STATUSES
    percentage = 100 if finished or total == 0 else round(100 * completed / total)
    return {
        "totalSteps": total,
        "completedSteps": completed,
        "successfulSteps": statuses.count("success"),
        "failedSteps": statuses.count("failed"),
        "runningSteps": statuses.count("running"),
        "percentage": percentage,
    }


def summary_of(statuses: list[str]) -> dict[str, int]:
    return {
        "totalSteps": len(statuses),
        "successfulSteps": statuses.count("success"),
        "failedSteps": statuses.count("failed"),
        "skippedSteps": statuses.count("skipped"),
    }


def timing_of(execution: Execution, now: datetime | None = None) -> dict[str, Any]:
    running = execution.status not in FINAL_EXECUTION_STATUSES
    if running:
        elapsed = (now or datetime.now(UTC)) - execution.started_at
        duration: int | None = max(0, int(elapsed.total_seconds() * 1000))
    else:
        duration = execution.duration_ms
    return {
        "startedAt": iso(execution.started_at),
        "completedAt": iso(execution.completed_at),
        "durationMs": duration,
        "isRunning": running,
    }


def execution_view(execution: Execution, steps: list[StepRun] | None) -> dict[str, Any]:
    """The execution as the seed shows it (fields without a value are null, never absent);
    `steps` is omitted when not loaded."""
    view: dict[str, Any] = {
        "id": execution.id,
        "workflowId": execution.workflow_id,  # type: ignore[attr-defined]
        "workspaceId": execution.workspace_id,  # type: ignore[attr-defined]
        "status": execution.status,
        "triggeredBy": execution.triggered_by,
        "triggerType": execution.trigger_type,
        "triggerData": execution.trigger_data,
        "variables": execution.variables,
        "startedAt": iso(execution.started_at),
        "completedAt": iso(execution.completed_at),
        "durationMs": execution.duration_ms,
        "isSimulation": execution.is_simulation,
        "error": execution.error,
        "errorCode": execution.error_code,
    }
    if steps is not None:
        view["steps"] = [step_view(step) for step in steps]
    return view


def workflow_brief(workflow: Workflow) -> dict[str, Any]:
    return {
        "id": workflow.id,
        "name": workflow.name,
        "description": workflow.description,
        "trigger": workflow.trigger,
        "status": workflow.status,
    }


def status_change(execution: Execution) -> dict[str, Any]:
    """What `workspace:<id>` subscribers hear when an execution changes status."""
    return {
        "executionId": execution.id,
        "workflowId": execution.workflow_id,  # type: ignore[attr-defined]
        "status": execution.status,
        "startedAt": iso(execution.started_at),
        "completedAt": iso(execution.completed_at),
        "durationMs": execution.duration_ms,
        "isSimulation": execution.is_simulation,
    }
