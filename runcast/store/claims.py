"""Claiming runnable executions, in creation order, as one statement per batch.

Runnable means PENDING or RUNNING with no lease or an expired one: queued work, or the work
of a node that died (a PENDING execution holds a lease when the node whose request stored
it runs it straight away). On Postgres the candidate rows are locked with
`FOR UPDATE SKIP LOCKED`, so nodes claiming at the same moment take disjoint batches
without waiting on each other; SQLite has a single writer, which serialises claims by
itself. Each claim bumps the fencing token: a node that lost its lease can no longer write
step results.

Executions under a workflow's concurrency cap are claimed apart (`claim_capped`): only
while fewer than the cap of the same workflow and key run, in creation order within each
key. On Postgres those claims take one transaction-level advisory lock, so nodes count
and claim them one after the other; the uncapped claim never waits for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from runcast.domain.enums import ExecutionStatus
from runcast.models import Execution
from runcast.store import statements, tables

__all__ = ["claim_capped", "claim_runnable"]

_RUNNABLE = (
    f"status IN ('{ExecutionStatus.PENDING}', '{ExecutionStatus.RUNNING}') "
    "AND (lease_expires_at IS NULL OR lease_expires_at < {now})"
)
_UNCAPPED = "concurrency_limit IS NULL AND " + _RUNNABLE
_CLAIM = (
    f"UPDATE execution SET status = '{ExecutionStatus.RUNNING}', "
    "lease_owner = {owner}, "
    "lease_expires_at = {expires}, fencing_token = fencing_token + 1 "
    "WHERE id IN (SELECT id FROM execution WHERE " + _UNCAPPED + " "
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


_CAPPED_CLAIM = (
    # Per workflow and key: how many run under a live lease, and the runnable ones in
    # creation order (those a dead node left RUNNING first: they already hold a place).
    "WITH live AS (SELECT workflow_id, concurrency_key, COUNT(*) AS running FROM execution "
    f"WHERE status = '{ExecutionStatus.RUNNING}' AND concurrency_limit IS NOT NULL "
    "AND lease_expires_at >= {now} GROUP BY workflow_id, concurrency_key), "
    "queue AS (SELECT id, workflow_id, concurrency_key, concurrency_limit, created_at, "
    "ROW_NUMBER() OVER (PARTITION BY workflow_id, concurrency_key "
    f"ORDER BY CASE WHEN status = '{ExecutionStatus.RUNNING}' THEN 0 ELSE 1 END, "
    "created_at, id) AS place FROM execution "
    "WHERE concurrency_limit IS NOT NULL AND " + _RUNNABLE + ") "
    f"UPDATE execution SET status = '{ExecutionStatus.RUNNING}', lease_owner = {{owner}}, "
    "lease_expires_at = {expires}, fencing_token = fencing_token + 1 "
    "WHERE id IN (SELECT q.id FROM queue q LEFT JOIN live l "
    "ON l.workflow_id = q.workflow_id AND l.concurrency_key = q.concurrency_key "
    "WHERE q.place <= q.concurrency_limit - COALESCE(l.running, 0) "
    "ORDER BY q.created_at, q.id LIMIT {limit}) RETURNING id, fencing_token, created_at"
)
_POSTGRES_CAPPED_CLAIM = _CAPPED_CLAIM.format(owner="$1", expires="$2", now="$3", limit="$4")
_SQLITE_CAPPED_CLAIM = _CAPPED_CLAIM.format(owner="?1", expires="?2", now="?3", limit="?4")
CAPPED_LOCK = 7_460_187_302
"""The advisory lock (any constant of runcast's own) that orders capped claims on Postgres."""


async def claim_capped(
    owner: str, limit: int, now: datetime, lease: timedelta
) -> list[tuple[str, int]]:
    """Claim up to `limit` capped executions for `owner`, each only while its workflow and
    key have a free place; return (id, fencing token). On Postgres its transaction runs to
    its end when the caller is cancelled (`statements.transaction`): the rows it took then
    stay leased to this node until the lease runs out, as when a node stops mid-run."""
    params: list[Any] = [
        owner,
        tables.to_db(Execution, "lease_expires_at", now + lease),
        tables.to_db(Execution, "lease_expires_at", now),
        limit,
    ]
    if statements.dialect() != "postgres":
        rows = await statements.fetch(_SQLITE_CAPPED_CLAIM, params, writes=True)
    else:
        rows = await statements.transaction(partial(_claim_in_order, params))
    # In creation order, so the runs of one key start in the order they were queued.
    rows.sort(key=lambda row: (row["created_at"], row["id"]))
    return [(str(row["id"]), int(row["fencing_token"])) for row in rows]


async def _claim_in_order(params: list[Any], connection: BaseDBAsyncClient) -> list[dict[str, Any]]:
    """Postgres: the capped claim under the advisory lock that orders capped claims."""
    await connection.execute_query("SELECT pg_advisory_xact_lock($1)", [CAPPED_LOCK])
    return list(await connection.execute_query_dict(_POSTGRES_CAPPED_CLAIM, params))
