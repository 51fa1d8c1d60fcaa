"""What a channel keeps across restarts and instances (a sync token, a person's direct room),
and the inbound events it already handled, so that a replayed sync handles nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, delete, select

from bot.db import Database
from bot.models import ChannelEventRow, ChannelStateRow, table_of

# A replayed sync goes back minutes, not days: older marks are pruned.
SEEN_KEPT = timedelta(days=7)


class ChannelState:
    def __init__(self, db: Database, prefix: str) -> None:
        self.db, self.prefix = db, prefix

    async def get(self, key: str) -> str | None:
        async with self.db.read_session() as session:
            row = await session.get(ChannelStateRow, f"{self.prefix}:{key}")
            return row.value if row is not None else None

    async def put(self, key: str, value: str, now: datetime) -> None:
        table = table_of(ChannelStateRow)
        async with self.db.transaction() as session:
            await session.exec(
                self.db.insert(table)
                .values(key=f"{self.prefix}:{key}", value=value, updated_at=now)
                .on_conflict_do_update(index_elements=[table.c.key], set_={"value": value, "updated_at": now})
            )

    async def handled(self, keys: list[str]) -> set[str]:
        """Those of these events already handled."""
        if not keys:
            return set()
        wanted = [f"{self.prefix}:{k}" for k in keys]
        async with self.db.read_session() as session:
            found = await session.exec(
                select(ChannelEventRow.key).where(col(ChannelEventRow.key).in_(wanted))
            )
            return {k.split(":", 1)[1] for k in found.all()}

    async def mark(self, key: str, now: datetime) -> None:
        table = table_of(ChannelEventRow)
        async with self.db.transaction() as session:
            await session.exec(
                self.db.insert(table).values(key=f"{self.prefix}:{key}", seen_at=now).on_conflict_do_nothing()
            )

    async def prune(self, now: datetime) -> None:
        async with self.db.transaction(background=True) as session:
            await session.exec(delete(ChannelEventRow).where(col(ChannelEventRow.seen_at) < now - SEEN_KEPT))
