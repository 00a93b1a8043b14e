"""`create_task`: stores a task in the workspace."""

from __future__ import annotations

from typing import Any

from runcast.engine.actions.base import ActionContext, ActionResult, StoredRow, StoringResult
from runcast.engine.actions.checks import optional_choice, optional_string, require_string
from runcast.engine.actions.registry import ActionType
from runcast.ids import stable_id
from runcast.models import Task
from runcast.resolvers.wire import utcnow

PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")


def validate(config: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    require_string(config, "title", errors, 500)
    optional_string(config, "description", errors, 10_000)
    optional_choice(config, "priority", PRIORITIES, errors)
    optional_string(config, "assignedTo", errors, 200)
    return errors


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


async def run(action: dict[str, Any], context: ActionContext) -> ActionResult:
    config = action["config"]
    title = _text(config.get("title"))
    if not title:
        return ActionResult(False, error="title rendered empty", retryable=False)
    priority = _text(config.get("priority"))
    if priority is not None and priority not in PRIORITIES:
        return ActionResult(False, error=f"priority {priority!r} is not one of {PRIORITIES}")
    fields = {
        "title": title[:500],
        "description": _text(config.get("description")),
        "priority": priority,
        "assigned_to": _text(config.get("assignedTo")),
    }
    if context.dry_run:
        return ActionResult(
            True, {"taskId": None, "title": title, "status": "TODO", "simulated": True}
        )
    task_id = stable_id("task", context.idempotency_key)
    task = {
        "id": task_id,
        "workspace_id": context.workspace_id,
        "execution_id": context.execution_id,
        "status": "TODO",
        "created_at": utcnow(),
        **fields,
    }
    output = {"taskId": task_id, "title": title, "status": "TODO"}
    return StoringResult(True, output, rows=(StoredRow(Task, task),))


ACTION = ActionType("create_task", run, validate, dry_run=True, builtin=True)
