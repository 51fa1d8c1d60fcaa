"""Async engine and sessions for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.settings import normalise_database_url
from bot.sqlite_inline import BUSY_TIMEOUT_MS, READ_BUSY_TIMEOUT_MS, inline_creator, is_locked

# How long a writer waits for another process (the CLI) to release SQLite's write lock.
LOCK_WAIT_SECONDS = 30.0

# Errors meaning "the store is unavailable" rather than "this request is wrong".
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
    sa.exc.DBAPIError,
    OSError,
    TimeoutError,
)


def dialect_insert(dialect: str, table: sa.Table) -> Any:
    """An INSERT with ``on_conflict_do_nothing/do_update`` for PostgreSQL or SQLite."""
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _configure_sqlite(engine: AsyncEngine, begin: str, busy_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (below) instead of the driver's deferred BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a receipt is only sent once the signal is on disk, even on power loss.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin)


class WriteGate:
    """Who writes first. Background writers (a diffusion's thousands of messages) start a
    transaction only when no urgent one (a page, a receipt, a confirmation) is waiting or
    running; with SQLite's one writer, urgent ones also queue ahead of the background ones
    already waiting. A real signal's page then never queues behind a diffusion's batch."""

    def __init__(self, serial: bool) -> None:
        self._lock: asyncio.Lock | None = asyncio.Lock() if serial else None
        self._urgent = 0  # urgent transactions waiting or running
        self._clear = asyncio.Event()
        self._clear.set()

    @asynccontextmanager
    async def hold(self, *, background: bool) -> AsyncIterator[None]:
        if background:
            while True:
                await self._clear.wait()
                if self._lock is not None:
                    await self._lock.acquire()
                if self._urgent == 0:
                    break
                if self._lock is not None:  # an urgent one came while we queued: it goes first
                    self._lock.release()
            try:
                yield
            finally:
                if self._lock is not None:
                    self._lock.release()
            return
        self._urgent += 1
        self._clear.clear()
        try:
            if self._lock is None:
                yield
            else:
                async with self._lock:
                    yield
        finally:
            self._urgent -= 1
            if self._urgent == 0:
                self._clear.set()


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_database_url(url)
        sqlite = self.url.startswith("sqlite")
        if sqlite:
            # Statements run in the loop's thread (bot.sqlite_inline). Writers take the lock up
            # front (BEGIN IMMEDIATE): a deferred transaction that reads then writes fails at
            # once with SQLITE_BUSY when another writer got in between. Readers get their own
            # engine with a deferred BEGIN: in WAL mode they read a snapshot and never wait
            # for the writers. No pre-ping: a local file does not drop connections.
            path = sa.engine.make_url(self.url).database or ""
            self.engine: AsyncEngine = create_async_engine(
                self.url, echo=echo, async_creator=inline_creator(path)
            )
            _configure_sqlite(self.engine, "BEGIN IMMEDIATE", BUSY_TIMEOUT_MS)
            self.read_engine = create_async_engine(self.url, echo=echo, async_creator=inline_creator(path))
            _configure_sqlite(self.read_engine, "BEGIN", READ_BUSY_TIMEOUT_MS)
            # The polls' probes (is a timer or a message due?) run many times a second: on one
            # plain connection, each is a statement (in WAL mode, on its own snapshot) instead
            # of a pool checkout, a BEGIN, the statement and a ROLLBACK through the async layer.
            self._probe: sa.Engine | None = sa.create_engine(
                sa.engine.make_url(self.url).set(drivername="sqlite"),
                poolclass=sa.pool.StaticPool,
                connect_args={"check_same_thread": False},
            )
            sa.event.listen(
                self._probe, "connect", lambda c, _: c.execute(f"PRAGMA busy_timeout={READ_BUSY_TIMEOUT_MS}")
            )
        else:
            self.engine = create_async_engine(
                self.url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=10
            )
            self.read_engine = self.engine
            self._probe = None
        # SQLite has one writer. Within this process, writers queue on a FIFO lock instead of
        # SQLite's busy handler, which sleeps in growing steps and can starve the engine under
        # load; for other processes (the CLI) see _begun_session.
        self._gate = WriteGate(serial=sqlite)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(
            self.read_engine, class_=AsyncSession, expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    def session(self) -> AsyncSession:
        return self._sessions()

    def insert(self, table: sa.Table) -> Any:
        """An INSERT of this dialect, which has ``on_conflict_do_nothing/do_update``."""
        return dialect_insert(self.dialect, table)

    def read_session(self) -> AsyncSession:
        """A session for reading only (never blocks behind writers on SQLite)."""
        return self._read_sessions()

    async def read_first(
        self, stmt: sa.Select[Any], params: dict[str, Any] | None = None
    ) -> sa.Row[Any] | None:
        """The first row of a Core query: a poll's probe, cheaper than a session's read."""
        if self._probe is not None:  # SQLite: microseconds, in the loop's thread (see above)
            with self._probe.connect() as sync:
                return sync.execute(stmt, params).first()
        async with self.read_engine.connect() as conn:
            return (await conn.execute(stmt, params)).first()

    async def serialize(self, session: AsyncSession, name: str) -> None:
        """Hold a lock named ``name`` until the transaction ends, across instances (PostgreSQL's
        advisory lock; SQLite has one writer already)."""
        if self.is_postgres:
            key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
            await session.exec(select(sa.func.pg_advisory_xact_lock(key)))

    @asynccontextmanager
    async def transaction(self, *, background: bool = False) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on success and rolled back on any error.
        ``background``: bulk work that gives way to every other writer (``WriteGate``)."""
        async with self._gate.hold(background=background):
            session = await self._begun_session()
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            else:
                await session.commit()
            finally:
                await session.close()

    async def _begun_session(self) -> AsyncSession:
        """A session whose transaction has begun: on SQLite, holding the write lock (BEGIN
        IMMEDIATE). While another process (the CLI) holds it, wait here, asleep, rather than
        in the loop's thread."""
        deadline = asyncio.get_running_loop().time() + LOCK_WAIT_SECONDS
        pause = 0.005
        while True:
            session = self._sessions()
            try:
                await session.connection()  # BEGIN (IMMEDIATE on SQLite)
                return session
            except BaseException as exc:
                await session.close()
                if not is_locked(exc) or asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)

    async def ping(self) -> bool:
        try:
            async with self.read_engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except UNAVAILABLE_ERRORS:
            return False

    async def dispose(self) -> None:
        if self._probe is not None:
            self._probe.dispose()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
