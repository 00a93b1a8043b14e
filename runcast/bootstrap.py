"""Users, workspaces and tokens made outside the API: first run, admin token, CLI."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from runcast.domain.enums import OnError, TriggerType, WorkflowStatus
from runcast.ids import WORKSPACE_SLUG, new_id
from runcast.models import ApiToken, Membership, Role, User, Workflow, Workspace
from runcast.resolvers.auth import hash_token, issue_token

DEFAULT_WORKSPACE = "default"
ADMIN_USER = "admin"

SAMPLE_WORKFLOW: dict[str, Any] = {
    "name": "User Onboarding",
    "description": "Automated onboarding workflow",
    "status": WorkflowStatus.ACTIVE,
    "trigger": {"type": TriggerType.MANUAL},
    "actions": [
        {
            "id": "action-1",
            "type": "send_notification",
            "config": {"message": "Welcome!", "recipient": "{{trigger.userId}}"},
            "onError": OnError.STOP,
        },
        {
            "id": "action-2",
            "type": "create_task",
            "config": {
                "title": "Onboarding checklist",
                "description": "Fill out your profile",
                "priority": "HIGH",
                "assignedTo": "{{trigger.userId}}",
            },
            "onError": OnError.STOP,
        },
    ],
}


async def ensure_membership(user_name: str, workspace_slug: str, role: Role) -> User:
    """Create the user and workspace when missing and grant `role` in it."""
    if not WORKSPACE_SLUG.fullmatch(workspace_slug):
        raise ValueError("a workspace slug is 1-100 lowercase letters, digits or '-'")
    async with in_transaction():
        workspace = await Workspace.get_or_none(slug=workspace_slug)
        if workspace is None:
            workspace = await Workspace.create(
                id=new_id("ws"), slug=workspace_slug, name=workspace_slug
            )
        user = await User.get_or_none(name=user_name)
        if user is None:
            user = await User.create(id=new_id("usr"), name=user_name)
        membership = await Membership.get_or_none(user=user, workspace=workspace)
        if membership is None:
            await Membership.create(user=user, workspace=workspace, role=role)
        elif membership.role != role:
            membership.role = role
            await membership.save(update_fields=["role"])
    return user


async def create_token(user_name: str, workspace_slug: str, role: Role) -> str:
    """`runcast token create`: a new token for the user, with `role` in the workspace."""
    user = await ensure_membership(user_name, workspace_slug, role)
    return await issue_token(user)


async def ensure_admin_token(token: str) -> None:
    """Make `token` belong to user `admin`, OWNER of workspace `default`."""
    user = await ensure_membership(ADMIN_USER, DEFAULT_WORKSPACE, Role.OWNER)
    await ApiToken.get_or_create(token_hash=hash_token(token), defaults={"user": user})


async def first_run() -> str | None:
    """On a database with no user: workspace, admin, sample workflow; returns the token."""
    if await User.exists():
        return None
    user = await ensure_membership(ADMIN_USER, DEFAULT_WORKSPACE, Role.OWNER)
    workspace = await Workspace.get(slug=DEFAULT_WORKSPACE)
    await Workflow.create(
        id=new_id("wf"),
        workspace=workspace,
        **{k: v for k, v in SAMPLE_WORKFLOW.items()},
    )
    return await issue_token(user)
