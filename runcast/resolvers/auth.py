"""Bearer tokens, callers and workspace roles."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from tortoise.expressions import Q

from runcast.domain.callers import Caller
from runcast.errors import Forbidden, Unauthorized, WorkspaceNotFound
from runcast.ids import is_wellformed_id, is_workspace_ref
from runcast.models import ApiToken, Role, User, Workspace
from runcast.store import reads

TOKEN_PREFIX = "rc_"


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
    caller = await reads.caller_for_token(hash_token(token))
    if caller is None:
        raise Unauthorized("Invalid or expired token")
    return caller


async def require_role(caller: Caller, workspace_ref: str, minimum: Role) -> Access:
    """Check that `caller` holds at least `minimum` in the workspace named by slug or id."""
    if not is_workspace_ref(workspace_ref):
        raise WorkspaceNotFound(f"Workspace {workspace_ref[:100]!r} not found")
    standing = await reads.membership(caller.user_id, workspace_ref)
    if standing is None:
        named = Q(slug=workspace_ref)
        if is_wellformed_id(workspace_ref):
            named |= Q(id=workspace_ref)
        exists = await Workspace.filter(named).exists()
        if not exists:
            raise WorkspaceNotFound(f"Workspace {workspace_ref!r} not found")
        raise Forbidden("You are not a member of this workspace")
    role = standing.role
    if role.rank < minimum.rank:
        raise Forbidden(f"This needs the {minimum.value} role; you are {role.value}")
    return Access(caller=caller, workspace=standing.workspace, role=role)
