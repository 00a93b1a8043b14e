"""Bearer tokens, callers and workspace roles."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from tortoise.expressions import Q

from runcast.errors import Forbidden, Unauthorized, WorkspaceNotFound
from runcast.ids import is_wellformed_id, is_workspace_ref
from runcast.models import ApiToken, Membership, Role, User, Workspace
from runcast.store import statements

TOKEN_PREFIX = "rc_"


@dataclass(frozen=True)
class Caller:
    """An authenticated user."""

    user_id: str
    user_name: str


@dataclass(frozen=True)
class Access:
    """A caller's standing in one workspace."""

    caller: Caller
    workspace: Workspace
    role: Role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random bearer token; it is shown once and stored only as a hash."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def issue_token(user: User) -> str:
    token = new_token()
    await ApiToken.create(user=user, token_hash=hash_token(token))
    return token


def bearer_from_header(value: str | None) -> str | None:
    """Extract the token from an `Authorization: Bearer …` value."""
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(token: str | None) -> Caller:
    """Return the caller holding `token`, or raise 401."""
    if not token or len(token) > 200:
        raise Unauthorized()
    rows = await statements.fetch(
        f"SELECT u.id, u.name FROM {ApiToken._meta.db_table} t "
        f"JOIN {User._meta.db_table} u ON u.id = t.user_id WHERE t.token_hash = ?",
        [hash_token(token)],
    )
    if not rows:
        raise Unauthorized("Invalid or expired token")
    return Caller(user_id=rows[0]["id"], user_name=rows[0]["name"])


async def require_role(caller: Caller, workspace_ref: str, minimum: Role) -> Access:
    """Check that `caller` holds at least `minimum` in the workspace named by slug or id."""
    if not is_workspace_ref(workspace_ref):
        raise WorkspaceNotFound(f"Workspace {workspace_ref[:100]!r} not found")
    rows = await statements.fetch(
        f"SELECT m.role AS member_role, {statements.columns(Workspace, 'w')} "
        f"FROM {Membership._meta.db_table} m "
        f"JOIN {Workspace._meta.db_table} w ON w.id = m.workspace_id "
        "WHERE m.user_id = ? AND (w.slug = ? OR w.id = ?) LIMIT 1",
        [caller.user_id, workspace_ref, workspace_ref],
    )
    if not rows:
        named = Q(slug=workspace_ref)
        if is_wellformed_id(workspace_ref):
            named |= Q(id=workspace_ref)
        exists = await Workspace.filter(named).exists()
        if not exists:
            raise WorkspaceNotFound(f"Workspace {workspace_ref!r} not found")
        raise Forbidden("You are not a member of this workspace")
    role = Role(rows[0]["member_role"])
    if role.rank < minimum.rank:
        raise Forbidden(f"This needs the {minimum.value} role; you are {role.value}")
    return Access(caller=caller, workspace=statements.instance(Workspace, rows[0]), role=role)
