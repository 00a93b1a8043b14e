"""Opaque identifiers with a type prefix: `ws_…`, `wf_…`, `exec_…`."""

from __future__ import annotations

import hashlib
import re
import secrets


def new_id(prefix: str) -> str:
    """Return a new random identifier such as `exec_3f9c0a1b2d4e5f60718293a4`."""
    return f"{prefix}_{secrets.token_hex(12)}"


def stable_id(prefix: str, key: str) -> str:
    """Return the same identifier for the same `key`, so a repeated step writes one row."""
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


WORKSPACE_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")
_ID_CHARACTERS = re.compile(r"[A-Za-z0-9_-]+")
MAX_ID_LENGTH = 40
MAX_WORKSPACE_REF_LENGTH = 100


def is_wellformed_id(value: str) -> bool:
    """Whether `value` could name a row: checked before any database call, so an
    overlong or odd identifier is simply not found."""
    return len(value) <= MAX_ID_LENGTH and _ID_CHARACTERS.fullmatch(value) is not None


def is_workspace_ref(value: str) -> bool:
    """Whether `value` could be a workspace's slug or id."""
    return len(value) <= MAX_WORKSPACE_REF_LENGTH and _ID_CHARACTERS.fullmatch(value) is not None


_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


def is_client_key(value: str, max_length: int) -> bool:
    """Whether `value` is a key a client may choose (an `Idempotency-Key`, an event id): 1
    to `max_length` printable ASCII characters, so never a trigger's own `§…` key."""
    return len(value) <= max_length and _PRINTABLE_ASCII.fullmatch(value) is not None
