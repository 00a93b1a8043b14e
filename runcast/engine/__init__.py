"""The execution engine: actions, templates, conditions, the runner and the scheduler."""
