"""`send_notification`: stores a notification for a recipient."""

from __future__ import annotations

from typing import Any

from runcast.domain.clock import utcnow
from runcast.engine.actions.base import ActionContext, ActionResult, StoredRow, StoringResult
from runcast.engine.actions.checks import (
    optional_string,
    rendered_text,
    require_string,
    unknown_keys,
)
from runcast.engine.actions.registry import ActionType
from runcast.ids import stable_id
from runcast.models import Notification

SETTING = ("a send_notification setting", "send_notification settings")
KEYS = ("message", "recipient")
MAX_MESSAGE = 10_000
MAX_RECIPIENT = 200


def validate(config: dict[str, Any]) -> list[str]:
    errors = unknown_keys(config, KEYS, SETTING, "config.")
    require_string(config, "message", errors, MAX_MESSAGE)
    optional_string(config, "recipient", errors, MAX_RECIPIENT)
    return errors


async def run(action: dict[str, Any], context: ActionContext) -> ActionResult:
    config = action["config"]
    message, problem = rendered_text(config.get("message"), "message")
    if problem is None and not message:
        problem = "message rendered empty"
    recipient, recipient_problem = rendered_text(
        config.get("recipient"), "recipient", MAX_RECIPIENT
    )
    problem = problem or recipient_problem
    if problem is not None:
        return ActionResult(False, error=problem, retryable=False)
    output: dict[str, Any] = {"notificationSent": True, "message": message, "recipient": recipient}
    if context.dry_run:
        return ActionResult(True, {**output, "notificationSent": False, "simulated": True})
    notification_id = stable_id("ntf", context.idempotency_key)
    notification = {
        "id": notification_id,
        "workspace_id": context.workspace_id,
        "execution_id": context.execution_id,
        "message": message,
        "recipient": recipient,
        "created_at": utcnow(),
    }
    return StoringResult(
        True,
        {**output, "notificationId": notification_id},
        rows=(StoredRow(Notification, notification),),
    )


ACTION = ActionType("send_notification", run, validate, dry_run=True, builtin=True)
