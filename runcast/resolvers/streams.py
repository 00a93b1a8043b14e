"""Who may stream what, and from where: the checks the SSE route and the subscriptions share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runcast.domain.callers import Caller
from runcast.domain.clock import iso, utcnow
from runcast.domain.enums import FINAL_EXECUTION_STATUSES
from runcast.errors import ValidationError
from runcast.models import Role
from runcast.resolvers.auth import require_role
from runcast.resolvers.executions import get_execution_in
from runcast.resolvers.workflows import get_workflow_in

MAX_EVENT_ID_DIGITS = 18


@dataclass(frozen=True)
class StreamStart:
    """An authorized execution stream: where it resumes, and whether anything is left."""

    execution_id: str
    after: int
    finished: bool
    last_seq: int

    @property
    def nothing_left(self) -> bool:
        """The execution is finished and the client has seen its last event already."""
        return self.finished and self.after >= self.last_seq


def parse_event_id(raw: str | None) -> int | None:
    """A `Last-Event-ID` / `lastEventId` value: None when absent, else a seq (400 if bad)."""
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > MAX_EVENT_ID_DIGITS:
        raise ValidationError(
            "lastEventId: must be a non-negative integer", [{"field": "lastEventId"}]
        )
    return int(value)


async def open_execution_stream(
    caller: Caller, workspace: str, execution_id: str, after: int | None
) -> StreamStart:
    """Check that `caller` may watch the execution (VIEWER) and that `after` is a seq it
    could have seen; checked again on every (re)connect."""
    access = await require_role(caller, workspace, Role.VIEWER)
    execution = await get_execution_in(access, execution_id)
    after = after or 0
    finished = execution.status in FINAL_EXECUTION_STATUSES
    if after < 0 or (after > execution.last_seq and not finished):
        raise ValidationError(
            f"lastEventId: the execution's last event is {execution.last_seq}",
            [{"field": "lastEventId"}],
        )
    return StreamStart(execution.id, after, finished, execution.last_seq)


async def open_workspace_stream(caller: Caller, workspace: str) -> str:
    """Check that `caller` may watch the workspace (VIEWER); return its id."""
    access = await require_role(caller, workspace, Role.VIEWER)
    return str(access.workspace.id)


async def open_workflow_stream(caller: Caller, workspace: str, workflow_id: str) -> tuple[str, str]:
    """Check that `caller` may watch the workflow's executions (VIEWER) and that the
    workflow is the workspace's (WORKFLOW_NOT_FOUND otherwise); return both ids."""
    access = await require_role(caller, workspace, Role.VIEWER)
    workflow = await get_workflow_in(access, workflow_id)
    return str(access.workspace.id), str(workflow.id)


def connected_event(execution_id: str) -> dict[str, Any]:
    """The `connected` payload every execution stream opens with."""
    return {"executionId": execution_id, "timestamp": iso(utcnow())}
