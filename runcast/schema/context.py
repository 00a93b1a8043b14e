"""Per-request (or per-websocket) GraphQL context and the view that builds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,  # strawberry's own way to end an operation it has closed
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)
from strawberry.types.execution import PreExecutionError

from runcast.errors import Forbidden, Unauthorized
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


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with the contract's close codes: 4401 when `connection_init`
    has no valid token, 4403 when a subscription is FORBIDDEN."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Unauthorized as exc:
            await self.websocket.close(code=4401, reason=exc.message)

    async def _handle_pre_execution_error(
        self, operation: Operation[Context, None], result: PreExecutionError
    ) -> None:
        codes = {(error.extensions or {}).get("code") for error in result.errors or []}
        if Forbidden.code in codes:
            await self.websocket.close(code=4403, reason="Forbidden")
            self.operations.pop(operation.id, None)
            raise _OperationStreamClosed
        await super()._handle_pre_execution_error(operation, result)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws: a `connection_init` without a valid token gets `connection_error`."""

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Unauthorized as exc:
            await self.send_message(
                {"type": "connection_error", "payload": {"code": exc.code, "message": exc.message}}
            )
            await self.websocket.close(code=4401, reason=exc.message)


class RuncastGraphQL(GraphQL):
    """Strawberry's ASGI view with runcast's context and websocket authentication."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:  # type: ignore[override]
        settings: Settings = request.app.state.settings
        if isinstance(request, WebSocket):
            return Context(request=request, settings=settings, token=None)
        token = bearer_from_header(request.headers.get("authorization"))
        return Context(request=request, settings=settings, token=token)

    async def on_ws_connect(self, context: Context) -> Any:  # type: ignore[override]
        """Authenticate from `connection_init`; the handlers refuse an Unauthorized."""
        context.token = token_from_params(context.connection_params)
        await context.caller()
        return None
