"""Database configuration, migrations and the lifespan hook that opens the ORM."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate

WAL_RESET_BYTES = 16 * 1024 * 1024
"""The WAL size past which the checkpointer resets it (runcast/store/checkpoints.py), and,
unless a database URL sets its own `journal_size_limit`, the size SQLite cuts it back to
when a commit starts it over."""

SQLITE_PRAGMAS = {
    "busy_timeout": "10000",
    "synchronous": "NORMAL",
    "journal_mode": "WAL",
    "wal_autocheckpoint": "0",  # checkpoints run in the background (runcast/store/checkpoints.py)
    "journal_size_limit": str(WAL_RESET_BYTES),
}


def _with_sqlite_pragmas(url: str) -> str:
    """Add WAL, a busy timeout, NORMAL sync, no checkpoints in commits and a WAL size
    limit to a SQLite URL unless it sets them."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in SQLITE_PRAGMAS.items():
        query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def normalise_url(url: str) -> str:
    """Return the Tortoise URL for `url`, adding SQLite pragmas where they apply."""
    if url.startswith("sqlite://") and ":memory:" not in url:
        return _with_sqlite_pragmas(url)
    if url.startswith("postgresql://"):
        return "postgres://" + url.removeprefix("postgresql://")
    return url


def sqlite_pragmas(url: str) -> dict[str, str]:
    """The pragmas the ORM's connection to a SQLite URL runs with (the URL's, the defaults
    above, and the foreign keys Tortoise turns on), for another connection to the file."""
    pragmas = dict(parse_qsl(urlsplit(normalise_url(url)).query))
    pragmas.setdefault("foreign_keys", "ON")
    return pragmas


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL; None for another database or `:memory:`."""
    if not url.startswith("sqlite://") or ":memory:" in url:
        return None
    return url.removeprefix("sqlite://").split("?")[0] or None


POSTGRES_POOL_SIZE = 20
"""asyncpg's pool size unless the URL sets `maxsize`: the execution path holds a
connection for each transaction and each read, and Tortoise's default of 5 made requests
queue for connections while Postgres had cores to spare."""


async def _keep_session(connection: Any) -> None:
    """The pool's reset on release: nothing beyond what asyncpg always does (roll back an
    open transaction, drop listeners). Its default also sends `SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every release, one more
    round trip per query; runcast sets no session state, takes advisory locks only for
    the length of a transaction (released at its end) and listens on connections of its
    own, so there is nothing for it to undo."""


def _connection(url: str) -> str | dict[str, Any]:
    """Tortoise's connection config: the URL, or for Postgres the URL expanded with the
    pool's size and its reset on release (which a URL cannot carry)."""
    url = normalise_url(url)
    if not url.startswith("postgres://"):
        return url
    config = expand_db_url(url)
    config["credentials"].setdefault("maxsize", POSTGRES_POOL_SIZE)
    config["credentials"]["reset"] = _keep_session
    return config


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise configuration for one database URL."""
    return {
        "connections": {"default": _connection(database_url)},
        "apps": {
            "runcast": {
                "models": ["runcast.models"],
                "migrations": "runcast.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def apply_migrations(database_url: str) -> None:
    """Apply every pending migration to the database at `database_url`."""
    try:
        await migrate(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()


# Read by `tortoise makemigrations` (`[tool.tortoise]` in pyproject.toml).
MIGRATION_CONFIG = tortoise_config("sqlite://./runcast.db")
