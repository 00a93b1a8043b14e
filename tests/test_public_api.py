"""The public Python API changes only on purpose."""

import runcast


def test_exported_names():
    assert sorted(runcast.__all__) == [
        "ActionContext",
        "ActionResult",
        "create_app",
        "register_action_handler",
    ]
    for name in runcast.__all__:
        assert getattr(runcast, name) is not None
