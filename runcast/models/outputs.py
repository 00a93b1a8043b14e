"""What built-in actions leave behind: tasks and notifications."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from runcast.domain.enums import TaskStatus
from runcast.models.workspace import Workspace


class Task(Model):
    id = fields.CharField(pk=True, max_length=40)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "runcast.Workspace", related_name="tasks", on_delete=fields.CASCADE
    )
    execution_id = fields.CharField(max_length=40, null=True)
    title = fields.CharField(max_length=500)
    description = fields.TextField(null=True)
    priority = fields.CharField(max_length=20, null=True)
    assigned_to = fields.CharField(max_length=200, null=True)
    status = fields.CharField(max_length=20, default=TaskStatus.TODO.value)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "task"
        indexes = (("workspace_id", "created_at"),)


class Notification(Model):
    id = fields.CharField(pk=True, max_length=40)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "runcast.Workspace", related_name="notifications", on_delete=fields.CASCADE
    )
    execution_id = fields.CharField(max_length=40, null=True)
    message = fields.TextField()
    recipient = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notification"
        indexes = (("workspace_id", "created_at"),)
