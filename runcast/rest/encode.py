"""The one encoder of REST answers: domain records to camelCase JSON values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any

from runcast.domain.clock import iso


@cache
def camel(name: str) -> str:
    """`trigger_data` → `triggerData`."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def encode(value: Any) -> Any:
    """A JSON value for `value`: records become objects with camelCase keys (a field whose
    metadata says `omit_if_none` is left out when None), tuples lists, datetimes the wire's
    ISO text, enums their values. Open JSON (dicts and lists as stored) passes through."""
    if is_dataclass(value) and not isinstance(value, type):
        return {
            camel(f.name): encode(item)
            for f in fields(value)
            if not ((item := getattr(value, f.name)) is None and f.metadata.get("omit_if_none"))
        }
    if isinstance(value, tuple):
        return [encode(item) for item in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping) and not isinstance(value, dict):
        return {encode(key): encode(item) for key, item in value.items()}
    return value
