"""A live server for the stream tests (httpx's ASGITransport would buffer an endless stream)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette

import runcast
from runcast.engine.actions.base import ActionResult
from runcast.engine.actions.registry import unregister_action_handler
from runcast.events.hub import Hub


@pytest.fixture
def hub(app: Starlette) -> Hub:
    return app.state.hub  # type: ignore[no-any-return]


@pytest.fixture
def refusing_action() -> Iterator[str]:
    """A custom action type whose handler always reports failure."""

    async def refuse(action: dict, context: object) -> ActionResult:
        return ActionResult(False, error="card declined")

    runcast.register_action_handler("charge_card", refuse)
    try:
        yield "charge_card"
    finally:
        unregister_action_handler("charge_card")
