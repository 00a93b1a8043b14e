"""Which database and broadcast configurations the suite runs against.

`sqlite` (embedded: SQLite + memory://) always runs. `postgres` (scale-out: Postgres +
redis:// when RUNCAST_TEST_REDIS_URL is set) runs when RUNCAST_TEST_POSTGRES_URL is set;
without it the tests skip with a reason, except under CI=true where they fail.
"""

from __future__ import annotations

import os

import pytest

POSTGRES_URL = os.environ.get("RUNCAST_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("RUNCAST_TEST_REDIS_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"

BACKENDS = ["sqlite", "postgres"]


def require(name: str, url: str | None) -> str:
    """Return `url`, or skip (fail under CI) when the service is not configured."""
    if url:
        return url
    message = f"{name} is not configured: set {'RUNCAST_TEST_' + name.upper() + '_URL'}"
    if IN_CI:
        pytest.fail(f"{message} (required when CI=true)")
    pytest.skip(message)
