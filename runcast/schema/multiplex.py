"""Multiplexed subscriptions: each event runs each distinct selection once.

Subscribers of the same document with the same variables form a *group*. Every subscriber
keeps its own stream (replay from `after`, de-duplication and gap filling stay per
subscriber), but the subscription resolvers hand every stream the same Python object for
the same stored event, whether it came live or from the log (`shared_payload`). For such
an event the first subscriber of a group to reach it executes the selection
(`MultiplexedExecutor.execute_operation`); the others reuse that result, and the websocket
frame encodes its `data` once (`encoded_frame`), the frames differing only by operation
id. Payloads that are not shared run as usual.

Once a group holds an event's result without errors, its other subscribers do not run it
through graphql-core and Strawberry at all: the subscription's stream hands the result's
encoded payload to its `FrameSink` (`FRAME_SINK`, set by the websocket handler for each
operation), which writes the subscriber's frame, and goes on to its next event. Results
with errors, payloads nobody in the group has executed yet and frames over the response
cap take the usual path.

Access is checked per subscriber when the subscription starts; what a selection resolves
from an event must not depend on who subscribed (the subscription types read only the
event). Errors stay per subscriber: every subscriber gets its own copy of the result, so
Strawberry's extensions mask and log them for each one.

Memory: a group exists while it has subscribers and remembers the results of its last
`RECENT_RESULTS` shared events; the shared payloads are a bounded LRU. `stats()` shows
what is held.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar, cast

from graphql import ExecutionResult, OperationDefinitionNode
from graphql.pyutils import AwaitableOrValue
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

RECENT_RESULTS = 64
SHARED_PAYLOADS = 1024
FRAME_TYPES = ("next", "data")
FRAME_KEYS = {"id", "type", "payload"}

T = TypeVar("T")
SelectionKey = tuple[int, Hashable]


def frozen(value: Any) -> Hashable:
    """A hashable stand-in for a coerced variable value (dicts, lists, input objects)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__qualname__, frozen(vars(value)))
    if isinstance(value, Enum | str | int | float | bool) or value is None:
        return value
    return (type(value).__qualname__, repr(value))


def selection_key(operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> SelectionKey:
    """Which group a subscription belongs to: its operation node (documents come from the
    parse cache, so the same text is the same node) and its coerced variables."""
    return (id(operation), frozen(variables))


@dataclass
class Shared:
    """One event's result for one group, and its payload's JSON once a frame needed it."""

    payload: Any
    outcome: ExecutionResult | asyncio.Future[ExecutionResult]
    payload_json: str | None = None
    live: bool = True


@dataclass
class Group:
    """The subscribers of one selection, and the results of its recent shared events."""

    operation: OperationDefinitionNode  # held so that its id stays this group's
    key: SelectionKey
    subscribers: int = 0
    results: OrderedDict[int, Shared] = dataclasses.field(default_factory=OrderedDict)


@dataclass(frozen=True)
class MultiplexStats:
    groups: int
    subscribers: int
    results: int
    frames: int
    shared_payloads: int
    executions: int
    reuses: int
    payload_encodings: int
    direct_frames: int


class Multiplexer:
    """The groups of this process, the shared payloads and the result index of frames."""

    def __init__(self) -> None:
        self.groups: dict[SelectionKey, Group] = {}
        self.payloads: OrderedDict[int, tuple[object, object]] = OrderedDict()
        self.shared_ids: dict[int, object] = {}
        self.by_data: dict[int, Shared] = {}
        self.executions = 0
        self.reuses = 0
        self.payload_encodings = 0
        self.direct_frames = 0

    def stats(self) -> MultiplexStats:
        return MultiplexStats(
            groups=len(self.groups),
            subscribers=sum(g.subscribers for g in self.groups.values()),
            results=sum(len(g.results) for g in self.groups.values()),
            frames=len(self.by_data),
            shared_payloads=len(self.payloads),
            executions=self.executions,
            reuses=self.reuses,
            payload_encodings=self.payload_encodings,
            direct_frames=self.direct_frames,
        )

    def shared_payload(self, source: object, build: Callable[[object], T]) -> T:
        """`build(source)`, the same object for every caller with the same `source` object
        (e.g. an event every stream of an execution received)."""
        key = id(source)
        entry = self.payloads.get(key)
        if entry is not None and entry[0] is source:
            self.payloads.move_to_end(key)
            return cast(T, entry[1])
        payload = build(source)
        self.payloads[key] = (source, payload)
        self.shared_ids[id(payload)] = payload
        if len(self.payloads) > SHARED_PAYLOADS:
            evicted = self.payloads.popitem(last=False)[1][1]
            del self.shared_ids[id(evicted)]
        return payload

    def is_shared(self, payload: object) -> bool:
        return self.shared_ids.get(id(payload)) is payload

    def join(self, operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> Group:
        """The group of a subscriber whose stream starts, counting it in; `leave` when the
        stream ends."""
        key = selection_key(operation, variables)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(operation, key)
        group.subscribers += 1
        return group

    def leave(self, group: Group) -> None:
        group.subscribers -= 1
        if group.subscribers == 0 and self.groups.get(group.key) is group:
            del self.groups[group.key]
            for shared in group.results.values():
                self._forget(shared)

    def result(
        self,
        key: SelectionKey,
        payload: object,
        execute: Callable[[], AwaitableOrValue[Any]],
    ) -> AwaitableOrValue[ExecutionResult]:
        """The group's result for `payload`, executing it on the first call."""
        group = self.groups.get(key)
        if group is None or not self.is_shared(payload):
            return cast(AwaitableOrValue[ExecutionResult], execute())
        shared = group.results.get(id(payload))
        if shared is not None and shared.payload is payload:
            self.reuses += 1
        else:
            shared = self._execute(group, payload, execute)
        outcome = shared.outcome
        if isinstance(outcome, asyncio.Future):
            return _own_copy_later(outcome)
        return own_copy(outcome)

    async def send_ready(self, group: Group, payload: object, sink: FrameSink) -> bool:
        """Write `group`'s result for `payload` through `sink` when the payload is shared
        and a subscriber executed it already without errors (its payload encoded on first
        use here or by `encoded_frame`); False when the payload is to take the usual path
        (not shared, not executed yet, errors, or a frame over the cap)."""
        if not self.is_shared(payload):
            return False
        shared = group.results.get(id(payload))
        if shared is None or shared.payload is not payload:
            return False
        if shared.payload_json is None:
            data = _clean_data(shared)
            if data is None:
                return False
            shared.payload_json = _dumps({"data": data})
            self.payload_encodings += 1
        frame = sink.frame(shared.payload_json)
        if frame is None:
            return False
        await sink.send(frame)
        self.reuses += 1
        self.direct_frames += 1
        return True

    def _execute(
        self, group: Group, payload: object, execute: Callable[[], AwaitableOrValue[Any]]
    ) -> Shared:
        self.executions += 1
        outcome = execute()
        if isinstance(outcome, Awaitable):
            future: asyncio.Future[ExecutionResult] = asyncio.ensure_future(outcome)
            shared = Shared(payload, future)
            future.add_done_callback(lambda _: self._index(shared))
        else:
            shared = Shared(payload, cast(ExecutionResult, outcome))
            self._index(shared)
        group.results[id(payload)] = shared
        if len(group.results) > RECENT_RESULTS:
            self._forget(group.results.popitem(last=False)[1])
        return shared

    def _index(self, shared: Shared) -> None:
        """Let frames find a live result without errors by its data."""
        data = _clean_data(shared)
        if shared.live and data is not None:
            self.by_data[id(data)] = shared

    def _forget(self, shared: Shared) -> None:
        shared.live = False
        data = _clean_data(shared)
        if data is not None and self.by_data.get(id(data)) is shared:
            del self.by_data[id(data)]

    def encoded_frame(self, message: object, max_bytes: int) -> str | None:
        """A `next`/`data` message whose payload is a shared result without errors, with that
        payload encoded once for all its subscribers; None for any other message, or when
        the frame would be over `max_bytes` (the caller's cap then answers it)."""
        if not isinstance(message, dict) or message.keys() != FRAME_KEYS:
            return None
        kind, payload = message["type"], message["payload"]
        if kind not in FRAME_TYPES or not isinstance(payload, dict) or payload.keys() != {"data"}:
            return None
        data = payload["data"]
        shared = self.by_data.get(id(data))
        if shared is None or _clean_data(shared) is not data:
            return None
        if shared.payload_json is None:
            shared.payload_json = _dumps(payload)
            self.payload_encodings += 1
        # Only the id needs encoding: the keys and the type are among the literals above.
        parts = [
            f'"{k}":"{kind}"' if k == "type" else f'"{k}":{_dumps(v)}'
            for k, v in message.items()
            if k != "payload"
        ]
        parts.append(f'"payload":{shared.payload_json}')
        frame = "{" + ",".join(parts) + "}"
        return frame if len(frame) <= max_bytes else None


def own_copy(result: ExecutionResult) -> ExecutionResult:
    """A subscriber's own result, sharing the data: Strawberry's extensions replace its
    errors (masking them) on the result they are given."""
    return ExecutionResult(
        result.data, list(result.errors) if result.errors else None, result.extensions
    )


async def _own_copy_later(outcome: asyncio.Future[ExecutionResult]) -> ExecutionResult:
    return own_copy(await asyncio.shield(outcome))


def _clean_data(shared: Shared) -> Any:
    """The shared result's data when it has no errors (and is there yet), else None."""
    outcome: ExecutionResult | asyncio.Future[ExecutionResult] | None = shared.outcome
    if isinstance(outcome, asyncio.Future):
        done = outcome.done() and not outcome.cancelled() and outcome.exception() is None
        outcome = outcome.result() if done else None
    if outcome is None or outcome.errors:
        return None
    return outcome.data


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


MULTIPLEXER = Multiplexer()


class FrameSink(ABC):
    """Where one websocket operation's stream writes the frames of shared results itself:
    `head` is the frame up to its payload (the protocol's message type and the operation
    id); `send`, given by the protocol handler, writes a frame's text unless the operation
    is over."""

    __slots__ = ("head", "max_bytes")

    def __init__(self, head: str, max_bytes: int) -> None:
        self.head = head
        self.max_bytes = max_bytes

    def frame(self, payload_json: str) -> str | None:
        """The frame carrying `payload_json`; None when it would be over the response cap
        (the usual path then answers with the cap's error)."""
        frame = f"{self.head}{payload_json}}}"
        return frame if len(frame) <= self.max_bytes else None

    @abstractmethod
    async def send(self, frame: str) -> None: ...


def frame_head(first: tuple[str, str], second: tuple[str, str]) -> str:
    """The text of a frame up to its payload, e.g. `{"id":"1","type":"next","payload":`."""
    pairs = (first, second)
    return "{" + "".join(f"{_dumps(k)}:{_dumps(v)}," for k, v in pairs) + '"payload":'


# The current websocket operation's sink, set by the protocol handlers in the operation's
# own task and read by the subscription resolvers when the operation starts.
FRAME_SINK: ContextVar[FrameSink | None] = ContextVar("FRAME_SINK", default=None)


def stats() -> MultiplexStats:
    """What the multiplexer holds now (groups and results return to 0 once the
    subscribers leave), how often selections ran or were reused, and how many frames
    subscribers' streams wrote themselves."""
    return MULTIPLEXER.stats()


class MultiplexedExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, sharing each subscription event's execution in its group."""

    multiplex_key: SelectionKey | None = None

    def build_per_event_executor(self, payload: Any) -> Any:
        if self.multiplex_key is None:
            self.multiplex_key = selection_key(self.operation, self.variable_values.coerced)
        return super().build_per_event_executor(payload)

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self.multiplex_key
        run = super().execute_operation
        if key is None:
            return run(serially)
        return MULTIPLEXER.result(key, self.root_value, lambda: run(serially))
