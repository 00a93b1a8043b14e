"""Opaque identifiers with a type prefix: `ws_…`, `wf_…`, `exec_…`."""

from __future__ import annotations

import hashlib
import secrets


def new_id(prefix: str) -> str:
    """Return a new random identifier such as `exec_3f9c0a1b2d4e5f60718293a4`."""
    return f"{prefix}_{secrets.token_hex(12)}"


def stable_id(prefix: str, key: str) -> str:
    """Return the same identifier for the same `key`, so a repeated step writes one row."""
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"
