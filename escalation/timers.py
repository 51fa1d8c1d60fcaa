"""Durable timers: the next due action of each ladder is a row, so restarts lose nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import bulk
from bot.domain import TimerState
from bot.models import TimerRow, table_of

LADDER_STEP = "ladder_step"


def schedule_step(
    session: AsyncSession, run_id: int, step: int, pass_index: int, due: datetime, now: datetime
) -> None:
    """Page ``step`` of ``pass_index`` at ``due`` (a step index past the end means: repeat or give up)."""
    values: dict[str, Any] = {
        "kind": LADDER_STEP,
        "run_id": run_id,
        "due_at": due,
        "created_at": now,
        "data": {"step": step, "pass": pass_index},
    }
    if not bulk.add(session, TimerRow, values):
        session.add(TimerRow(**values))


async def cancel_pending(session: AsyncSession, run_id: int, now: datetime) -> None:
    table = table_of(TimerRow)
    await session.exec(
        sa.update(table)
        .where(table.c.run_id == run_id, table.c.state == TimerState.PENDING.value)
        .values(state=TimerState.CANCELLED.value, done_at=now)
    )
