"""Per-request (or per-websocket) GraphQL context and the view that builds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from runcast.errors import RuncastError
from runcast.resolvers.auth import Caller, authenticate, bearer_from_header
from runcast.settings import Settings


@dataclass
class Context:
    request: Request | WebSocket
    settings: Settings
    token: str | None
    connection_params: Any = None
    _caller: Caller | None = field(default=None, repr=False)

    async def caller(self) -> Caller:
        """The authenticated caller (401 when the token is missing or unknown)."""
        if self._caller is None:
            self._caller = await authenticate(self.token)
        return self._caller

    @property
    def app_state(self) -> Any:
        return self.request.app.state


def token_from_params(params: Any) -> str | None:
    """The bearer token of a websocket's `connection_init` payload."""
    if not isinstance(params, dict):
        return None
    for key in ("authorization", "Authorization"):
        value = params.get(key)
        if isinstance(value, str):
            return bearer_from_header(value) or value.strip() or None
    token = params.get("token")
    return token if isinstance(token, str) and token else None


class RuncastGraphQL(GraphQL):
    """Strawberry's ASGI view with runcast's context and websocket authentication."""

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:  # type: ignore[override]
        settings: Settings = request.app.state.settings
        if isinstance(request, WebSocket):
            return Context(request=request, settings=settings, token=None)
        token = bearer_from_header(request.headers.get("authorization"))
        return Context(request=request, settings=settings, token=token)

    async def on_ws_connect(self, context: Context) -> Any:  # type: ignore[override]
        """Authenticate from `connection_init`; refuse the connection when it fails."""
        context.token = token_from_params(context.connection_params)
        try:
            await context.caller()
        except RuncastError as exc:
            raise ConnectionRejectionError({"code": exc.code, "message": exc.message}) from None
        return None
