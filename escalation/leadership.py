"""Leader election for calendar jobs: a PostgreSQL advisory lock held on its own connection.

When the leader dies its connection closes, PostgreSQL releases the lock, and the next instance
that tries gets it. SQLite serves a single instance, which is always the leader.
"""

from __future__ import annotations

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.db import UNAVAILABLE_ERRORS, Database

log = structlog.get_logger("vigie.leader")

LEADER_LOCK_KEY = 0x56494745  # "VIGE"
MATRIX_SYNC_KEY = 0x5649474D  # "VIGM": the instance that syncs with the Matrix homeserver


class Leadership:
    def __init__(self, db: Database, key: int = LEADER_LOCK_KEY) -> None:
        self.db = db
        self.key = key
        self._conn: AsyncConnection | None = None
        self._leader = False

    @property
    def is_leader(self) -> bool:
        return self._leader

    async def try_acquire(self) -> bool:
        """Become leader if nobody is; also checks that a held lock is still held."""
        if not self.db.is_postgres:
            self._leader = True
            return True
        if self._conn is not None:
            try:
                await self._conn.execute(sa.text("SELECT 1"))
                return True
            except UNAVAILABLE_ERRORS:
                log.warning("leadership_lost")
                await self._drop()
        try:
            conn = await self.db.engine.connect()
        except UNAVAILABLE_ERRORS:
            return False
        try:
            got = (
                await conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            ).scalar_one()
            await conn.commit()
        except UNAVAILABLE_ERRORS:
            await conn.close()
            return False
        if got:
            self._conn, self._leader = conn, True
            log.info("leadership_acquired")
            return True
        await conn.close()
        return False

    async def _drop(self) -> None:
        conn, self._conn, self._leader = self._conn, None, False
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                await conn.invalidate()

    async def release(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                await self._conn.commit()
            except UNAVAILABLE_ERRORS:
                pass
        await self._drop()
        self._leader = False
