"""SQLite connections whose statements run in the event loop's own thread.

aiosqlite hands each call (cursor, execute, fetch, commit…) to a worker thread and waits for
the loop to pick the answer up. A write transaction of thirty statements then holds SQLite's
one write lock for thirty turns of a busy loop (tens of milliseconds under load), while each
statement itself takes tens of microseconds: the writers queue behind each other and intake,
paging and delivery slow down together. Vigie's writers therefore run their statements at
once, in the loop's thread: the lock is held for the transaction's own work only. Readers too:
each hop to the worker thread and back costs more CPU than the statement (a one-row read in
its own session: 3 ms through the thread, 0.7 ms here). A statement blocks the loop while it
runs, as the Python that handles its rows does anyway; SQLite on a local file answers in
microseconds, and a desk whose store must take heavy reports beside heavy traffic runs on
PostgreSQL.

Waiting for another process's write lock (the CLI) is not done in the loop: the connection's
busy timeout is short and ``Database.transaction`` retries the BEGIN with asyncio sleeps.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import aiosqlite

# How long BEGIN IMMEDIATE may block the loop waiting for another process before it gives up
# and the caller sleeps (asynchronously) and tries again.
BUSY_TIMEOUT_MS = 20
# A reader in WAL mode waits only in rare cases (another connection recovering the log).
READ_BUSY_TIMEOUT_MS = 200


# The longest stretch of statements run without giving the loop a turn: a transaction of
# thirty statements then lets the server read requests and the SMTP sessions answer once or
# twice on its way, instead of holding them all for its whole length.
SLICE_SECONDS = 0.002
_last_turn = [0.0]  # when a statement last waited for the loop (all connections: one loop)


def _run(future: asyncio.Future[Any] | None, function: Callable[[], Any]) -> None:
    try:
        result = function()
    except BaseException as exc:  # handed to the awaiting caller, as the worker thread does
        if future is not None and not future.done():
            future.set_exception(exc)
    else:
        if future is not None and not future.done():
            future.set_result(result)


def _after_turn(future: asyncio.Future[Any], function: Callable[[], Any]) -> None:
    _last_turn[0] = time.perf_counter()
    _run(future, function)  # run even if the caller was cancelled meanwhile (it may be a COMMIT)


class _RunNow:
    """Stands in for aiosqlite's queue to its worker thread: runs each call at once and
    settles its future, so that awaiting it does not yield to the loop; except once a slice
    has passed since the loop last had a turn, when the call waits for the next turn."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        if future is not None and time.perf_counter() - _last_turn[0] > SLICE_SECONDS:
            future.get_loop().call_soon(_after_turn, future, function)
            return
        _run(future, function)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection without its worker thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]

    def __await__(self) -> Any:
        return self._connect().__await__()  # no thread to start


def inline_creator(path: str) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine``: a new inline connection to ``path``
    (its busy timeout is set by ``bot.db`` on connect, with the other pragmas)."""

    async def create() -> InlineConnection:
        def connector() -> sqlite3.Connection:
            # check_same_thread off: the pool may close a connection from the GC elsewhere.
            return sqlite3.connect(path, check_same_thread=False)

        return await InlineConnection(connector)

    return create


def is_locked(exc: BaseException) -> bool:
    """SQLITE_BUSY (« database is locked »): another process holds the write lock."""
    orig = getattr(exc, "orig", exc)  # SQLAlchemy's error wraps the driver's
    code = getattr(orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY  # extended codes included
