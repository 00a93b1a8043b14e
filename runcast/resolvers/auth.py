"""Bearer tokens, callers and workspace roles."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

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


MEMBERSHIPS_WITH_TOKEN = 10
"""A token's check also reads its user's memberships when they are at most this many, so
that the role check of the same request needs no query of its own."""

FRESH_S = 1.0


@dataclass(frozen=True)
class _Read:
    """Memberships read with a token: by whom, in which task, and when."""

    task: asyncio.Task[Any] | None
    at: float
    caller: Caller
    standings: dict[str, reads.Standing]


_read_with_token: ContextVar[_Read | None] = ContextVar("runcast_memberships", default=None)


async def authenticate(token: str | None) -> Caller:
    """Return the caller holding `token`, or raise 401."""
    if not token or len(token) > 200:
        raise Unauthorized()
    found = await reads.credentials(hash_token(token), MEMBERSHIPS_WITH_TOKEN)
    if found is None:
        raise Unauthorized("Invalid or expired token")
    if found.standings is not None:
        task = asyncio.current_task()
        _read_with_token.set(_Read(task, time.monotonic(), found.caller, found.standings))
    return found.caller


def _standing_read_with_token(
    caller: Caller, workspace_ref: str
) -> tuple[bool, reads.Standing | None]:
    """(True, standing or None) when this request's token check read `caller`'s
    memberships: in the same task (so not a later operation on a websocket that
    authenticated once) and at most `FRESH_S` ago; (False, None) otherwise."""
    read = _read_with_token.get()
    if (
        read is None
        or read.caller != caller
        or read.task is not asyncio.current_task()
        or time.monotonic() - read.at > FRESH_S
    ):
        return False, None
    return True, read.standings.get(workspace_ref)


async def require_role(caller: Caller, workspace_ref: str, minimum: Role) -> Access:
    """Check that `caller` holds at least `minimum` in the workspace named by slug or id."""
    if not is_workspace_ref(workspace_ref):
        raise WorkspaceNotFound(f"Workspace {workspace_ref[:100]!r} not found")
    known, standing = _standing_read_with_token(caller, workspace_ref)
    if not known:
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
