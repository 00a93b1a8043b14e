"""The JSON boundary: every JSON value that comes in passes here before anything stores it.

A value is accepted when it can be stored and sent back unchanged: UTF-8 text, no
NaN/Infinity, no lone surrogates, no NUL, and nested at most `MAX_DEPTH` levels (deeper
values overflow recursive encoders and decoders further down, so they could be stored
but never read back). A message that carries such values (a request body, GraphQL
variables, a websocket frame) may add `ENVELOPE_DEPTH` levels of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from runcast.errors import ValidationError

MAX_DEPTH = 64
ENVELOPE_DEPTH = 8
# How json.dumps writes a NUL character: `\u0000` after an even number of backslashes (an
# odd number means the text holds a backslash followed by "u0000").
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def json_depth_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `value` nests objects and arrays more than `limit` levels deep (walked
    without recursion, stopping at the first branch past the limit)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def json_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why `value` cannot round-trip as JSON through the database, or None if it can."""
    if json_depth_exceeds(value, max_depth):
        return f"nested more than {max_depth} levels deep"
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError, RecursionError) as exc:
        return f"not representable as JSON ({exc})"
    if _ESCAPED_NUL.search(text):
        return "not storable: it contains a NUL character"
    return None


def json_size(value: Any) -> int:
    """The encoded size of JSON-safe `value` in bytes."""
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))


def parse_json(raw: bytes | str, what: str = "The request body") -> Any:
    """Parse a message that came in (a body, a websocket frame); 400 VALIDATION_ERROR,
    naming `what`, unless it is UTF-8 JSON that `json_problem` accepts with the envelope's
    extra depth. The values it carries are checked again where they are read."""
    max_depth = MAX_DEPTH + ENVELOPE_DEPTH
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(f"{what} is not UTF-8 text") from None
    if raw.startswith("\ufeff"):
        raise ValidationError(f"{what} starts with a byte order mark; send UTF-8 without one")
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValidationError(f"{what} is nested more than {max_depth} levels deep") from None
    except (json.JSONDecodeError, _NotANumber) as exc:
        raise ValidationError(f"{what} is not valid JSON: {exc}") from None
    except ValueError:  # an integer with more digits than Python converts
        raise ValidationError(f"{what} has a number too long to read") from None
    problem = json_problem(value, max_depth)
    if problem is not None:
        raise ValidationError(f"{what} is {problem}")
    return value


class _NotANumber(ValueError):
    """`NaN`, `Infinity` or `-Infinity`, which Python's parser would otherwise accept."""


def _refuse_constant(name: str) -> Any:
    raise _NotANumber(f"{name} is not a JSON number")
