"""Tortoise models, one module per aggregate. Migrations live in `runcast.migrations`."""

from runcast.domain.enums import Role
from runcast.models.execution import Execution, ExecutionEvent, StepRun
from runcast.models.outputs import Notification, Task
from runcast.models.schedule import Schedule
from runcast.models.workflow import Workflow
from runcast.models.workspace import ApiToken, Membership, User, Workspace

__all__ = [
    "ApiToken",
    "Execution",
    "ExecutionEvent",
    "Membership",
    "Notification",
    "Role",
    "Schedule",
    "StepRun",
    "Task",
    "User",
    "Workflow",
    "Workspace",
]
