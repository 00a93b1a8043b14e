"""What a workflow's trigger shows and the webhook hook ids (see docs/triggers.md)."""

from __future__ import annotations

import secrets
from typing import Any

from runcast.domain.enums import TriggerType
from runcast.errors import WorkflowInvalid
from runcast.models import Workflow
from runcast.resolvers.trigger_input import FIELDS_BY_TYPE, check_trigger

HOOK_PATH = "/hooks/"


def _type(row: Workflow) -> Any:
    return row.trigger.get("type") if isinstance(row.trigger, dict) else None


def new_hook_id() -> str:
    """A random, unguessable hook id (256 bits)."""
    return f"hk_{secrets.token_urlsafe(32)}"


def webhook_url(row: Workflow) -> str | None:
    """The path a webhook workflow is started through, relative to the server's base URL."""
    if row.hook_id is None or _type(row) != TriggerType.WEBHOOK:
        return None
    return HOOK_PATH + row.hook_id


def trigger_view(row: Workflow) -> Any:
    """The trigger as answered: the stored fields its type has, never `secret` (a webhook's
    secret is stored apart), plus `hasSecret` on a webhook trigger. A trigger stored before
    triggers were validated is answered as stored, less those fields."""
    trigger = row.trigger
    if not isinstance(trigger, dict):
        return trigger
    kind = trigger.get("type")
    allowed = FIELDS_BY_TYPE.get(kind) if isinstance(kind, str) else None
    shown = {
        name: value
        for name, value in trigger.items()
        if name != "secret" and (allowed is None or name in allowed)
    }
    if kind == TriggerType.WEBHOOK:
        shown["hasSecret"] = row.hook_secret is not None or "secret" in trigger
    return shown


def _valid(trigger: dict[str, Any]) -> bool:
    try:
        check_trigger(trigger)
    except WorkflowInvalid:
        return False
    return True


def ensure_hook_id(row: Workflow) -> None:
    """Give a webhook workflow a hook id if it has none (its trigger just became a webhook,
    or it was stored before hooks existed) and its trigger is valid: one stored before
    triggers were validated gets no hook until it is saved again."""
    if _type(row) == TriggerType.WEBHOOK and row.hook_id is None and _valid(row.trigger):
        row.hook_id = new_hook_id()
