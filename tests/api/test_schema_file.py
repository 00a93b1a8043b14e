"""`schema.graphql` at the repository root is the schema `/graphql` serves: byte for byte what
`runcast schema` prints, and the same schema as the running app's introspection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graphql import (
    GraphQLSchema,
    build_ast_schema,
    build_client_schema,
    get_introspection_query,
    lexicographic_sort_schema,
    parse,
    print_schema,
)

from runcast.schema.export import REGENERATE, schema_sdl

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"
STALE = f"schema.graphql differs from the served schema: run `{REGENERATE}` and commit it"
INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
    one_of=True,
)


def normalized(schema: GraphQLSchema) -> str:
    """The schema printed by graphql-core with types and fields in name order, so a schema
    read back from introspection and one read from SDL compare by content."""
    return print_schema(lexicographic_sort_schema(schema))


def test_the_committed_file_is_what_the_schema_command_prints():
    assert SCHEMA_FILE.exists(), f"schema.graphql is missing: run `{REGENERATE}`"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_sdl(), STALE


def test_the_schema_command_writes_the_file(tmp_path: Path):
    output = tmp_path / "schema.graphql"
    done = subprocess.run(
        [sys.executable, "-m", "runcast.cli", "schema", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert output.read_text(encoding="utf-8") == schema_sdl()
    printed = subprocess.run(
        [sys.executable, "-m", "runcast.cli", "schema"], capture_output=True, text=True, timeout=60
    )
    assert printed.stdout == schema_sdl()


async def test_the_running_app_serves_the_committed_schema(client, tokens):
    response = await client.post(
        "/graphql", json={"query": INTROSPECTION}, headers=tokens.headers("viewer")
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert "errors" not in answer, answer["errors"]
    served = build_client_schema(answer["data"])
    committed = build_ast_schema(parse(SCHEMA_FILE.read_text(encoding="utf-8")))
    assert normalized(committed) == normalized(served), STALE
