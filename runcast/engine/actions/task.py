"""`create_task`: stores a task in the workspace."""

from __future__ import annotations

from typing import Any

from runcast.domain.clock import utcnow
from runcast.domain.enums import TaskStatus
from runcast.engine.actions.base import ActionContext, ActionResult, StoredRow, StoringResult
from runcast.engine.actions.checks import (
    optional_choice,
    optional_string,
    rendered_text,
    require_string,
    shown,
    unknown_keys,
)
from runcast.engine.actions.registry import ActionType
from runcast.ids import stable_id
from runcast.models import Task

SETTING = ("a create_task setting", "create_task settings")
KEYS = ("title", "description", "priority", "assignedTo")
PRIORITIES = ("LOW", "MEDIUM", "HIGH", "URGENT")
MAX_TITLE = 500
MAX_DESCRIPTION = 10_000
MAX_ASSIGNEE = 200


def validate(config: dict[str, Any]) -> list[str]:
    errors = unknown_keys(config, KEYS, SETTING, "config.")
    require_string(config, "title", errors, MAX_TITLE)
    optional_string(config, "description", errors, MAX_DESCRIPTION)
    optional_choice(config, "priority", PRIORITIES, errors)
    optional_string(config, "assignedTo", errors, MAX_ASSIGNEE)
    return errors


def _fields(config: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The rendered config's settings by column, or why they cannot be stored."""
    title, problem = rendered_text(config.get("title"), "title")
    if problem is None and not title:
        problem = "title rendered empty"
    description, description_problem = rendered_text(config.get("description"), "description")
    priority, priority_problem = rendered_text(config.get("priority"), "priority")
    if priority_problem is None and priority is not None and priority not in PRIORITIES:
        priority_problem = f"priority {shown(priority)!r} is not one of {', '.join(PRIORITIES)}"
    assigned_to, assignee_problem = rendered_text(
        config.get("assignedTo"), "assignedTo", MAX_ASSIGNEE
    )
    fields = {
        "title": title,
        "description": description,
        "priority": priority,
        "assigned_to": assigned_to,
    }
    return fields, problem or description_problem or priority_problem or assignee_problem


async def run(action: dict[str, Any], context: ActionContext) -> ActionResult:
    fields, problem = _fields(action["config"])
    if problem is not None:
        return ActionResult(False, error=problem, retryable=False)
    title = fields["title"]
    fields["title"] = title[:MAX_TITLE]
    if context.dry_run:
        return ActionResult(
            True, {"taskId": None, "title": title, "status": TaskStatus.TODO, "simulated": True}
        )
    task_id = stable_id("task", context.idempotency_key)
    task = {
        "id": task_id,
        "workspace_id": context.workspace_id,
        "execution_id": context.execution_id,
        "status": TaskStatus.TODO,
        "created_at": utcnow(),
        **fields,
    }
    output = {"taskId": task_id, "title": title, "status": TaskStatus.TODO}
    return StoringResult(True, output, rows=(StoredRow(Task, task),))


ACTION = ActionType("create_task", run, validate, dry_run=True, builtin=True)
