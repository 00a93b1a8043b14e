"""A no-op custom action for the benchmarks, loaded through RUNCAST_PLUGINS."""

from __future__ import annotations

import os
from typing import Any

import runcast


async def noop(action: dict[str, Any], context: runcast.ActionContext) -> runcast.ActionResult:
    return runcast.ActionResult(True, {"ok": True})


runcast.register_action_handler("noop", noop, dry_run=True)

if os.environ.get("BENCH_PROBE_DIR"):
    from bench.probe import install

    install(os.environ["BENCH_PROBE_DIR"])
