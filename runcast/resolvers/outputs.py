"""Tasks and notifications that executions left behind."""

from __future__ import annotations

from runcast.domain import records
from runcast.domain.callers import Caller
from runcast.models import Notification, Role, Task
from runcast.resolvers import records as to_record
from runcast.resolvers.auth import require_role

LIST_LIMIT = 100


async def list_tasks(caller: Caller, workspace: str) -> list[records.Task]:
    """The workspace's newest tasks, newest first."""
    access = await require_role(caller, workspace, Role.VIEWER)
    rows = (
        await Task.filter(workspace_id=access.workspace.id)
        .order_by("-created_at")
        .limit(LIST_LIMIT)
    )
    return [to_record.task(row) for row in rows]


async def list_notifications(caller: Caller, workspace: str) -> list[records.Notification]:
    """The workspace's newest notifications, newest first."""
    access = await require_role(caller, workspace, Role.VIEWER)
    rows = (
        await Notification.filter(workspace_id=access.workspace.id)
        .order_by("-created_at")
        .limit(LIST_LIMIT)
    )
    return [to_record.notification(row) for row in rows]
