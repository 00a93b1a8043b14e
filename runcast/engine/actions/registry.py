"""The action registry: built-in actions and those registered with `register_action_handler`."""

from __future__ import annotations

import importlib
import inspect
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points

from runcast.engine.actions.base import ConfigValidator, Handler

logger = logging.getLogger("runcast.actions")

ENTRY_POINT_GROUP = "runcast.actions"


@dataclass(frozen=True)
class ActionType:
    """A registered action: how to run it, validate its config, and whether it runs dry."""

    name: str
    handler: Handler
    validate: ConfigValidator | None = None
    dry_run: bool = False
    builtin: bool = False


_registry: dict[str, ActionType] = {}


def register_action_handler(name: str, handler: Handler, dry_run: bool = False) -> None:
    """Register `handler` for actions of type `name`.

    The handler is `async def handler(action, context) -> ActionResult | dict`, where `action`
    is the action with its rendered `config`. It runs in a dry run only if `dry_run` is true.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError("an action type name must be a non-empty string")
    existing = _registry.get(name)
    if existing is not None and existing.builtin:
        raise ValueError(f"{name!r} is a built-in action and cannot be replaced")
    _registry[name] = ActionType(name=name, handler=handler, dry_run=dry_run)


def register_builtin(action_type: ActionType) -> None:
    _registry[action_type.name] = action_type


def unregister_action_handler(name: str) -> None:
    """Remove a custom handler (built-ins stay)."""
    existing = _registry.get(name)
    if existing is not None and not existing.builtin:
        del _registry[name]


def get_action_type(name: str) -> ActionType | None:
    return _registry.get(name)


def load_plugins(modules: tuple[str, ...]) -> None:
    """Import `RUNCAST_PLUGINS` modules and load the `runcast.actions` entry points.

    An entry point naming a coroutine function registers it under the entry point's name;
    one naming a module is imported so that it can call `register_action_handler` itself.
    """
    for module in modules:
        importlib.import_module(module)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry_point.load()
        if inspect.iscoroutinefunction(loaded):
            register_action_handler(entry_point.name, loaded)
        logger.info("loaded action plugin %s", entry_point.name)
