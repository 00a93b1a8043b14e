"""The caller's own identity and memberships."""

from __future__ import annotations

from typing import Any

from runcast.domain.callers import Caller
from runcast.models import Membership


async def describe_caller(caller: Caller) -> dict[str, Any]:
    memberships = await Membership.filter(user_id=caller.user_id).select_related("workspace")
    return {
        "id": caller.user_id,
        "name": caller.user_name,
        "memberships": [
            {"workspaceId": m.workspace.id, "workspaceSlug": m.workspace.slug, "role": m.role}
            for m in memberships
        ],
    }
