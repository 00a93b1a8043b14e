"""Per-request (or per-websocket) GraphQL context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.websockets import WebSocket

from runcast.domain.callers import Caller
from runcast.resolvers.auth import authenticate, bearer_from_header
from runcast.schema.loaders import Loaders, loaders_for
from runcast.settings import Settings


@dataclass
class Context:
    request: Request | WebSocket
    settings: Settings
    token: str | None
    connection_params: Any = None
    _caller: Caller | None = field(default=None, repr=False)
    _loaders: Loaders | None = field(default=None, repr=False)

    async def caller(self) -> Caller:
        """The authenticated caller (401 when the token is missing or unknown)."""
        if self._caller is None:
            self._caller = await authenticate(self.token)
        return self._caller

    async def loaders(self) -> Loaders:
        """The batch loaders of this request, reading what the caller may read. A
        websocket's context lasts for all its operations, so there they batch but do not
        cache: a later operation reads the rows afresh."""
        caller = await self.caller()
        if self._loaders is None:
            self._loaders = loaders_for(caller.user_id, cache=isinstance(self.request, Request))
        return self._loaders

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
