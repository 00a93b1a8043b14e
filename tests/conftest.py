"""Fixtures: a running app per test on each configured backend, tokens for every role."""

from __future__ import annotations

import asyncio
import gc
import io
import shutil
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from tortoise.backends.base.executor import EXECUTOR_CACHE

from runcast.app import create_app
from runcast.bootstrap import create_token
from runcast.db import apply_migrations
from runcast.models import Role
from runcast.settings import Settings
from tests.backends import BACKENDS, POSTGRES_URL, REDIS_URL, require
from tests.postgres import fresh_postgres
from tests.quick_server import QuickServer

SHUTDOWN_LIMIT_S = 20


@pytest.fixture(scope="session", autouse=True)
def frozen_before_tests() -> None:
    """What exists once the suite is collected (modules, tests, their parameters) is moved
    out of the garbage collector's reach, as `runcast serve` does with the built app: the
    full collections under way between tests walked ~180,000 such objects each time, ~7 %
    of the suite's time."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def shared_ssl_context() -> Iterator[None]:
    """One default TLS context for what `httpx.create_ssl_context` builds in this process:
    the apps' outbound clients (`runcast/engine/http_guard.py`) would each load the CA
    bundle again, ~20 ms, more than most tests' own work. No test opens a TLS connection
    that could tell them apart."""
    create = httpx.create_ssl_context
    shared = create()

    def reuse(
        verify: ssl.SSLContext | str | bool = True, cert: Any = None, trust_env: bool = True
    ) -> ssl.SSLContext:
        if verify is True and cert is None and trust_env:
            return shared
        return create(verify=verify, cert=cert, trust_env=trust_env)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx, "create_ssl_context", reuse)
        yield


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated once; each test starts from a copy of it."""
    path = tmp_path_factory.mktemp("template") / "runcast.db"
    asyncio.run(apply_migrations(f"sqlite://{path}"))
    return path


@pytest.fixture
async def settings(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, sqlite_template: Path
) -> Settings:
    """Test settings; `@pytest.mark.settings(name=value)` overrides fields for one test."""
    marker = request.node.get_closest_marker("settings")
    overrides = marker.kwargs if marker else {}
    fields = {"retry_base_ms": 20, "node_id": "node_test", "sse_ping_seconds": 15.0}
    base = Settings(**{**fields, **overrides})
    if backend == "sqlite":
        shutil.copyfile(sqlite_template, tmp_path / "runcast.db")
        return base.with_overrides(database_url=f"sqlite://{tmp_path / 'runcast.db'}")
    url = require("postgres", POSTGRES_URL)
    await fresh_postgres(url)
    return base.with_overrides(database_url=url, broadcast_url=REDIS_URL or "memory://")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    EXECUTOR_CACHE.clear()  # keyed by connection name, so it would mix SQL dialects
    application = create_app(settings)
    lifespan = application.router.lifespan_context(application)
    await lifespan.__aenter__()
    yield application
    try:
        async with asyncio.timeout(SHUTDOWN_LIMIT_S):
            await lifespan.__aexit__(None, None, None)
    except TimeoutError:
        pytest.fail(f"app shutdown took over {SHUTDOWN_LIMIT_S} s; tasks left:\n{_task_stacks()}")


def _task_stacks() -> str:
    """Every pending task of this loop with the place it waits at."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(limit=8, file=out)
    return out.getvalue()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://runcast.test") as c:
        yield c


@dataclass
class Tokens:
    """One token per role in workspace `acme`, and one for a member of `other` only."""

    owner: str
    admin: str
    editor: str
    viewer: str
    outsider: str

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, role)}"}


@pytest.fixture
async def tokens(app: Starlette) -> Tokens:
    return Tokens(
        owner=await create_token("olivia", "acme", Role.OWNER),
        admin=await create_token("adam", "acme", Role.ADMIN),
        editor=await create_token("eve", "acme", Role.EDITOR),
        viewer=await create_token("victor", "acme", Role.VIEWER),
        outsider=await create_token("oscar", "other", Role.OWNER),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    server: QuickServer
    task: asyncio.Task[Any]


async def start_server(asgi_app: Any, host: str = "127.0.0.1") -> LiveServer:
    """Serve `asgi_app` with uvicorn on a free loopback port in this event loop."""
    port = free_port()
    config = uvicorn.Config(
        asgi_app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = QuickServer(config)
    task = asyncio.create_task(server.serve(), name=f"uvicorn :{port}")
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no started event
        await asyncio.sleep(0.01)
    return LiveServer(url=f"http://{host}:{port}", server=server, task=task)


async def stop_server(live: LiveServer) -> None:
    live.server.stop()
    await live.task


@pytest.fixture
async def live(app: Starlette) -> AsyncIterator[str]:
    """The app served by a real uvicorn (httpx's ASGITransport would buffer an endless
    stream); its base URL."""
    server = await start_server(app)
    try:
        yield server.url
    finally:
        await stop_server(server)
