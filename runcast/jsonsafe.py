"""JSON that can be stored and sent back: no NaN/Infinity, no lone surrogates, no NUL."""

from __future__ import annotations

import json
from typing import Any


def json_problem(value: Any) -> str | None:
    """Why `value` cannot round-trip as JSON through the database, or None if it can."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        return f"not representable as JSON ({exc})"
    if "\x00" in text or "\\u0000" in text:
        return "contains a NUL character"
    return None


def json_size(value: Any) -> int:
    """The encoded size of JSON-safe `value` in bytes."""
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
