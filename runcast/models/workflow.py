"""Workflow definitions."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from runcast.domain.enums import WorkflowStatus
from runcast.models.workspace import Workspace


class Workflow(Model):
    id = fields.CharField(pk=True, max_length=40)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "runcast.Workspace", related_name="workflows", on_delete=fields.CASCADE
    )
    workspace_id: str
    name = fields.CharField(max_length=200)
    description = fields.TextField(null=True)
    status = fields.CharField(max_length=10, default=WorkflowStatus.ACTIVE.value)
    trigger: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    actions: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)
    timeout_ms = fields.IntField(null=True)
    hook_id = fields.CharField(max_length=64, null=True, unique=True)
    """The random part of a webhook workflow's `/hooks/<hook_id>` URL (see docs/triggers.md)."""
    hook_secret = fields.CharField(max_length=200, null=True)
    """A webhook's HMAC key; kept out of `trigger` so it is never sent back."""
    event_name = fields.CharField(max_length=200, null=True)
    """The event an `event` trigger follows, copied out of `trigger` for matching."""
    concurrency: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    """Flow control `{"limit", "key"?}`; None for no cap."""
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "workflow"
        indexes = (("workspace_id", "created_at"), ("workspace_id", "event_name"))
