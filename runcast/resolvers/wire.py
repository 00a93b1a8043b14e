"""Conversions to the wire: camelCase views of workflows, tasks and notifications."""

from __future__ import annotations

from typing import Any

from runcast.domain.clock import iso
from runcast.models import Notification, Task, Workflow


def workflow_view(workflow: Workflow) -> dict[str, Any]:
    return {
        "id": workflow.id,
        "workspaceId": workflow.workspace_id,
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
