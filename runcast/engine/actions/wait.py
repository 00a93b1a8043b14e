"""`wait`: sleeps for `durationMs` (only the remaining time when a step is resumed)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from runcast.engine.actions.base import ActionContext, ActionResult
from runcast.engine.actions.checks import is_integer, is_whole_template, unknown_keys
from runcast.engine.actions.registry import ActionType

SETTING = ("a wait setting", "wait settings")
KEYS = ("durationMs",)
MAX_WAIT_MS = 7 * 24 * 3600 * 1000


def _duration(value: Any) -> int | None:
    """Whole milliseconds within range, else None (1.5, "10", true and -1 are not)."""
    if not is_integer(value) or not 0 <= value <= MAX_WAIT_MS:
        return None
    return int(value)


def validate(config: dict[str, Any]) -> list[str]:
    errors = unknown_keys(config, KEYS, SETTING, "config.")
    value = config.get("durationMs")
    if not is_whole_template(value) and _duration(value) is None:
        errors.append(
            f"config.durationMs is required: an integer of milliseconds from 0 to "
            f"{MAX_WAIT_MS}, or a string that is exactly one {{{{ template }}}}"
        )
    return errors


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
