"""A live server and real objects for the fuzz stage."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from tests.conftest import Tokens, start_server, stop_server
from tests.fuzz.world import World, build_world


@pytest.fixture
async def live(app: Starlette) -> AsyncIterator[str]:
    """A real uvicorn: streams are read only as far as their headers, and a dropped
    connection shows as what it is."""
    server = await start_server(app)
    try:
        yield server.url
    finally:
        await stop_server(server)


@pytest.fixture
async def world(client: httpx.AsyncClient, tokens: Tokens) -> World:
    return await build_world(client, tokens)
