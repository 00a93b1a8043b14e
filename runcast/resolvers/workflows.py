"""Workflow definitions: create, list, get, update, delete."""

from __future__ import annotations

from typing import Any

from runcast.domain import records
from runcast.domain.callers import Caller
from runcast.domain.enums import WorkflowStatus
from runcast.errors import WorkflowNotFound
from runcast.ids import is_wellformed_id, new_id
from runcast.models import Role, Workflow
from runcast.resolvers import records as to_record
from runcast.resolvers.auth import Access, require_role
from runcast.resolvers.schedule_sync import sync_schedule
from runcast.resolvers.triggers import ensure_hook_id
from runcast.resolvers.workflow_input import parse_create, parse_update
from runcast.store import statements


async def get_workflow_in(access: Access, workflow_id: str) -> Workflow:
    """The workflow with this id in the caller's workspace, or 404."""
    workflow = None
    if is_wellformed_id(workflow_id):
        workflow = await statements.get_in_workspace(Workflow, workflow_id, access.workspace.id)
    if workflow is None:
        raise WorkflowNotFound(f"Workflow {workflow_id!r} not found")
    return workflow


async def list_workflows(caller: Caller, workspace: str) -> list[records.Workflow]:
    access = await require_role(caller, workspace, Role.VIEWER)
    rows = await Workflow.filter(workspace_id=access.workspace.id).order_by("-created_at", "id")
    return [to_record.workflow(row) for row in rows]


async def get_workflow(caller: Caller, workspace: str, workflow_id: str) -> records.Workflow:
    access = await require_role(caller, workspace, Role.VIEWER)
    return to_record.workflow(await get_workflow_in(access, workflow_id))


async def create_workflow(caller: Caller, workspace: str, body: Any) -> records.Workflow:
    access = await require_role(caller, workspace, Role.ADMIN)
    fields = parse_create(body)
    workflow = await Workflow.create(id=new_id("wf"), workspace=access.workspace, **fields)
    await sync_schedule(workflow, was_active=False)
    return to_record.workflow(workflow)


async def update_workflow(
    caller: Caller, workspace: str, workflow_id: str, body: Any
) -> records.Workflow:
    access = await require_role(caller, workspace, Role.ADMIN)
    workflow = await get_workflow_in(access, workflow_id)
    changes = parse_update(body)
    if changes:
        was_active = workflow.status == WorkflowStatus.ACTIVE
        workflow.update_from_dict(changes)
        ensure_hook_id(workflow)
        await workflow.save()
        await sync_schedule(workflow, was_active)
    return to_record.workflow(workflow)


async def delete_workflow(caller: Caller, workspace: str, workflow_id: str) -> records.Workflow:
    """Delete a workflow with its execution history; answers what was deleted."""
    access = await require_role(caller, workspace, Role.ADMIN)
    workflow = await get_workflow_in(access, workflow_id)
    view = to_record.workflow(workflow)
    await workflow.delete()
    return view
