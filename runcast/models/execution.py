"""Executions, their per-action step runs and their append-only event log."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from runcast.domain.enums import ExecutionStatus, StepStatus, TriggerType
from runcast.models.workflow import Workflow
from runcast.models.workspace import Workspace


class Execution(Model):
    """One run of a workflow, with a snapshot of its actions and timeout taken at start."""

    id = fields.CharField(pk=True, max_length=40)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "runcast.Workspace", related_name="executions", on_delete=fields.CASCADE
    )
    workflow: fields.ForeignKeyRelation[Workflow] = fields.ForeignKeyField(
        "runcast.Workflow", related_name="executions", on_delete=fields.CASCADE
    )
    workspace_id: str
    workflow_id: str
    status = fields.CharField(max_length=10, default=ExecutionStatus.PENDING.value)
    trigger_type = fields.CharField(max_length=20, default=TriggerType.MANUAL.value)
    trigger_data: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    variables: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    actions: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    timeout_ms = fields.IntField(null=True)
    triggered_by = fields.CharField(max_length=40, null=True)
    is_simulation = fields.BooleanField(default=False)
    error: str | None = fields.TextField(null=True)
    error_code = fields.CharField(max_length=40, null=True)
    idempotency_key = fields.CharField(max_length=200, null=True)
    request_fingerprint = fields.CharField(max_length=64, null=True)
    """SHA-256 of the execute request a key was first used with (see `resolvers.executions`)."""
    cancel_requested = fields.BooleanField(default=False)
    concurrency_limit = fields.IntField(null=True)
    """The workflow's `concurrency.limit` when the execution was created (None: no cap)."""
    concurrency_key = fields.CharField(max_length=200, null=True)
    """Its rendered `concurrency.key` ("" without a key): the cap counts RUNNING executions
    of the same workflow and key."""
    chain_depth = fields.IntField(default=0)
    """How many executions lead to this one through built-in execution events (0: none)."""
    created_at = fields.DatetimeField()
    started_at = fields.DatetimeField()
    completed_at = fields.DatetimeField(null=True)
    duration_ms = fields.IntField(null=True)
    last_seq = fields.IntField(default=0)
    lease_owner = fields.CharField(max_length=80, null=True)
    lease_expires_at = fields.DatetimeField(null=True)
    fencing_token = fields.IntField(default=0)

    class Meta:
        table = "execution"
        unique_together = (("workflow", "idempotency_key"),)
        indexes = (
            ("workflow_id", "started_at"),
            ("workflow_id", "status", "started_at", "duration_ms"),
            ("workflow_id", "duration_ms", "status", "started_at"),
            ("workspace_id", "started_at"),
            ("workspace_id", "status", "started_at", "duration_ms"),
            ("workspace_id", "duration_ms", "status", "started_at"),
            ("status", "created_at"),
            ("workflow_id", "concurrency_key", "status"),
        )


class StepRun(Model):
    """The state of one action within one execution."""

    id = fields.IntField(pk=True)
    execution: fields.ForeignKeyRelation[Execution] = fields.ForeignKeyField(
        "runcast.Execution", related_name="steps", on_delete=fields.CASCADE
    )
    execution_id: str
    position = fields.IntField()
    action_id = fields.CharField(max_length=100)
    action_type = fields.CharField(max_length=100)
    status = fields.CharField(max_length=10, default=StepStatus.PENDING.value)
    output: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    error: str | None = fields.TextField(null=True)
    attempts = fields.IntField(default=0)
    started_at = fields.DatetimeField(null=True)
    completed_at = fields.DatetimeField(null=True)
    duration_ms = fields.IntField(null=True)

    class Meta:
        table = "step_run"
        unique_together = (("execution", "position"),)


class ExecutionEvent(Model):
    """One event of an execution stream, numbered by seq from 1 without gaps."""

    id = fields.BigIntField(pk=True)
    execution: fields.ForeignKeyRelation[Execution] = fields.ForeignKeyField(
        "runcast.Execution", related_name="events", on_delete=fields.CASCADE
    )
    seq = fields.IntField()
    type = fields.CharField(max_length=20)
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "execution_event"
        unique_together = (("execution", "seq"),)
