"""Request parsing and error responses shared by every REST route."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runcast.domain.callers import Caller
from runcast.errors import RuncastError
from runcast.jsonsafe import parse_json
from runcast.resolvers.auth import authenticate, bearer_from_header

logger = logging.getLogger("runcast.rest")

Endpoint = Callable[[Request], Awaitable[Response]]


async def caller_of(request: Request) -> Caller:
    """Authenticate the request's bearer token."""
    return await authenticate(bearer_from_header(request.headers.get("authorization")))


async def read_json(request: Request, *, empty: Any = None) -> Any:
    """Parse the body as JSON (its size is capped by `rest.limits.BodyLimit`)."""
    raw = await request.body()
    if not raw.strip():
        return empty
    return parse_json(raw)


def json_response(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status_code)


def error_response(error: RuncastError) -> JSONResponse:
    return JSONResponse(error.to_body(), status_code=error.http_status)


async def handle_errors(request: Request, exc: Exception) -> Response:
    """Turn any exception into the contract's JSON error body; never leak a traceback."""
    if isinstance(exc, RuncastError):
        return error_response(exc)
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    body = {"error": {"code": "INTERNAL_ERROR", "message": "Internal server error"}}
    return JSONResponse(body, status_code=500)


async def handle_http_errors(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 answers, in the contract's JSON error shape."""
    assert isinstance(exc, HTTPException)
    codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
    body = {"error": {"code": codes.get(exc.status_code, "HTTP_ERROR"), "message": exc.detail}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
