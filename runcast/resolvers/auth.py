"""Bearer tokens, callers and workspace roles."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from tortoise.expressions import Q

from runcast.errors import Forbidden, Unauthorized, WorkspaceNotFound
from runcast.models import ApiToken, Membership, Role, User, Workspace

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
    record = (
        await ApiToken.filter(token_hash=hash_token(token))
        .select_related("user")
        .only("user__id", "user__name")
        .first()
    )
    if record is None:
        raise Unauthorized("Invalid or expired token")
    return Caller(user_id=record.user.id, user_name=record.user.name)


async def require_role(caller: Caller, workspace_ref: str, minimum: Role) -> Access:
    """Check that `caller` holds at least `minimum` in the workspace named by slug or id."""
    membership = (
        await Membership.filter(user_id=caller.user_id)
        .filter(Q(workspace__slug=workspace_ref) | Q(workspace_id=workspace_ref))
        .select_related("workspace")
        .first()
    )
    if membership is None:
        exists = await Workspace.filter(Q(slug=workspace_ref) | Q(id=workspace_ref)).exists()
        if not exists:
            raise WorkspaceNotFound(f"Workspace {workspace_ref!r} not found")
        raise Forbidden("You are not a member of this workspace")
    role = Role(membership.role)
    if role.rank < minimum.rank:
        raise Forbidden(f"This needs the {minimum.value} role; you are {role.value}")
    return Access(caller=caller, workspace=membership.workspace, role=role)
