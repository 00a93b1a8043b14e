"""Bounds on request bodies for every HTTP route, GraphQL included: their size and the time
the client takes to send them."""

from __future__ import annotations

import asyncio

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runcast.errors import RequestTimeout, ValidationError


class BodyLimit:
    """Refuse bodies over `max_bytes` with 400 VALIDATION_ERROR, declared or streamed.

    The refusal is raised from `receive`, where the app reads the body, so each endpoint
    answers it in its own shape (REST's error body, GraphQL's `errors`); a declared length
    over the cap is refused before a byte of the body is read."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = ValidationError(f"The request body is larger than {self.max_bytes} bytes")
        declared = dict(scope["headers"]).get(b"content-length", b"")
        received = 0

        async def limited() -> Message:
            nonlocal received
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise too_large
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise too_large
            return message

        await self.app(scope, limited, send)


class BodyTimeout:
    """Answer 408 REQUEST_TIMEOUT, and close the connection, when a request body is not
    complete `seconds` after its headers.

    The deadline covers the whole body, not each chunk, so a client trickling a byte at a
    time is cut off too. It only applies while body is still expected: once the last chunk
    (or a disconnect) has arrived, `receive` waits as long as the app likes (a streaming
    response waits on it for the client's disconnect). uvicorn has no such timeout; this
    wraps `receive`, the only place an ASGI server hands the body over.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.seconds
        body_complete = False
        timed_out = False
        response_started = False

        async def timed() -> Message:
            nonlocal body_complete, timed_out
            if body_complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                raise RequestTimeout(
                    f"The request body was not received within {self.seconds:g} seconds"
                ) from None
            body_complete = message["type"] != "http.request" or not message.get("more_body")
            return message

        async def closing(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                if timed_out:
                    headers = [*message.get("headers", []), (b"connection", b"close")]
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, timed, closing)
        except RequestTimeout as exc:
            if response_started:
                raise
            response = JSONResponse(exc.to_body(), exc.http_status, {"connection": "close"})
            await response(scope, receive, send)
