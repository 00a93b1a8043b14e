"""The GraphQL endpoint: Strawberry's ASGI view with runcast's context, authentication,
JSON boundary and error answers on HTTP and on both websocket protocols.

Every malformed request gets the protocol's own answer: on HTTP a JSON body
`{"errors": [{"message", "extensions": {"code"}}]}` with a 4xx status; on
graphql-transport-ws a 4400 close (4401 without a valid token, 4403 when FORBIDDEN); on
graphql-ws an `error` message for the operation, the connection staying open.

Each websocket operation runs with a frame sink (`NextFrames`, `DataFrames`): its
subscription's stream writes the frames of results its group already made through it,
already encoded (`multiplex.py`).

Over HTTP, requests may name their query by hash (automatic persisted queries, see
`persisted.py`). GET runs queries only; its answers without errors may be kept for
`RUNCAST_GRAPHQL_GET_MAX_AGE_SECONDS` by the caller's own cache (`private`, and
`Vary: Authorization`, since every answer depends on the token); every other answer is
`no-store`.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any, cast

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_operation_type

from runcast.errors import Forbidden, RuncastError, Unauthorized, ValidationError
from runcast.jsonsafe import parse_json
from runcast.resolvers.auth import bearer_from_header
from runcast.schema.build import CACHED_DOCUMENTS, parsed_document
from runcast.schema.context import Context, token_from_params
from runcast.schema.multiplex import FRAME_SINK, MULTIPLEXER, FrameSink, frame_head
from runcast.schema.persisted import PersistedQueries
from runcast.schema.response_size import encode_capped
from runcast.settings import Settings

HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
SUBSCRIPTIONS_OVER_WEBSOCKETS = (
    "Subscriptions are served over websockets (graphql-transport-ws or graphql-ws), not over HTTP"
)
MUTATIONS_OVER_POST = "Mutations are sent with POST, not GET"
NO_STORE = "no-store"
# How an answer that carries data starts (strawberry writes `data` first).
DATA_PREFIX = b'{"data":{'


class PostOnly(HTTPException):
    """A mutation sent with GET: 405 with `Allow: POST`."""


def error_response(
    status: int, message: str, extensions: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    """A GraphQL-over-HTTP error answer in the contract's terms, never cached."""
    body = {"errors": [{"message": message, "extensions": extensions}]}
    return JSONResponse(
        body, status_code=status, headers={**(headers or {}), "Cache-Control": NO_STORE}
    )


def cache_control(method: str, errors: bool, max_age: int) -> str:
    """GET answers without errors may be reused by the caller's own cache for `max_age`
    seconds; shared caches may not keep them (each depends on the caller's token)."""
    if method == "GET" and not errors:
        return f"private, max-age={max_age}"
    return NO_STORE


def operation_type(query: Any, operation_name: Any) -> OperationType | None:
    """The type of the operation a request names; None when the query does not parse
    (Strawberry then reports the syntax error itself)."""
    if not isinstance(query, str) or not (
        operation_name is None or isinstance(operation_name, str)
    ):
        return None
    document = parsed_document(query)
    if document is None:
        return None
    try:
        return get_operation_type(document, operation_name)
    except RuntimeError:
        return None


def _optional(payload: dict[str, Any], key: str, kind: type) -> bool:
    return payload.get(key) is None or isinstance(payload[key], kind)


def operation_payload_problem(payload: Any) -> str | None:
    """Why a websocket `subscribe`/`start` payload is malformed, or None."""
    if not isinstance(payload, dict):
        return "payload must be an object"
    if not isinstance(payload.get("query"), str):
        return "payload.query must be a string"
    if not _optional(payload, "variables", dict) or not _optional(payload, "extensions", dict):
        return "payload.variables and payload.extensions must be objects"
    if not _optional(payload, "operationName", str):
        return "payload.operationName must be a string"
    return None


def frame_problem(message: Any, operations: tuple[str, ...]) -> str | None:
    """Why a websocket frame is malformed, or None. `operations` are the message types
    that carry an operation (`subscribe`, or `start`); they and the ones that stop one
    need a string `id`."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "a message must be an object with a string type"
    if message["type"] in (*operations, "complete", "stop"):
        if not isinstance(message.get("id"), str) or not message["id"]:
            return f"a {message['type']} message needs a non-empty string id"
    if message["type"] in operations:
        return operation_payload_problem(message.get("payload"))
    return None


def with_null_payload_as_absent(message: Any) -> Any:
    """`connection_init` with `"payload": null` means no payload, as if it were absent."""
    if message.get("payload", {}) is None:
        return {**message, "payload": {}}
    return message


def text_sharer(size: int) -> Callable[[str], str]:
    """A function answering, for a query text, the one copy of it kept among the last
    `size` texts: subscribers of one document keep that copy instead of one each. Bounded
    (`lru_cache`), not `sys.intern`: on some Python versions interned strings are never
    freed, and any client may send any number of texts."""
    return functools.lru_cache(maxsize=size)(lambda text: text)


SHARED_TEXT = text_sharer(CACHED_DOCUMENTS)


def share_query_text(message: Any) -> None:
    """Put the kept copy of a `subscribe`/`start` message's query in it, in place (the
    protocol handler keeps the last message it read)."""
    payload = message["payload"]
    payload["query"] = SHARED_TEXT(payload["query"])


class EncodedFrame(Mapping[str, object]):
    """A websocket message already encoded: `encode_json` answers its text as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __getitem__(self, key: str) -> object:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


async def send_or_stop(websocket: AsyncWebSocketAdapter, frame: str) -> None:
    """Write a frame of the operation's stream; once the client is gone, end the operation
    as a `complete`/`stop` from it would (cancelled, which the handlers take quietly),
    rather than let the disconnect surface in the stream as a GraphQL error."""
    try:
        await websocket.send_json(EncodedFrame(frame))
    except WebSocketDisconnected:
        raise asyncio.CancelledError from None


class NextFrames(FrameSink):
    """graphql-transport-ws `next` frames of one operation, none once it is complete."""

    __slots__ = ("operation", "websocket")

    def __init__(
        self, operation: Operation[Context, None], websocket: AsyncWebSocketAdapter, max_bytes: int
    ) -> None:
        super().__init__(frame_head(("id", operation.id), ("type", "next")), max_bytes)
        self.operation = operation
        self.websocket = websocket

    async def send(self, frame: str) -> None:
        if not self.operation.completed:
            await send_or_stop(self.websocket, frame)


class DataFrames(FrameSink):
    """graphql-ws `data` frames of one operation (stopping it cancels its task)."""

    __slots__ = ("websocket",)

    def __init__(self, operation_id: str, websocket: AsyncWebSocketAdapter, max_bytes: int) -> None:
        super().__init__(frame_head(("type", "data"), ("id", operation_id)), max_bytes)
        self.websocket = websocket

    async def send(self, frame: str) -> None:
        await send_or_stop(self.websocket, frame)


def max_response_bytes(view: object) -> int:
    """The response cap of the view a protocol handler serves."""
    return cast("RuncastGraphQL", view).max_response_bytes


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with the contract's close codes: 4400 for a malformed frame,
    4401 when `connection_init` has no valid token, 4403 when a subscription is FORBIDDEN."""

    async def handle_message(self, message: Message) -> None:
        problem = frame_problem(message, ("subscribe",))
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        if message["type"] == "connection_init":
            message = with_null_payload_as_absent(message)
        elif message["type"] == "subscribe":
            share_query_text(message)
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Unauthorized as exc:
            await self.websocket.close(code=4401, reason=exc.message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Run the operation in its task with a sink for its shared results' frames."""
        FRAME_SINK.set(NextFrames(operation, self.websocket, max_response_bytes(self.view)))
        await super().run_operation(operation)

    async def send_message(self, message: Message) -> None:
        """An operation refused before it starts ends with an `error` message; a FORBIDDEN
        one closes the connection with 4403 instead (the operation is already over)."""
        if message["type"] == "error" and any(
            (error.get("extensions") or {}).get("code") == Forbidden.code
            for error in message["payload"]
        ):
            await self.websocket.close(code=4403, reason="Forbidden")
            return
        await super().send_message(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws: a `connection_init` without a valid token gets `connection_error`; a
    malformed frame gets an `error` message; queries and mutations run once and complete."""

    async def handle_message(self, message: OperationMessage) -> None:
        problem = frame_problem(message, ("start",))
        if problem is not None:
            operation_id = message.get("id") if isinstance(message, dict) else None
            # The reply's id is null when the frame has none, which strawberry's message
            # types do not allow, so it goes straight to the socket.
            await self.websocket.send_json(
                {
                    "type": "error",
                    "id": operation_id if isinstance(operation_id, str) else None,
                    "payload": {"message": problem, "extensions": {"code": ValidationError.code}},
                }
            )
            return
        if message["type"] == "connection_init":
            message = with_null_payload_as_absent(message)
        elif message["type"] == "start":
            share_query_text(message)
        await super().handle_message(message)

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except Unauthorized as exc:
            await self.send_message(
                {"type": "connection_error", "payload": {"code": exc.code, "message": exc.message}}
            )
            await self.websocket.close(code=4401, reason=exc.message)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        kind = operation_type(query, operation_name)
        if kind is None or kind is OperationType.SUBSCRIPTION:
            # In the operation's own task: its sink is for its shared results' frames.
            max_bytes = max_response_bytes(self.view)
            FRAME_SINK.set(DataFrames(operation_id, self.websocket, max_bytes))
            await super().handle_async_results(operation_id, query, operation_name, variables)
            return
        try:
            result = await self.schema.execute(
                query,
                variable_values=variables,
                context_value=self.context,
                root_value=self.root_value,
                operation_name=operation_name,
            )
            await self.send_data_message(result, operation_id)
            await self.send_message({"type": "complete", "id": operation_id})
        finally:
            self.tasks.pop(operation_id, None)


class RuncastGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with runcast's context, JSON boundary and error answers."""

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(self, schema: BaseSchema, *, max_response_bytes: int, **options: Any) -> None:
        super().__init__(schema, **options)
        self.max_response_bytes = max_response_bytes
        self._persisted: PersistedQueries | None = None

    def persisted_queries(self, settings: Settings) -> PersistedQueries:
        """This process's persisted queries, sized by the app's settings on first use."""
        if self._persisted is None:
            self._persisted = PersistedQueries(settings.graphql_persisted_queries)
        return self._persisted

    def encode_json(self, data: object) -> str:
        """Every answer and websocket message, encoded once, under the response cap; a
        subscription event's payload shared by many subscribers is encoded once for all."""
        if type(data) is EncodedFrame:
            return data.text
        frame = MULTIPLEXER.encoded_frame(data, self.max_response_bytes)
        return frame if frame is not None else encode_capped(data, self.max_response_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if scope["method"] == "HEAD":  # answered as GET; the server leaves out the body
            scope = {**scope, "method": "GET"}
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except RuncastError as exc:
            response = error_response(exc.http_status, exc.message, exc.extensions)
        except HTTPException as exc:
            code = HTTP_CODES.get(exc.status_code, ValidationError.code)
            allow = {"Allow": "POST"} if isinstance(exc, PostOnly) else None
            response = error_response(exc.status_code, exc.reason, {"code": code}, allow)
        if scope["method"] == "GET":
            response.headers["Vary"] = "Authorization"
        await response(scope, receive, send)

    def should_render_graphql_ide(self, request: Any) -> bool:
        """GraphiQL for a browser's GET without a query, unless it names one by hash."""
        return bool(
            super().should_render_graphql_ide(request)
            and request.query_params.get("extensions") is None
        )

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """The answer; one that no longer carries data (the response cap replaced it with
        an error) is never cached, whatever `execute_single` decided."""
        response = super().create_response(response_data, sub_response)
        if bytes(response.body[: len(DATA_PREFIX)]) != DATA_PREFIX:
            response.headers["Cache-Control"] = NO_STORE
        return response

    def parse_json(self, data: str | bytes) -> Any:
        """An HTTP request's JSON (its body, or GET's `variables`/`extensions`): an object,
        through the JSON boundary."""
        value = parse_json(data, "The GraphQL request")
        if not isinstance(value, dict):
            raise ValidationError("The GraphQL request must be a JSON object")
        return value

    def decode_json(self, data: str | bytes) -> object:
        """A websocket frame, through the JSON boundary; a refused frame is one that is not
        JSON to the protocol handlers, which answer it as such."""
        try:
            return parse_json(data, "The message")
        except ValidationError as exc:
            raise json.JSONDecodeError(
                exc.message, data if isinstance(data, str) else "", 0
            ) from None

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: Any,
        root_value: Any,
        request_data: Any,
    ) -> Any:
        settings: Settings = request.app.state.settings
        request_data = self.persisted_queries(settings).resolve(request_data)
        kind = operation_type(request_data.query, request_data.operation_name)
        if kind is OperationType.SUBSCRIPTION:
            raise HTTPException(400, SUBSCRIPTIONS_OVER_WEBSOCKETS)
        if kind is OperationType.MUTATION and request_adapter.method == "GET":
            raise PostOnly(405, MUTATIONS_OVER_POST)
        result = await super().execute_single(
            request=request,
            request_adapter=request_adapter,
            sub_response=sub_response,
            context=context,
            root_value=root_value,
            request_data=request_data,
        )
        sub_response.headers["Cache-Control"] = cache_control(
            request_adapter.method, bool(result.errors), settings.graphql_get_max_age_seconds
        )
        return result

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        settings: Settings = request.app.state.settings
        if isinstance(request, WebSocket):
            return Context(request=request, settings=settings, token=None)
        token = bearer_from_header(request.headers.get("authorization"))
        return Context(request=request, settings=settings, token=token)

    async def on_ws_connect(self, context: Context) -> Any:
        """Authenticate from `connection_init`; the handlers refuse an Unauthorized."""
        context.token = token_from_params(context.connection_params)
        await context.caller()
        return None
