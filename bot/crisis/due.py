"""Runs the crisis timers that are due (bot.crisis.timers), each in its own transaction with
what it does. The crisis is locked before its timer, the order every command takes (a command
holds the crisis, then cancels or adds timers), so that two instances never deadlock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.crisis import store, timers
from bot.crisis.models import CrisisRow, CrisisTimerRow
from bot.db import UNAVAILABLE_ERRORS, Database

log = structlog.get_logger("vigie.crisis.due")

Handler = Callable[[AsyncSession, CrisisRow, CrisisTimerRow, datetime], Awaitable[None]]


class DueActions:
    def __init__(self, db: Database, clock: Clock, handlers: Mapping[str, Handler]) -> None:
        self.db, self.clock, self.handlers = db, clock, handlers

    async def run_due(self, limit: int = 50) -> int:
        now = self.clock.now()
        if not await timers.anything_due(self.db, now):
            return 0
        async with self.db.read_session() as session:
            stmt = (
                select(CrisisTimerRow.id, CrisisTimerRow.crisis_id)
                .where(CrisisTimerRow.state == timers.PENDING, col(CrisisTimerRow.due_at) <= now)
                .order_by(col(CrisisTimerRow.due_at), col(CrisisTimerRow.id))
                .limit(limit)
            )
            due = list((await session.exec(stmt)).all())
        done = 0
        for timer_id, crisis_id in due:
            assert timer_id is not None
            try:
                done += await self._one(timer_id, crisis_id, now)
            except UNAVAILABLE_ERRORS:
                raise  # the store is down: the timer stays due, the next round tries again
            except Exception:
                # A fault in one timer must not hold the others: it is set aside, and logged.
                log.exception("crisis_timer_failed", timer=timer_id)
                await self._set_aside(timer_id, now)
        return done

    async def _one(self, timer_id: int, crisis_id: int, now: datetime) -> int:
        async with self.db.transaction() as session:
            crisis = await store.lock_crisis_by_id(session, self.db, crisis_id)
            stmt = select(CrisisTimerRow).where(
                CrisisTimerRow.id == timer_id, CrisisTimerRow.state == timers.PENDING
            )
            if self.db.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            timer = (await session.exec(stmt)).first()
            if timer is None or crisis is None:
                return 0  # another instance took it, or it was cancelled meanwhile
            handler = self.handlers.get(timer.kind)
            if handler is not None:
                await handler(session, crisis, timer, now)
            timer.state, timer.done_at = timers.DONE, now
            session.add(timer)
        return 1

    async def _set_aside(self, timer_id: int, now: datetime) -> None:
        async with self.db.transaction() as session:
            timer = await session.get(CrisisTimerRow, timer_id)
            if timer is not None and timer.state == timers.PENDING:
                timer.state, timer.done_at = "failed", now
                session.add(timer)
