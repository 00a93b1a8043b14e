"""Built-in actions and the registry of custom ones."""

from runcast.engine.actions import call_api, condition, notification, task, wait
from runcast.engine.actions.registry import register_builtin

for _module in (notification, task, call_api, wait, condition):
    register_builtin(_module.ACTION)
