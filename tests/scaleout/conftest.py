"""The `cluster` fixture: real nodes on a database of their own, dropped afterwards."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.backends import POSTGRES_URL, REDIS_URL, require
from tests.scaleout.cluster import Cluster, create_database, drop_database


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    admin_url = require("postgres", POSTGRES_URL)
    redis_url = require("redis", REDIS_URL)
    name = f"runcast_nodes_{os.getpid()}"
    cluster = Cluster(create_database(admin_url, name), redis_url, tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop()
        drop_database(admin_url, name)
