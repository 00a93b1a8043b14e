"""What a workflow's trigger shows and the webhook hook ids (see docs/triggers.md)."""

from __future__ import annotations

import secrets
from typing import Any

from runcast.domain.enums import TriggerType
from runcast.models import Workflow

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
    """The trigger as answered: as stored (never with a secret, which is stored apart),
    plus `hasSecret` on a webhook trigger. A trigger stored before triggers were validated
    is answered as it was stored."""
    if _type(row) == TriggerType.WEBHOOK:
        return {**row.trigger, "hasSecret": row.hook_secret is not None}
    return row.trigger


def ensure_hook_id(row: Workflow) -> None:
    """Give a webhook workflow a hook id if it has none (its trigger just became a webhook,
    or it was stored before hooks existed)."""
    if _type(row) == TriggerType.WEBHOOK and row.hook_id is None:
        row.hook_id = new_hook_id()
