"""Per-request (or per-websocket) GraphQL context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket

from runcast.domain.callers import Caller
from runcast.resolvers.auth import authenticate, bearer_from_header
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
