"""runcast: a workflow execution service."""

from runcast.app import create_app
from runcast.engine.actions import registry as _registry
from runcast.engine.actions.base import ActionContext, ActionResult

register_action_handler = _registry.register_action_handler

__all__ = ["ActionContext", "ActionResult", "create_app", "register_action_handler"]
