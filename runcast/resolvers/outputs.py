"""Tasks and notifications that executions left behind."""

from __future__ import annotations

from typing import Any

from runcast.domain.callers import Caller
from runcast.models import Notification, Role, Task
from runcast.resolvers.auth import require_role
from runcast.resolvers.wire import notification_view, task_view

LIST_LIMIT = 100


async def list_tasks(caller: Caller, workspace: str) -> list[dict[str, Any]]:
    """The workspace's newest tasks, newest first."""
    access = await require_role(caller, workspace, Role.VIEWER)
    rows = (
        await Task.filter(workspace_id=access.workspace.id)
        .order_by("-created_at")
        .limit(LIST_LIMIT)
    )
    return [task_view(row) for row in rows]


async def list_notifications(caller: Caller, workspace: str) -> list[dict[str, Any]]:
    """The workspace's newest notifications, newest first."""
    access = await require_role(caller, workspace, Role.VIEWER)
    rows = (
        await Notification.filter(workspace_id=access.workspace.id)
        .order_by("-created_at")
        .limit(LIST_LIMIT)
    )
    return [notification_view(row) for row in rows]
