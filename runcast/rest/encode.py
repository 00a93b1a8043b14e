"""The one encoder of REST answers: domain records to camelCase JSON values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass
from datetime import datetime
from enum import Enum
from operator import attrgetter
from types import UnionType
from typing import Any, NamedTuple, Union, get_args, get_origin, get_type_hints

from runcast.domain.clock import iso
from runcast.domain.records import Lazy


def camel(name: str) -> str:
    """`trigger_data` → `triggerData`."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _as_is(hint: Any) -> bool:
    """Whether a field so annotated holds JSON as it is: JSON's scalars, open JSON (`Any`),
    `StrEnum`s (a member is a `str` of its value), or an optional one of those."""
    if hint is Any or hint in (int, float, bool, type(None)):
        return True
    if isinstance(hint, type) and issubclass(hint, str):
        return True
    return get_origin(hint) in (Union, UnionType) and all(_as_is(arg) for arg in get_args(hint))


class _Plan(NamedTuple):
    """How one record type is encoded: its fields' camelCase keys, a getter of all their
    values at once, the keys whose values need encoding, the keys left out when None."""

    keys: tuple[str, ...]
    values: Callable[[Any], tuple[Any, ...]]
    to_encode: tuple[str, ...]
    omit_if_none: tuple[str, ...]


_PLANS: dict[type, _Plan] = {}


def _plan(kind: type) -> _Plan:
    plan = _PLANS.get(kind)
    if plan is None:
        hints = get_type_hints(kind)
        record_fields = fields(kind)
        names = [f.name for f in record_fields]
        getter = attrgetter(*names)
        plan = _Plan(
            keys=tuple(camel(name) for name in names),
            values=getter if len(names) > 1 else lambda record: (getter(record),),
            to_encode=tuple(camel(f.name) for f in record_fields if not _as_is(hints[f.name])),
            omit_if_none=tuple(
                camel(f.name) for f in record_fields if f.metadata.get("omit_if_none")
            ),
        )
        _PLANS[kind] = plan
    return plan


def encode(value: Any) -> Any:
    """A JSON value for `value`: records become objects with camelCase keys in field order
    (a field whose metadata says `omit_if_none` is left out when None), tuples lists,
    `Lazy` values what they work out, datetimes the wire's ISO text, enums their values.
    Open JSON (dicts and lists as stored) passes through.

    Each record type's plan is made once, from its fields' annotations, so a page of
    executions encodes only the fields that need it (timestamps, nested records)."""
    kind = type(value)
    if is_dataclass(kind):
        plan = _plan(kind)
        shown = dict(zip(plan.keys, plan.values(value), strict=True))
        for key in plan.to_encode:
            item = shown[key]
            if item is not None:
                shown[key] = iso(item) if type(item) is datetime else encode(item)
        for key in plan.omit_if_none:
            if shown[key] is None:
                del shown[key]
        return shown
    if kind is tuple:
        return [encode(item) for item in value]
    if kind is Lazy:
        return encode(value.get())
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping) and kind is not dict:
        return {encode(key): encode(item) for key, item in value.items()}
    return value
