"""The crisis's durable due actions (``crisis_timers``): a point's prompt and reminders, an
action's due time, the cold debrief. A timer is claimed (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite has one writer) and marked done in the transaction that does what it is for,
so a restart or a ``kill -9`` loses none and two instances never do one twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import CrisisConfig
from bot.crisis.models import CrisisPointRow, CrisisRow, CrisisTimerRow, PointState
from bot.db import Database
from bot.models import table_of

POINT_PROMPT, POINT_DUE, POINT_LATE = "point_prompt", "point_due", "point_late"
POINT_TIMERS = (POINT_PROMPT, POINT_DUE, POINT_LATE)
ACTION_DUE, RETEX_COLD = "action_due", "retex_cold"
PENDING, DONE, CANCELLED = "pending", "done", "cancelled"


def schedule(
    session: AsyncSession, crisis_id: int, kind: str, due: datetime, now: datetime, **data: Any
) -> CrisisTimerRow:
    timer = CrisisTimerRow(crisis_id=crisis_id, kind=kind, due_at=due, created_at=now, data=data)
    session.add(timer)
    return timer


async def cancel(session: AsyncSession, crisis_id: int, kinds: tuple[str, ...], now: datetime) -> None:
    table = table_of(CrisisTimerRow)
    await session.exec(
        sa.update(table)
        .where(table.c.crisis_id == crisis_id, table.c.state == PENDING, table.c.kind.in_(kinds))
        .values(state=CANCELLED, done_at=now)
    )


async def claim_due(
    session: AsyncSession, db: Database, now: datetime, limit: int = 20
) -> list[CrisisTimerRow]:
    stmt = (
        select(CrisisTimerRow)
        .where(CrisisTimerRow.state == PENDING, col(CrisisTimerRow.due_at) <= now)
        .order_by(col(CrisisTimerRow.due_at), col(CrisisTimerRow.id))
        .limit(limit)
    )
    if db.is_postgres:
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await session.exec(stmt)).all())


async def anything_due(db: Database, now: datetime) -> bool:
    async with db.read_session() as session:
        stmt = select(CrisisTimerRow.id).where(
            CrisisTimerRow.state == PENDING, col(CrisisTimerRow.due_at) <= now
        )
        return (await session.exec(stmt.limit(1))).first() is not None


def time_point(
    session: AsyncSession, cfg: CrisisConfig, crisis: CrisisRow, point: CrisisPointRow, now: datetime
) -> None:
    """The prompt (``points.prompt_before`` ahead, at once when that has passed), the reminder to
    pilotage at the due time, and the one to décision ``points.late_after`` later. The caller
    cancels the timers of an earlier schedule first."""
    assert crisis.id is not None
    prompt = max(now, point.due_at - cfg.points.prompt_before)
    if point.state == PointState.PLANNED.value:
        schedule(session, crisis.id, POINT_PROMPT, prompt, now, point=point.number)
    schedule(session, crisis.id, POINT_DUE, max(now, point.due_at), now, point=point.number)
    late = max(now, point.due_at) + cfg.points.late_after
    schedule(session, crisis.id, POINT_LATE, late, now, point=point.number)


async def plan_point(
    session: AsyncSession,
    cfg: CrisisConfig,
    crisis: CrisisRow,
    number: int,
    due: datetime,
    now: datetime,
    *,
    final: bool = False,
) -> CrisisPointRow:
    """A new point de situation due at ``due``, with its timers."""
    assert crisis.id is not None
    point = CrisisPointRow(crisis_id=crisis.id, number=number, due_at=due, final=final, sections={})
    session.add(point)
    await session.flush()
    time_point(session, cfg, crisis, point, now)
    return point


def first_due(cfg: CrisisConfig, crisis: CrisisRow, armed: datetime) -> datetime:
    return armed + cfg.cadence(crisis.phase)


def at_least(due: datetime, now: datetime, lead: timedelta) -> datetime:
    """A due time that leaves the cell ``lead`` to write the point (a cadence shortened past)."""
    return max(due, now + lead)
