"""Config checks shared by the built-in actions: at save time (validators) and on the
rendered config at run time (a template may render any JSON type)."""

from __future__ import annotations

from typing import Any

from runcast.engine.templates import TEMPLATE, has_template

SHOWN_KEY_CHARS = 50
SHOWN_KEYS = 5
MAX_TEMPLATED_CHOICE = 200


def is_template(value: Any) -> bool:
    return isinstance(value, str) and has_template(value)


def is_whole_template(value: Any) -> bool:
    """A string that is exactly one `{{ path }}`: it renders to the value's own JSON type."""
    if not isinstance(value, str):
        return False
    whole = TEMPLATE.fullmatch(value)
    return whole is not None and bool(whole.group(1))


def is_integer(value: Any) -> bool:
    """A JSON integer: a number without a fractional part (1 and 1.0, not 1.5 or true)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def shown(key: str) -> str:
    """A key as it appears in a message, cut short so an error never echoes a huge key."""
    return key if len(key) <= SHOWN_KEY_CHARS else key[:SHOWN_KEY_CHARS] + "…"


def unknown_keys(
    given: dict[str, Any], allowed: tuple[str, ...], what: tuple[str, str], prefix: str = ""
) -> list[str]:
    """One message naming the keys of `given` that are not `allowed` (the first few of
    them), or none; `what` is the singular and plural of what a key should be."""
    unknown = [shown(prefix + str(key)) for key in given if key not in allowed]
    if not unknown:
        return []
    named = ", ".join(unknown[:SHOWN_KEYS])
    if len(unknown) > SHOWN_KEYS:
        named += f" and {len(unknown) - SHOWN_KEYS} more"
    verb = f"is not {what[0]}" if len(unknown) == 1 else f"are not {what[1]}"
    return [f"{named} {verb} (allowed: {', '.join(allowed)})"]


def require_string(config: dict[str, Any], key: str, errors: list[str], max_len: int) -> None:
    value = config.get(key)
    if not isinstance(value, str) or not value.strip():
        errors.append(f"config.{key} is required and must be a non-empty string")
    elif len(value) > max_len:
        errors.append(f"config.{key} must be at most {max_len} characters")


def optional_string(config: dict[str, Any], key: str, errors: list[str], max_len: int) -> None:
    value = config.get(key)
    if value is None:
        return
    if not isinstance(value, str):
        errors.append(f"config.{key} must be a string")
    elif len(value) > max_len:
        errors.append(f"config.{key} must be at most {max_len} characters")


def optional_choice(
    config: dict[str, Any], key: str, choices: tuple[str, ...], errors: list[str]
) -> None:
    """One of `choices`, or a string with a template (its rendered value is checked at run
    time)."""
    value = config.get(key)
    if value is None or value in choices:
        return
    if not is_template(value) or len(value) > MAX_TEMPLATED_CHOICE:
        errors.append(
            f"config.{key} must be one of {', '.join(choices)}, or a {{{{ template }}}} "
            f"of at most {MAX_TEMPLATED_CHOICE} characters"
        )


def json_type(value: Any) -> str:
    """The JSON name of a rendered value's type, for run-time messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def rendered_text(
    value: Any, key: str, max_len: int | None = None
) -> tuple[str | None, str | None]:
    """A rendered string setting as `(text, error)`.

    Strings are used as they are and numbers as their JSON text; null stays None (absent).
    Booleans, lists and objects, and text longer than `max_len`, are an error naming `key`.
    """
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, f"{key} rendered to {json_type(value)}, not text"
    text = value if isinstance(value, str) else str(value)
    if max_len is not None and len(text) > max_len:
        return None, f"{key} rendered to {len(text)} characters, more than {max_len}"
    return text, None
