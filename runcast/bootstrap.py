"""Users, workspaces and tokens made outside the API: first run, admin token, CLI."""

from __future__ import annotations

from typing import Any

from runcast.domain.clock import utcnow
from runcast.domain.enums import OnError, TriggerType, WorkflowStatus
from runcast.ids import WORKSPACE_SLUG, new_id
from runcast.models import ApiToken, Membership, Role, User, Workflow, Workspace
from runcast.resolvers.auth import hash_token, issue_token
from runcast.store import statements

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
    """Create the user and workspace when missing and grant `role` in it.

    Only writes that skip what exists, then reads: a transaction that reads before it
    writes fails at once on SQLite when another connection wrote in between."""
    if not WORKSPACE_SLUG.fullmatch(workspace_slug):
        raise ValueError("a workspace slug is 1-100 lowercase letters, digits or '-'")
    dialect = statements.dialect()
    now = utcnow()
    new_workspace = {"id": new_id("ws"), "slug": workspace_slug, "name": workspace_slug}
    new_user = {"id": new_id("usr"), "name": user_name}
    await statements.run(
        [
            statements.insert(dialect, Workspace, [{**new_workspace, "created_at": now}], True),
            statements.insert(dialect, User, [{**new_user, "created_at": now}], True),
        ]
    )
    workspace = await Workspace.get(slug=workspace_slug)
    user = await User.get(name=user_name)
    member = {"user_id": user.id, "workspace_id": workspace.id}
    await statements.run(
        [
            statements.insert(dialect, Membership, [{**member, "role": role}], True),
            statements.update(dialect, Membership, {"role": role}, member),
        ]
    )
    return user


async def create_token(user_name: str, workspace_slug: str, role: Role) -> str:
    """`runcast token create`: a new token for the user, with `role` in the workspace."""
    user = await ensure_membership(user_name, workspace_slug, role)
    return await issue_token(user)


async def ensure_admin_token(token: str) -> None:
    """Make `token` belong to user `admin`, OWNER of workspace `default`."""
    user = await ensure_membership(ADMIN_USER, DEFAULT_WORKSPACE, Role.OWNER)
    record = {"user_id": user.id, "token_hash": hash_token(token), "created_at": utcnow()}
    await statements.run([statements.insert(statements.dialect(), ApiToken, [record], True)])


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
