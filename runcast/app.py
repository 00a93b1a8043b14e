"""The ASGI application: routes, middleware and the lifespan that owns every resource."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from tortoise.contrib.starlette import RegisterTortoise

from runcast.bootstrap import ensure_admin_token
from runcast.db import apply_migrations, sqlite_file, sqlite_pragmas, tortoise_config
from runcast.engine.actions.registry import load_plugins
from runcast.engine.http_guard import create_http_policy
from runcast.engine.scheduler import Engine
from runcast.errors import RuncastError
from runcast.events.bus import EventBus
from runcast.events.hub import Hub
from runcast.resolvers.events import ExecutionEvents
from runcast.resolvers.schedules import schedule_loop as new_schedule_loop
from runcast.rest import events as rest_events
from runcast.rest import executions as rest_executions
from runcast.rest import history as rest_history
from runcast.rest import hooks as rest_hooks
from runcast.rest import schedules as rest_schedules
from runcast.rest import stream as rest_stream
from runcast.rest import workflows as rest_workflows
from runcast.rest import workspace_stream as rest_workspace_stream
from runcast.rest.common import handle_errors, handle_http_errors
from runcast.rest.limits import BodyLimit
from runcast.schema import build_schema
from runcast.schema.view import RuncastGraphQL
from runcast.settings import Settings
from runcast.store import reads
from runcast.store.checkpoints import Checkpointer
from runcast.store.executions import SqlExecutionStore
from runcast.store.statements import close_sqlite, open_sqlite

logger = logging.getLogger("runcast")

SHUTDOWN_DRAIN_S = 2.0
"""How long shutdown waits for built-in execution events under way."""


async def healthz(request: Request) -> Response:
    """200 once the database and the broadcast answer, 503 otherwise (the broadcast's
    state is the watchdog's last check)."""
    state = request.app.state
    try:
        await reads.ping()
        healthy = state.ready and state.hub.healthy
    except Exception:
        healthy = False
    if not healthy:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the runcast application for `settings` (default: from the environment)."""
    settings = settings or Settings.from_env()
    load_plugins(settings.plugins)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.ready = False
        await apply_migrations(settings.database_url)
        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            if settings.admin_token:
                await ensure_admin_token(settings.admin_token)
            hub = Hub(settings.broadcast_url)
            await hub.start()
            http = create_http_policy(settings.allow_private_network)
            engine = Engine(settings, SqlExecutionStore(), EventBus(hub.broadcast), hub, http)
            execution_events = ExecutionEvents(engine)
            engine.on_finished = execution_events.finished
            app.state.hub = hub
            app.state.engine = engine
            store = await open_sqlite(settings.database_url)
            database_file = sqlite_file(settings.database_url)
            checkpointer = None
            if database_file is not None:
                resets_on = store.between_trips if store is not None else None
                size_limit = int(sqlite_pragmas(settings.database_url)["journal_size_limit"])
                checkpointer = Checkpointer(
                    database_file, resets_on=resets_on, size_limit=size_limit
                )
                await checkpointer.start()
            app.state.checkpointer = checkpointer
            await engine.start(embedded=settings.database_url.startswith("sqlite"))
            schedule_loop = new_schedule_loop(engine, settings.schedule_poll_seconds)
            await schedule_loop.start()
            app.state.ready = True
            try:
                yield
            finally:
                app.state.ready = False
                await schedule_loop.stop()
                # Emissions before `engine.stop`, with a live database: a follower they
                # start is stored PENDING for another node, never run here after the stop.
                engine.stop_starting()
                await execution_events.drain(SHUTDOWN_DRAIN_S)
                await engine.stop()
                await http.aclose()
                await hub.stop()
                if store is not None:
                    await close_sqlite(store)
                if checkpointer is not None:
                    await checkpointer.stop()

    graphql = RuncastGraphQL(
        build_schema(),
        allowed_origins=settings.cors_origins,
        max_response_bytes=settings.graphql_max_response_bytes,
    )
    api_routes = [
        *rest_stream.ROUTES,
        *rest_workspace_stream.ROUTES,
        *rest_executions.ROUTES,
        *rest_history.ROUTES,
        *rest_workflows.ROUTES,
        *rest_hooks.ROUTES,
        *rest_events.ROUTES,
        *rest_schedules.ROUTES,
    ]
    middleware = [Middleware(BodyLimit, max_bytes=settings.max_body_bytes)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
            )
        )
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Mount("/api", routes=api_routes),
            *rest_hooks.HOOK_ROUTES,
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
        ],
        middleware=middleware,
        exception_handlers={
            RuncastError: handle_errors,
            HTTPException: handle_http_errors,
            Exception: handle_errors,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.ready = False
    return app
