"""`{{ path }}` templates in action configs, resolved against the execution's scope.

Paths are dotted into `{trigger, variables, steps, execution, workflow}`; list items are
addressed by index (`trigger.items.0`). Nothing is evaluated: a path only walks data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_MISSING = object()


def has_template(value: str) -> bool:
    return TEMPLATE.search(value) is not None


def lookup(scope: Mapping[str, Any], path: str) -> Any:
    """Return the value at dotted `path` in `scope`, or None when any part is missing."""
    current: Any = scope
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
        if current is _MISSING:
            return None
    return current


def as_text(value: Any) -> str:
    """A value as a template embedded in text shows it: "" for null, strings as they are,
    anything else as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def render(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render every template in `value` (recursively through dicts and lists).

    A string that is exactly one template takes the referenced value with its JSON type.
    """
    if isinstance(value, str):
        if "{{" not in value:
            return value
        whole = TEMPLATE.fullmatch(value)
        if whole is not None:
            return lookup(scope, whole.group(1))
        return TEMPLATE.sub(lambda m: as_text(lookup(scope, m.group(1))), value)
    if isinstance(value, dict):
        return {key: render(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, scope) for item in value]
    return value
