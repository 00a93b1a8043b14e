"""A live server and real objects for the fuzz stage."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Tokens
from tests.fuzz.world import World, build_world


@pytest.fixture
async def world(client: httpx.AsyncClient, tokens: Tokens) -> World:
    return await build_world(client, tokens)
