"""Simulated process deaths around an action's handler, through the action registry (the
seam the runner finds handlers by), so crash tests need no private method of the runner."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from runcast import ActionContext
from runcast.engine import runner as runner_module
from runcast.engine.actions.registry import ActionType


class Crash(BaseException):
    """Stands for the process dying: nothing in the engine catches it."""


def crash_once(
    monkeypatch: pytest.MonkeyPatch,
    when: Callable[[ActionContext], bool],
    *,
    after_handler: bool = False,
) -> None:
    """Raise `Crash` once, before (or with `after_handler`, after) the first handler call
    whose context matches `when`."""
    original = runner_module.get_action_type
    fired: list[bool] = []

    def crashing(name: str) -> ActionType | None:
        found = original(name)
        if found is None:
            return None
        inner = found.handler

        async def handler(action: dict[str, Any], context: ActionContext) -> Any:
            hit = not fired and when(context)
            if hit and not after_handler:
                fired.append(True)
                raise Crash()
            result = await inner(action, context)
            if hit:
                fired.append(True)
                raise Crash()
            return result

        return dataclasses.replace(found, handler=handler)

    monkeypatch.setattr(runner_module, "get_action_type", crashing)
