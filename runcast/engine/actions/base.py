"""What an action handler receives and returns."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runcast.engine.http_guard import HttpPolicy
from runcast.store.interface import StoredRow

__all__ = [
    "ActionContext",
    "ActionResult",
    "ConfigValidator",
    "Handler",
    "StoredRow",
    "StoringResult",
]


@dataclass(frozen=True)
class ActionContext:
    """Everything a handler may read about the execution it runs in.

    `steps` maps earlier action ids to `{status, output, error}`; `scope` is what templates
    resolve against; `idempotency_key` (`<executionId>:<actionId>`) stays the same when a
    step runs again after a crash.
    """

    execution_id: str
    workspace_id: str
    workflow_id: str
    action_id: str
    trigger_data: Mapping[str, Any]
    variables: Mapping[str, Any]
    steps: Mapping[str, Any]
    dry_run: bool
    idempotency_key: str
    step_started_at: datetime
    scope: Mapping[str, Any]
    attempt: int = 1
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("runcast.actions"))
    http: HttpPolicy | None = None


@dataclass(frozen=True)
class ActionResult:
    """A handler's answer: `success`, an `output` object, and an `error` when it failed.

    `retry_after_s` lets a handler ask for a particular delay before the next retry;
    `retryable=False` says that retrying cannot help (for example an HTTP 404).
    """

    success: bool
    output: dict[str, Any] | None = None
    error: str | None = None
    retryable: bool = True
    retry_after_s: float | None = None


@dataclass(frozen=True)
class StoringResult(ActionResult):
    """A built-in action's success with rows (its task, its notification) stored in the same
    transaction as its step's result, so they exist exactly when the result does; a row
    whose key is already stored is left alone. Not public: the built-ins' rows are known
    to fit their tables, and a row that did not would fail the step's commit itself."""

    rows: tuple[StoredRow, ...] = ()


Handler = Callable[[dict[str, Any], ActionContext], Awaitable[ActionResult | Mapping[str, Any]]]
ConfigValidator = Callable[[dict[str, Any]], list[str]]
