"""Small config checks shared by the built-in actions' validators."""

from __future__ import annotations

from typing import Any

from runcast.engine.templates import has_template


def is_template(value: Any) -> bool:
    return isinstance(value, str) and has_template(value)


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
    value = config.get(key)
    if value is None or is_template(value):
        return
    if value not in choices:
        errors.append(f"config.{key} must be one of {', '.join(choices)}")
