"""`node(id)` and `nodes(ids)`: any workflow, execution, task, notification or workspace by
its global id, whose type prefix (`wf_`, `exec_`, `task_`, `ntf_`, `ws_`) names its kind.

Access is the direct queries' rule (a member of the object's workspace, any role, reads
it), applied by the loaders' statements: another workspace's object, an unknown id, a
malformed one or one with an unknown prefix is null with a NOT_FOUND error at its path,
so an answer never tells whether an object the caller may not read exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from runcast.domain.enums import Role
from runcast.errors import ObjectNotFound, ValidationError
from runcast.ids import is_wellformed_id
from runcast.resolvers.auth import require_role
from runcast.schema.context import Context
from runcast.schema.loaders import Loaders, MemberWorkspace
from runcast.schema.types import Node, Workspace, reads

MAX_NODES = 100

LOADER_BY_PREFIX: dict[str, Callable[[Loaders], DataLoader[str, Any]]] = {
    "wf": lambda loaders: loaders.workflows,
    "exec": lambda loaders: loaders.executions,
    "task": lambda loaders: loaders.tasks,
    "ntf": lambda loaders: loaders.notifications,
    "ws": lambda loaders: loaders.workspaces,
}


async def load_node(loaders: Loaders, node_id: str) -> Any:
    """The record the id names, read through the loader of its kind; NOT_FOUND otherwise."""
    prefix, _, rest = node_id.partition("_")
    pick = LOADER_BY_PREFIX.get(prefix)
    found = None
    if pick is not None and rest and is_wellformed_id(node_id):
        found = await pick(loaders).load(node_id)
    if found is None:
        raise ObjectNotFound(f"No object with id {node_id[:100]!r}")
    return found


async def load_nodes(loaders: Loaders, node_ids: Sequence[str]) -> list[Any]:
    """The objects in the order of `node_ids`, or in the place of each one not found its
    NOT_FOUND error (graphql-core reports an exception in a list at the item's path)."""
    if len(node_ids) > MAX_NODES:
        raise ValidationError(
            f"ids: at most {MAX_NODES} per request, got {len(node_ids)}", [{"field": "ids"}]
        )
    found = await asyncio.gather(
        *(load_node(loaders, node_id) for node_id in node_ids), return_exceptions=True
    )
    return list(found)


async def _node(info: Info[Context, None], id: strawberry.ID) -> Any:
    return await load_node(await info.context.loaders(), id)


async def _nodes(info: Info[Context, None], ids: list[strawberry.ID]) -> list[Any]:
    return await load_nodes(await info.context.loaders(), ids)


@strawberry.type
class NodeQueries:
    """The root fields that reach objects by id or by workspace (part of `Query`)."""

    node: Any = strawberry.field(
        resolver=_node,
        graphql_type=Node | None,
        description="The object with this global id, or null with NOT_FOUND.",
    )
    nodes: Any = strawberry.field(
        resolver=_nodes,
        graphql_type=list[Node | None],
        description=f"The objects with these ids, in their order (at most {MAX_NODES}); each "
        "one not found is null with its own NOT_FOUND error.",
    )

    @reads(Workspace)
    async def workspace(self, info: Info[Context, None], slug: str) -> MemberWorkspace:
        """A workspace the caller belongs to, by slug or id."""
        caller = await info.context.caller()
        access = await require_role(caller, slug, Role.VIEWER)
        workspace = access.workspace
        return MemberWorkspace(workspace.id, workspace.slug, workspace.name, access.role)
