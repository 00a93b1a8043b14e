"""Conversions to the wire: ISO timestamps with `Z`, camelCase views of models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from runcast.models import Notification, Task, Workflow


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (what the database stores)."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """`2024-12-05T10:00:00.123Z`, or None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def workflow_view(workflow: Workflow) -> dict[str, Any]:
    return {
        "id": workflow.id,
        "workspaceId": workflow.workspace_id,  # type: ignore[attr-defined]
        "name": workflow.name,
        "description": workflow.description,
        "status": workflow.status,
        "trigger": workflow.trigger,
        "timeoutMs": workflow.timeout_ms,
        "actions": workflow.actions,
        "createdAt": iso(workflow.created_at),
        "updatedAt": iso(workflow.updated_at),
    }


def task_view(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "executionId": task.execution_id,
        "title": task.title,
        "description": task.description,
        "priority": task.priority,
        "assignedTo": task.assigned_to,
        "status": task.status,
        "createdAt": iso(task.created_at),
    }


def notification_view(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.id,
        "executionId": notification.execution_id,
        "message": notification.message,
        "recipient": notification.recipient,
        "createdAt": iso(notification.created_at),
    }
