"""A real local HTTP server that `call_api` steps talk to; it records what it received."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.conftest import LiveServer, start_server, stop_server


@dataclass
class Received:
    path: str
    method: str
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class Receiver:
    """What the server saw, and how it should answer."""

    requests: list[Received] = field(default_factory=list)
    fail_times: dict[str, int] = field(default_factory=dict)
    url: str = ""

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode()
        path = request.url.path
        self.requests.append(
            Received(path, request.method, dict(request.headers), body, time.monotonic())
        )
        if path.startswith("/status/"):
            return JSONResponse({"error": "as asked"}, status_code=int(path.rsplit("/", 1)[1]))
        if path == "/flaky":
            remaining = self.fail_times.get(path, 0)
            if remaining > 0:
                self.fail_times[path] = remaining - 1
                return JSONResponse({"error": "try again"}, status_code=503)
        if path == "/retry-after":
            if len(self.to(path)) == 1:
                return JSONResponse({}, status_code=429, headers={"Retry-After": "1"})
        if path == "/hang":
            await asyncio.sleep(3600)
        if path == "/redirect":
            return RedirectResponse(request.query_params["to"], status_code=302)
        return JSONResponse({"ok": True, "received": body}, headers={"X-Request-Id": "r-1"})


@asynccontextmanager
async def running_receiver(host: str = "127.0.0.1") -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = Starlette(
        routes=[
            Route(
                "/{path:path}", receiver.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
            )
        ]
    )
    live: LiveServer = await start_server(app, host=host)
    receiver.url = live.url
    try:
        yield receiver
    finally:
        await stop_server(live)
