"""The caller's own identity and memberships."""

from __future__ import annotations

from runcast.domain.callers import Caller
from runcast.domain.enums import Role
from runcast.domain.records import Me, Membership
from runcast.models import Membership as MembershipRow


async def describe_caller(caller: Caller) -> Me:
    rows = await MembershipRow.filter(user_id=caller.user_id).select_related("workspace")
    memberships = tuple(
        Membership(workspace_id=m.workspace.id, workspace_slug=m.workspace.slug, role=Role(m.role))
        for m in rows
    )
    return Me(id=caller.user_id, name=caller.user_name, memberships=memberships)
