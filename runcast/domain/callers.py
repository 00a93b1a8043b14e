"""Who is asking: the user a bearer token belongs to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """An authenticated user."""

    user_id: str
    user_name: str
