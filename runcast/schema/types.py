"""GraphQL object and input types. Objects are built from the resolvers' wire dicts."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON


@strawberry.type
class Action:
    id: str
    type: str
    name: str | None
    config: JSON
    on_error: str
    timeout: int | None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Action:
        return cls(
            id=data["id"],
            type=data["type"],
            name=data.get("name"),
            config=data.get("config", {}),
            on_error=data.get("onError", "stop"),
            timeout=data.get("timeout"),
        )


@strawberry.type
class Workflow:
    id: str
    workspace_id: str
    name: str
    description: str | None
    status: str
    trigger: JSON
    timeout_ms: int | None
    actions: list[Action]
    created_at: str
    updated_at: str

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Workflow:
        return cls(
            id=data["id"],
            workspace_id=data["workspaceId"],
            name=data["name"],
            description=data["description"],
            status=data["status"],
            trigger=data["trigger"],
            timeout_ms=data["timeoutMs"],
            actions=[Action.from_wire(a) for a in data["actions"]],
            created_at=data["createdAt"],
            updated_at=data["updatedAt"],
        )


@strawberry.type
class Task:
    id: str
    execution_id: str | None
    title: str
    description: str | None
    priority: str | None
    assigned_to: str | None
    status: str
    created_at: str

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Task:
        return cls(
            id=data["id"],
            execution_id=data["executionId"],
            title=data["title"],
            description=data["description"],
            priority=data["priority"],
            assigned_to=data["assignedTo"],
            status=data["status"],
            created_at=data["createdAt"],
        )


@strawberry.type
class Notification:
    id: str
    execution_id: str | None
    message: str
    recipient: str | None
    created_at: str

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Notification:
        return cls(
            id=data["id"],
            execution_id=data["executionId"],
            message=data["message"],
            recipient=data["recipient"],
            created_at=data["createdAt"],
        )


@strawberry.type
class Me:
    id: str
    name: str
    memberships: JSON


@strawberry.input
class ActionInput:
    type: str
    id: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    config: JSON | None = strawberry.UNSET
    on_error: str | None = strawberry.UNSET
    timeout: int | None = strawberry.UNSET


@strawberry.input
class WorkflowInput:
    """Fields of a workflow; on update only the given ones change."""

    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    status: str | None = strawberry.UNSET
    trigger: JSON | None = strawberry.UNSET
    timeout_ms: int | None = strawberry.UNSET
    actions: list[ActionInput] | None = strawberry.UNSET


_WIRE_NAMES = {"on_error": "onError", "timeout_ms": "timeoutMs"}


def to_wire(value: Any) -> Any:
    """Turn a Strawberry input into the JSON body REST would have received."""
    if isinstance(value, list):
        return [to_wire(item) for item in value]
    if hasattr(value, "__strawberry_definition__"):
        return {
            _WIRE_NAMES.get(name, name): to_wire(item)
            for name, item in vars(value).items()
            if item is not strawberry.UNSET
        }
    return value
