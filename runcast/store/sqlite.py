"""SQLite's hot path on a connection of its own: group commit on one dedicated thread.

The ORM keeps a connection of its own for everything else. The two write the same file and
wait for each other through the busy timeout, which sleeps a millisecond or more at a
time, so every frequent write goes through here (step commits, inserts, the dispatcher's
claims) and the ORM's connection writes seldom (workflows, tokens, heartbeats, cancel
flags). This connection's transactions start as writes (`BEGIN IMMEDIATE`) and wait for
their turn; a transaction that reads before it writes would fail at once instead when the
other connection wrote in between, so the app opens none (see `bootstrap`).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise.exceptions import IntegrityError, OperationalError

sql_log = logging.getLogger("runcast.sql")
"""Debug log of the statements sent through SQLite's group (Tortoise logs the others)."""


@dataclass(frozen=True)
class Statement:
    """One statement with one parameter row per execution of it."""

    sql: str
    rows: list[list[Any]]
    expect: int | None = None
    """How many rows it must change; otherwise the whole transaction is rolled back."""
    table: str = ""
    """The table it writes (set by `statements.insert` and `statements.update`)."""
    key: tuple[Any, ...] | None = None
    """An UPDATE's WHERE values: two statements with the same table and key may change one
    row twice."""


@dataclass(frozen=True)
class Query:
    """One statement that returns rows: SQL with `?` marks (rewritten for Postgres) and its
    parameters; a read, or with `writes` a single statement that writes (`… RETURNING`)."""

    sql: str
    params: list[Any]
    writes: bool = False


Work = Sequence[Statement] | Query
Result = bool | list[dict[str, Any]]
T = TypeVar("T")


class _Thread:
    """One thread that runs the calls handed to it, in order, and answers each on the
    event loop that asked (a single worker, without an executor's bookkeeping)."""

    def __init__(self, name: str) -> None:
        self.calls: queue.SimpleQueue[tuple[asyncio.Future[Any], Callable[[], Any]] | None]
        self.calls = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    async def call(self, function: Callable[[], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.calls.put((future, function))
        return await future

    async def stop(self) -> None:
        self.calls.put(None)
        await asyncio.to_thread(self.thread.join)

    def _serve(self) -> None:
        while (call := self.calls.get()) is not None:
            future, function = call
            try:
                result = function()
            except BaseException as exc:  # handed to the caller, whatever it is
                future.get_loop().call_soon_threadsafe(_fail, future, exc)
            else:
                future.get_loop().call_soon_threadsafe(_answer, future, result)


def _answer(future: asyncio.Future[T], result: T) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class GroupCommit:
    """SQLite's hot-path work, grouped: the transactions and reads handed in while one trip
    to the connection's thread is under way go together in the next trip, each transaction
    in its own savepoint under one COMMIT. The connection is serial, and a trip costs more
    in waiting for threads than in SQLite's work, so under load this is what lets it keep
    up. The connection is opened, used and closed on one thread of its own."""

    def __init__(self, path: str, pragmas: Mapping[str, str]) -> None:
        self.path = path
        self.pragmas = dict(pragmas)
        self.queue: list[tuple[Work, asyncio.Future[Result]]] = []
        self.drainer: asyncio.Task[None] | None = None
        self.thread: _Thread | None = None
        self.connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        self.thread = _Thread("runcast sqlite")
        self.connection = await self.thread.call(self._connect)

    async def close(self) -> None:
        """Finish the work handed in so far, then close the connection and its thread."""
        if self.drainer is not None:
            await asyncio.shield(self.drainer)
        thread, connection = self.thread, self.connection
        self.thread = self.connection = None
        if thread is not None:
            if connection is not None:
                await thread.call(connection.close)
            await thread.stop()

    async def between_trips(self, function: Callable[[], T]) -> T:
        """Run `function` on the connection's thread between two trips, while none of this
        store's transactions is open; in a worker thread once the store is closed. Another
        connection's WAL reset run so never makes a commit here wait through the busy
        timeout, which sleeps 1, 2, 5, 10 ms and more at a time while it retries."""
        thread = self.thread
        if thread is None:
            return await asyncio.to_thread(function)
        return await thread.call(function)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None)  # autocommit
        connection.row_factory = sqlite3.Row
        for pragma, value in self.pragmas.items():
            connection.execute(f"PRAGMA {pragma}={value}")
        return connection

    async def submit(self, work: Work) -> Result:
        if sql_log.isEnabledFor(logging.DEBUG):
            for sql, params in _sql_of(work):
                sql_log.debug("%s: %s", sql, params)
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self.queue.append((work, future))
        if self.drainer is None or self.drainer.done():
            self.drainer = asyncio.create_task(self._drain(), name="sqlite group commit")
        return await future

    async def _drain(self) -> None:
        while self.queue:
            group = [(w, f) for w, f in self.queue if not f.done()]
            self.queue = []
            if group:
                await self._trip(group)

    async def _trip(self, group: list[tuple[Work, asyncio.Future[Result]]]) -> None:
        try:
            thread, connection = self.thread, self.connection
            if thread is None or connection is None:
                raise OperationalError("the SQLite store is closed")
            works = [work for work, _ in group]
            results = await thread.call(lambda: _run_group(connection, works))
        except Exception as exc:  # the whole trip failed: every transaction in it did
            for _, future in group:
                if not future.done():
                    future.set_exception(_translated(exc))
            return
        except BaseException:
            for _, future in group:
                future.cancel()
            raise
        for (_, future), result in zip(group, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(_translated(result))
            else:
                future.set_result(result)


def _sql_of(work: Work) -> list[tuple[str, list[Any]]]:
    if isinstance(work, Query):
        return [(work.sql, work.params)]
    return [(statement.sql, row) for statement in work for row in statement.rows]


def _translated(exc: Exception) -> Exception:
    """The ORM's exception for a driver's one, as callers of the ORM expect."""
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(exc)
    if isinstance(exc, sqlite3.Error):
        return OperationalError(exc)
    return exc


def _run_group(connection: sqlite3.Connection, group: Sequence[Work]) -> list[Result | Exception]:
    """Runs in the connection's thread, in autocommit mode: each transaction of `group` in
    a savepoint (rolled back alone when it fails), all under one COMMIT; reads in the same
    transaction, or on their own when the group has no writes."""
    writes = any(not isinstance(work, Query) or work.writes for work in group)
    results: list[Result | Exception] = []
    if writes:
        connection.execute("BEGIN IMMEDIATE")
    try:
        for work in group:
            results.append(
                _read(connection, work) if isinstance(work, Query) else _write(connection, work)
            )
    except BaseException:
        if writes:
            connection.execute("ROLLBACK")
        raise
    if writes:
        connection.execute("COMMIT")
    return results


def _read(connection: sqlite3.Connection, query: Query) -> list[dict[str, Any]] | Exception:
    try:
        return [dict(row) for row in connection.execute(query.sql, query.params).fetchall()]
    except sqlite3.Error as exc:
        return exc


def _write(connection: sqlite3.Connection, statements: Sequence[Statement]) -> bool | Exception:
    connection.execute("SAVEPOINT one")
    try:
        result: bool | Exception = _apply(connection, statements)
    except sqlite3.Error as exc:
        result = exc
    if result is not True:
        connection.execute("ROLLBACK TO one")
    connection.execute("RELEASE one")
    return result


def _apply(connection: sqlite3.Connection, statements: Sequence[Statement]) -> bool:
    for statement in statements:
        if len(statement.rows) == 1:
            changed = connection.execute(statement.sql, statement.rows[0]).rowcount
        else:
            changed = connection.executemany(statement.sql, statement.rows).rowcount
        if statement.expect is not None and changed != statement.expect:
            return False
    return True
