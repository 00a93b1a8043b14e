"""Command line: `runcast serve | migrate | token create | schema`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from tortoise import Tortoise

from runcast.bootstrap import DEFAULT_WORKSPACE, create_token, first_run
from runcast.db import apply_migrations, tortoise_config
from runcast.errors import ConfigError
from runcast.models import Role
from runcast.settings import Settings

T = TypeVar("T")


async def _with_orm(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    """Migrate, open the ORM, run `work`, close."""
    await apply_migrations(settings.database_url)
    await Tortoise.init(config=tortoise_config(settings.database_url))
    try:
        return await work()
    finally:
        await Tortoise.close_connections()


def _serve(settings: Settings) -> int:
    from runcast.app import create_app
    from runcast.server import serve

    token = asyncio.run(_with_orm(settings, first_run))
    base = f"http://{settings.host}:{settings.port}"
    print("runcast is starting")
    print(f"  GraphiQL:  {base}/graphql")
    print(f"  REST base: {base}/api/workspaces/{DEFAULT_WORKSPACE}")
    if token is not None:
        print("First run: created workspace 'default', user 'admin' and a sample workflow.")
        print(f"  admin token (shown once): {token}")
    sys.stdout.flush()
    return serve(create_app(settings), settings)


def _migrate(settings: Settings) -> int:
    asyncio.run(apply_migrations(settings.database_url))
    print("migrations applied")
    return 0


def _token_create(settings: Settings, user: str, workspace: str, role: str) -> int:
    async def work() -> str:
        return await create_token(user, workspace, Role(role))

    try:
        token = asyncio.run(_with_orm(settings, work))
    except ValueError as exc:
        print(f"runcast: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


def _schema(output: str | None) -> int:
    from runcast.schema.export import schema_sdl

    text = schema_sdl()
    if output is None:
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runcast", description="Workflow execution service")
    parser.add_argument("--database-url", help="overrides RUNCAST_DATABASE_URL")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="start the server")
    serve.add_argument("--host", help="overrides RUNCAST_HOST")
    serve.add_argument("--port", type=int, help="overrides RUNCAST_PORT")
    serve.add_argument("--broadcast-url", help="overrides RUNCAST_BROADCAST_URL")
    serve.add_argument(
        "--max-concurrent-executions", type=int, help="overrides RUNCAST_MAX_CONCURRENT_EXECUTIONS"
    )

    commands.add_parser("migrate", help="apply database migrations and exit")

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a user token and print it")
    create.add_argument("--user", required=True)
    create.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    create.add_argument("--role", default="EDITOR", choices=[r.value for r in Role])

    schema = commands.add_parser("schema", help="print the GraphQL schema (SDL) and exit")
    schema.add_argument("--output", help="write it to this file (schema.graphql) instead")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"runcast: {exc.message}", file=sys.stderr)
        return 2
    overrides = {
        "database_url": args.database_url,
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "broadcast_url": getattr(args, "broadcast_url", None),
        "max_concurrent_executions": getattr(args, "max_concurrent_executions", None),
    }
    settings = settings.with_overrides(**{k: v for k, v in overrides.items() if v is not None})
    if args.command == "serve":
        return _serve(settings)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "schema":
        return _schema(args.output)
    return _token_create(settings, args.user, args.workspace, args.role)


if __name__ == "__main__":
    raise SystemExit(main())
