"""How `runcast serve` runs the app: the one place its uvicorn configuration is built.

Beyond uvicorn's defaults it adds, from Settings:
- a header timeout and a cap on connections per client address
  (runcast/connection_guard.py, a subclass of uvicorn's httptools protocol);
- a body timeout (`BodyTimeout` around the app, runcast/rest/limits.py);
- an access log that never shows a credential (runcast/access_log.py, a filter installed
  through uvicorn's `log_config`);
- the objects that exist once the app is built (modules, the GraphQL schema, the routes:
  most of what the process ever holds) frozen out of the garbage collector's reach
  (`gc.freeze`), so that a full collection looks only at what came after. Such a
  collection runs every second or two under load, and it took about 30 ms, stalling every
  request meanwhile.
"""

from __future__ import annotations

import copy
import gc
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.config import LOGGING_CONFIG, STARTUP_FAILURE

from runcast.connection_guard import GuardedWebSocketProtocol, guarded_protocol
from runcast.rest.limits import BodyTimeout
from runcast.settings import Settings


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with credentials redacted from the access log."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": "runcast.access_log.RedactCredentials"}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact"]
    return config


def build_config(app: ASGIApp, settings: Settings, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration serving `app` under `settings`; `options` (tests) override
    plain uvicorn settings such as `port` or `lifespan`."""
    values: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": guarded_protocol(
            settings.header_timeout_seconds, settings.max_connections_per_address
        ),
        "ws": GuardedWebSocketProtocol,
        "log_config": log_config(),
        "log_level": "info",
        **options,
    }
    return uvicorn.Config(BodyTimeout(app, settings.body_timeout_seconds), **values)


def serve(app: ASGIApp, settings: Settings) -> int:
    """Serve `app` until interrupted; the exit status (uvicorn's when it could not start)."""
    server = uvicorn.Server(build_config(app, settings))
    gc.collect()
    gc.freeze()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0 if server.started else STARTUP_FAILURE
