"""One frozen settings object, read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from runcast.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    """Everything the server reads from its environment (see docs/configuration.md)."""

    database_url: str = "sqlite://./runcast.db"
    broadcast_url: str = "memory://"
    admin_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_concurrent_executions: int = 100
    retry_base_ms: int = 1000
    allow_private_network: bool = False
    cors_origins: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    max_body_bytes: int = 1_000_000
    graphql_max_cost: int = 25_000
    graphql_max_response_bytes: int = 32 * 1024 * 1024
    graphql_persisted_queries: int = 1000
    graphql_get_max_age_seconds: int = 1
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    max_connections_per_address: int = 100
    sse_ping_seconds: float = 15.0
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 10.0
    poll_seconds: float = 1.0
    schedule_poll_seconds: float = 0.5
    """How often each node's schedule loop looks for due ticks."""
    node_id: str = field(default_factory=lambda: f"node_{os.getpid()}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from `env` (default: the process environment)."""
        env = os.environ if env is None else env
        default = cls()
        return cls(
            database_url=env.get("RUNCAST_DATABASE_URL") or default.database_url,
            broadcast_url=env.get("RUNCAST_BROADCAST_URL") or default.broadcast_url,
            admin_token=env.get("RUNCAST_ADMIN_TOKEN") or None,
            host=env.get("RUNCAST_HOST") or default.host,
            port=_int(env, "RUNCAST_PORT", default.port, minimum=0),
            max_concurrent_executions=_int(
                env, "RUNCAST_MAX_CONCURRENT_EXECUTIONS", default.max_concurrent_executions, 1
            ),
            retry_base_ms=_int(env, "RUNCAST_RETRY_BASE_MS", default.retry_base_ms),
            allow_private_network=_bool(env, "RUNCAST_ALLOW_PRIVATE_NETWORK", False),
            cors_origins=_list(env, "RUNCAST_CORS_ORIGINS"),
            plugins=_list(env, "RUNCAST_PLUGINS"),
            max_body_bytes=_int(env, "RUNCAST_MAX_BODY_BYTES", default.max_body_bytes, 1024),
            graphql_max_cost=_int(env, "RUNCAST_GRAPHQL_MAX_COST", default.graphql_max_cost, 1),
            graphql_max_response_bytes=_int(
                env, "RUNCAST_GRAPHQL_MAX_RESPONSE_BYTES", default.graphql_max_response_bytes, 1024
            ),
            graphql_persisted_queries=_int(
                env, "RUNCAST_GRAPHQL_PERSISTED_QUERIES", default.graphql_persisted_queries
            ),
            graphql_get_max_age_seconds=_int(
                env, "RUNCAST_GRAPHQL_GET_MAX_AGE_SECONDS", default.graphql_get_max_age_seconds
            ),
            header_timeout_seconds=float(_int(env, "RUNCAST_HEADER_TIMEOUT_SECONDS", 10, 1)),
            body_timeout_seconds=float(_int(env, "RUNCAST_BODY_TIMEOUT_SECONDS", 30, 1)),
            max_connections_per_address=_int(
                env, "RUNCAST_MAX_CONNECTIONS_PER_ADDRESS", default.max_connections_per_address
            ),
            sse_ping_seconds=float(_int(env, "RUNCAST_SSE_PING_SECONDS", 15, 1)),
            lease_seconds=float(_int(env, "RUNCAST_LEASE_SECONDS", 30, 2)),
            heartbeat_seconds=float(_int(env, "RUNCAST_HEARTBEAT_SECONDS", 10, 1)),
            poll_seconds=float(_int(env, "RUNCAST_POLL_SECONDS", 1, 1)),
            schedule_poll_seconds=_int(env, "RUNCAST_SCHEDULE_POLL_MS", 500, 10) / 1000,
            node_id=env.get("RUNCAST_NODE_ID") or default.node_id,
        )

    def with_overrides(self, **changes: object) -> Settings:
        """Return a copy with some fields replaced (used by CLI flags and tests)."""
        return replace(self, **changes)  # type: ignore[arg-type]
