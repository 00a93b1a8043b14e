"""Statuses, roles and other closed sets of words, as stored and as sent on the wire.

Every enum is a `StrEnum`: members compare equal to their values and serialise as them, so
stored rows and JSON payloads hold the same plain strings as before the enums existed.
"""

from __future__ import annotations

from enum import StrEnum


class ExecutionStatus(StrEnum):
    """Where an execution is in its life; the last three are final."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class StepStatus(StrEnum):
    """Where one action of an execution is; all but `pending` and `running` are final."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class TaskStatus(StrEnum):
    """Where a task created by `create_task` is; tasks start as `TODO`."""

    TODO = "TODO"


class OnError(StrEnum):
    """What an execution does when an action fails."""

    STOP = "stop"
    CONTINUE = "continue"
    RETRY = "retry"


class TriggerType(StrEnum):
    """How a workflow is started (its trigger's `type`) and how an execution was started."""

    MANUAL = "manual"
    WEBHOOK = "webhook"
    SCHEDULE = "schedule"
    EVENT = "event"


class WorkflowStatus(StrEnum):
    """Whether a workflow may be executed."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class Role(StrEnum):
    """A member's role in a workspace; each includes the rights of the ones below it."""

    VIEWER = "VIEWER"
    EDITOR = "EDITOR"
    ADMIN = "ADMIN"
    OWNER = "OWNER"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3, Role.OWNER: 4}

ACTIVE_EXECUTION_STATUSES = frozenset({ExecutionStatus.PENDING, ExecutionStatus.RUNNING})
"""Statuses of executions that still have work to do (and may hold a lease)."""

FINAL_EXECUTION_STATUSES = frozenset(
    {ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}
)
FINAL_STEP_STATUSES = frozenset(
    {StepStatus.SUCCESS, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)
