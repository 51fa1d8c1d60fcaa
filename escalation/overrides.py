"""Run-time roster overrides kept in the store (``/relais``), applied on top of the configuration."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import Database
from bot.models import RosterOverrideRow, table_of
from escalation.context import PagingContext
from escalation.rosters import ExtraOverride


async def refresh_overrides(db: Database, ctx: PagingContext, now: datetime) -> None:
    """Load the overrides still running or to come, and let the schedules use them."""
    async with db.read_session() as session:
        await load_overrides(session, ctx, now)


async def load_overrides(session: AsyncSession, ctx: PagingContext, now: datetime) -> None:
    """The same, in a session already open (the engine's batch: no second connection)."""
    table = table_of(RosterOverrideRow)
    conn = await session.connection()
    rows = (
        await conn.execute(
            sa.select(table.c.roster_id, table.c.start, table.c.end, table.c.person_id, table.c.level)
            .where(table.c.end > now)
            .order_by(table.c.id)
        )
    ).all()
    extra: dict[str, list[ExtraOverride]] = {}
    for row in rows:
        extra.setdefault(row.roster_id, []).append(
            ExtraOverride(start=row.start, end=row.end, by=row.person_id, level=row.level)
        )
    ctx.use_overrides(extra)
