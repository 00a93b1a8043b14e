"""Request parsing and error responses shared by every REST route."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from runcast.errors import RuncastError, ValidationError
from runcast.jsonsafe import json_problem
from runcast.resolvers.auth import Caller, authenticate, bearer_from_header

logger = logging.getLogger("runcast.rest")

Endpoint = Callable[[Request], Awaitable[Response]]


async def caller_of(request: Request) -> Caller:
    """Authenticate the request's bearer token."""
    return await authenticate(bearer_from_header(request.headers.get("authorization")))


async def read_json(request: Request, *, empty: Any = None) -> Any:
    """Parse the body as JSON, refusing bodies over the configured size with 400."""
    limit: int = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ValidationError(f"The request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ValidationError(f"The request body is larger than {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return empty
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"The request body is not valid JSON: {exc}") from None
    problem = json_problem(body)
    if problem is not None:
        raise ValidationError(f"The request body is {problem}")
    return body


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
