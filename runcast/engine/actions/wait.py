"""`wait`: sleeps for `durationMs` (only the remaining time when a step is resumed)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from runcast.engine.actions.base import ActionContext, ActionResult
from runcast.engine.actions.checks import is_template
from runcast.engine.actions.registry import ActionType

MAX_WAIT_MS = 7 * 24 * 3600 * 1000


def _duration(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        duration = int(float(value))
    except (ValueError, OverflowError):
        return None
    return duration if 0 <= duration <= MAX_WAIT_MS else None


def validate(config: dict[str, Any]) -> list[str]:
    value = config.get("durationMs")
    if is_template(value) or (_duration(value) is not None and not isinstance(value, str)):
        return []
    return [f"config.durationMs is required: a number of milliseconds from 0 to {MAX_WAIT_MS}"]


async def run(action: dict[str, Any], context: ActionContext) -> ActionResult:
    duration = _duration(action["config"].get("durationMs"))
    if duration is None:
        return ActionResult(False, error="durationMs rendered to an invalid value", retryable=False)
    if context.dry_run:
        return ActionResult(True, {"waitedMs": 0, "durationMs": duration, "simulated": True})
    # Sleep until the wall-clock end, which step durations are measured in (the loop's
    # monotonic clock may wake a hair earlier).
    until = context.step_started_at + timedelta(milliseconds=duration)
    while (remaining_s := (until - datetime.now(UTC)).total_seconds()) > 0:  # noqa: ASYNC110
        await asyncio.sleep(remaining_s)
    return ActionResult(True, {"waitedMs": duration, "durationMs": duration})


ACTION = ActionType("wait", run, validate, dry_run=True, builtin=True)
