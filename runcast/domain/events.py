"""Events: a stored event (`Event`) and the payloads the engine writes and publishes:
`step`, `progress` and the workspace feed's status changes.

They read plain attributes through the protocols below, so a model row and an in-memory
record serve alike, and this module stays below the models and the store.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from runcast.domain.clock import iso
from runcast.domain.enums import FINAL_EXECUTION_STATUSES, FINAL_STEP_STATUSES, StepStatus


class StepFields(Protocol):
    """What a `step` event reads of a step."""

    @property
    def action_id(self) -> str: ...
    @property
    def action_type(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def output(self) -> Any: ...
    @property
    def duration_ms(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...


class ExecutionFields(Protocol):
    """What a status change reads of an execution."""

    @property
    def id(self) -> str: ...
    @property
    def workflow_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def completed_at(self) -> datetime | None: ...
    @property
    def duration_ms(self) -> int | None: ...
    @property
    def is_simulation(self) -> bool: ...
    @property
    def trigger_type(self) -> str: ...


def step_event(step: StepFields) -> dict[str, Any]:
    """A `step` event's payload; `error` is null on a step that did not fail."""
    return {
        "actionId": step.action_id,
        "actionType": step.action_type,
        "status": step.status,
        "output": step.output,
        "durationMs": step.duration_ms,
        "error": step.error,
    }


def progress_of(statuses: Sequence[str], execution_status: str) -> dict[str, Any]:
    """`completedSteps` counts final states; percentage is 100 once the execution finished."""
    total = len(statuses)
    completed = sum(1 for s in statuses if s in FINAL_STEP_STATUSES)
    finished = execution_status in FINAL_EXECUTION_STATUSES
    percentage = 100 if finished or total == 0 else round(100 * completed / total)
    return {
        "totalSteps": total,
        "completedSteps": completed,
        "successfulSteps": statuses.count(StepStatus.SUCCESS),
        "failedSteps": statuses.count(StepStatus.FAILED),
        "runningSteps": statuses.count(StepStatus.RUNNING),
        "percentage": percentage,
    }


def status_change(execution: ExecutionFields) -> dict[str, Any]:
    """What `workspace:<id>` subscribers hear when an execution changes status."""
    return {
        "executionId": execution.id,
        "workflowId": execution.workflow_id,
        "status": execution.status,
        "startedAt": iso(execution.started_at),
        "completedAt": iso(execution.completed_at),
        "durationMs": execution.duration_ms,
        "isSimulation": execution.is_simulation,
        "triggerType": execution.trigger_type,
    }


@dataclass(frozen=True)
class Event:
    """One stored event: its place in the execution's sequence, type and JSON payload."""

    execution_id: str
    seq: int
    type: str
    data: dict[str, Any]

    @functools.cached_property
    def data_json(self) -> str:
        """The payload as JSON text, made once per event object (streams share them)."""
        return json.dumps(self.data)

    def to_message(self) -> dict[str, Any]:
        return {
            "executionId": self.execution_id,
            "seq": self.seq,
            "type": self.type,
            "data": self.data,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Event:
        return cls(message["executionId"], int(message["seq"]), message["type"], message["data"])
