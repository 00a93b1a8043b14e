"""`send_notification`: stores a notification for a recipient."""

from __future__ import annotations

from typing import Any

from runcast.engine.actions.base import ActionContext, ActionResult, StoredRow, StoringResult
from runcast.engine.actions.checks import optional_string, require_string
from runcast.engine.actions.registry import ActionType
from runcast.ids import stable_id
from runcast.models import Notification
from runcast.resolvers.wire import utcnow


def validate(config: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    require_string(config, "message", errors, 10_000)
    optional_string(config, "recipient", errors, 200)
    return errors


async def run(action: dict[str, Any], context: ActionContext) -> ActionResult:
    config = action["config"]
    message, recipient = config.get("message"), config.get("recipient")
    if not isinstance(message, str) or not message:
        return ActionResult(False, error="message rendered empty", retryable=False)
    if recipient is not None and not isinstance(recipient, str):
        recipient = str(recipient)
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
