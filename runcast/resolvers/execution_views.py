"""Wire views of executions: the execution, its steps, progress, timing and summary."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from runcast.domain.clock import iso
from runcast.domain.enums import FINAL_EXECUTION_STATUSES, StepStatus
from runcast.domain.events import step_event
from runcast.models import Execution, StepRun, Workflow


def step_view(step: StepRun) -> dict[str, Any]:
    """A step as REST and GraphQL show it: its `step` event's fields with its times and
    attempts; fields without a value are null, never absent."""
    return {
        **step_event(step),
        "startedAt": iso(step.started_at),
        "completedAt": iso(step.completed_at),
        "attempts": step.attempts,
    }


def summary_of(statuses: list[str]) -> dict[str, int]:
    return {
        "totalSteps": len(statuses),
        "successfulSteps": statuses.count(StepStatus.SUCCESS),
        "failedSteps": statuses.count(StepStatus.FAILED),
        "skippedSteps": statuses.count(StepStatus.SKIPPED),
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
        "workflowId": execution.workflow_id,
        "workspaceId": execution.workspace_id,
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
