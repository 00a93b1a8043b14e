"""Claiming runnable executions, in creation order, as one statement per batch.

Runnable means PENDING or RUNNING with no lease or an expired one: queued work, or the work
of a node that died (a PENDING execution holds a lease when the node whose request stored
it runs it straight away). On Postgres the candidate rows are locked with
`FOR UPDATE SKIP LOCKED`, so nodes claiming at the same moment take disjoint batches
without waiting on each other; SQLite has a single writer, which serialises claims by
itself. Each claim bumps the fencing token: a node that lost its lease can no longer write
step results.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from runcast.domain.enums import ExecutionStatus
from runcast.models import Execution
from runcast.store import statements, tables

__all__ = ["claim_runnable"]

_RUNNABLE = (
    f"status IN ('{ExecutionStatus.PENDING}', '{ExecutionStatus.RUNNING}') "
    "AND (lease_expires_at IS NULL OR lease_expires_at < {now})"
)
_CLAIM = (
    f"UPDATE execution SET status = '{ExecutionStatus.RUNNING}', "
    "lease_owner = {owner}, "
    "lease_expires_at = {expires}, fencing_token = fencing_token + 1 "
    "WHERE id IN (SELECT id FROM execution WHERE " + _RUNNABLE + " "
    "ORDER BY created_at, id LIMIT {limit}{lock}) RETURNING id, fencing_token"
)
_POSTGRES_CLAIM = _CLAIM.format(
    owner="$1", expires="$2", now="$3", limit="$4", lock=" FOR UPDATE SKIP LOCKED"
)
_SQLITE_CLAIM = _CLAIM.format(owner="?", expires="?", now="?", limit="?", lock="")


async def claim_runnable(
    owner: str, limit: int, now: datetime, lease: timedelta
) -> list[tuple[str, int]]:
    """Claim up to `limit` runnable executions for `owner`; return (id, fencing token)."""
    sql = _POSTGRES_CLAIM if statements.dialect() == "postgres" else _SQLITE_CLAIM
    rows = await statements.fetch(
        sql,
        [
            owner,
            tables.to_db(Execution, "lease_expires_at", now + lease),
            tables.to_db(Execution, "lease_expires_at", now),
            limit,
        ],
        writes=True,
    )
    return [(str(row["id"]), int(row["fencing_token"])) for row in rows]
