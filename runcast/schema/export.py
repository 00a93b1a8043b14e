"""The served schema as SDL, the text committed as `schema.graphql` at the repository root.

Regenerate that file with `runcast schema --output schema.graphql`.
"""

from __future__ import annotations

from runcast.schema.build import build_schema

REGENERATE = "runcast schema --output schema.graphql"


def schema_sdl() -> str:
    """The schema `/graphql` serves, printed by Strawberry, ending with a newline."""
    return build_schema().as_str() + "\n"
