"""A no-op custom action for the benchmarks, loaded through RUNCAST_PLUGINS."""

from __future__ import annotations

from typing import Any

import runcast


async def noop(action: dict[str, Any], context: runcast.ActionContext) -> runcast.ActionResult:
    return runcast.ActionResult(True, {"ok": True})


runcast.register_action_handler("noop", noop, dry_run=True)
