"""The paging engine: starts a ladder for each new signal and fires due timers.

Timers are rows. A worker claims due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and runs
each in a savepoint of one transaction; the pages it creates carry unique keys, so two instances
can never page the same step twice, and a crash before commit simply leaves the timer due.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import UNAVAILABLE_ERRORS, Database
from bot.history import add_event
from bot.metrics import Metrics
from bot.models import LadderRunRow, SignalRow, TimerRow
from bot.texts import t
from escalation.context import PagingContext
from escalation.paging import exercise_prefix, notify, page_step
from escalation.routing import choose_ladder
from escalation.timers import LADDER_STEP, schedule_step

log = structlog.get_logger("vigie.engine")

ERROR_RETRY = timedelta(seconds=30)


class EscalationEngine:
    def __init__(
        self, db: Database, ctx: PagingContext, metrics: Metrics | None = None, batch: int = 200
    ) -> None:
        self.db = db
        self.ctx = ctx
        self.metrics = metrics
        self.batch = batch
        self._wake = asyncio.Event()

    def poke(self) -> None:
        self._wake.set()

    # --- start -------------------------------------------------------------------

    async def start_run(self, session: AsyncSession, signal: SignalRow) -> None:
        """Intake hook: runs inside the signal's own transaction, so an accepted signal
        always has its ladder (or a recorded reason why nobody is paged)."""
        now = self.ctx.clock.now()
        assert signal.id is not None
        ladder = choose_ladder(self.ctx.config, signal)
        if ladder is None:
            add_event(session, signal.id, "no_ladder", t("event.no_ladder", self.ctx.lang), now)
            return
        run = LadderRunRow(
            signal_id=signal.id, ladder_id=ladder.id, roster_id=ladder.roster, started_at=now, updated_at=now
        )
        session.add(run)
        await session.flush()
        assert run.id is not None
        schedule_step(session, run.id, 0, 0, now, now)
        add_event(
            session,
            signal.id,
            "ladder_started",
            t("event.ladder_started", self.ctx.lang, ladder=ladder.name or ladder.id),
            now,
            data={"ladder": ladder.id},
        )

    # --- timers ------------------------------------------------------------------

    async def run_due(self) -> int:
        """Fire every timer due now (one batch); returns how many were handled."""
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            stmt = (
                select(TimerRow)
                .where(TimerRow.state == "pending", col(TimerRow.due_at) <= now)
                .order_by(col(TimerRow.due_at), col(TimerRow.id))
                .limit(self.batch)
            )
            if self.db.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            timers = list((await session.exec(stmt)).all())
            handled = 0
            for timer in timers:
                try:
                    async with session.begin_nested():
                        if await self._fire(session, timer):
                            handled += 1
                except UNAVAILABLE_ERRORS:
                    raise
                except Exception as exc:  # one broken ladder must not stop the others
                    log.exception("timer_failed", timer_id=timer.id)
                    await self._postpone(session, timer, exc)
                    handled += 1
        return handled

    async def _fire(self, session: AsyncSession, timer: TimerRow) -> bool:
        now = self.ctx.clock.now()
        run_stmt = select(LadderRunRow).where(LadderRunRow.id == timer.run_id)
        if self.db.is_postgres:
            # Never wait for a run an acknowledgement is holding: the timer stays due and
            # is looked at again on the next round, once that transaction has decided.
            run_stmt = run_stmt.with_for_update(skip_locked=True)
        run = (await session.exec(run_stmt)).first()
        if run is None:
            return False
        timer.done_at = now
        timer.lateness_ms = (now - timer.due_at).total_seconds() * 1000
        if run.state != "active" or timer.kind != LADDER_STEP:
            timer.state = "cancelled"
            session.add(timer)
            return True
        timer.state = "done"
        session.add(timer)
        signal = await session.get(SignalRow, run.signal_id)
        ladder = self.ctx.config.ladder(run.ladder_id)
        assert signal is not None and run.id is not None
        step, pass_index = int(timer.data["step"]), int(timer.data["pass"])
        if ladder is None or step >= len(ladder.steps):
            if ladder is not None and pass_index < ladder.repeat:
                add_event(
                    session, signal.id, "repeat", t("event.repeat", self.ctx.lang, number=pass_index + 2), now
                )  # type: ignore[arg-type]
                step, pass_index = 0, pass_index + 1
            else:
                await self._exhaust(session, run, signal, len(ladder.steps) if ladder else 0, pass_index + 1)
                return True
        await page_step(session, self.ctx, run, signal, ladder, step, pass_index, now)
        if self.metrics is not None:
            self.metrics.timer_lateness.observe(max(0.0, timer.lateness_ms / 1000))
        return True

    async def _exhaust(
        self, session: AsyncSession, run: LadderRunRow, signal: SignalRow, steps: int, passes: int
    ) -> None:
        now = self.ctx.clock.now()
        assert signal.id is not None
        run.state, run.ended_at, run.updated_at = "exhausted", now, now
        session.add(run)
        officers = self.ctx.config.officers()
        text = t(
            "notice.exhausted",
            self.ctx.lang,
            prefix=exercise_prefix(self.ctx, signal),
            reference=signal.reference,
            title=signal.title,
            steps=steps,
            passes=passes,
        )
        for officer in officers:
            notify(
                session,
                self.ctx,
                officer,
                text,
                kind="unanswered",
                signal_id=signal.id,
                key=f"exhausted:{run.id}",
                now=now,
            )
        add_event(
            session,
            signal.id,
            "exhausted",
            t(
                "event.exhausted",
                self.ctx.lang,
                names=", ".join(self.ctx.name(o) for o in officers) or "aucun",
            ),
            now,
        )

    async def _postpone(self, session: AsyncSession, timer: TimerRow, exc: Exception) -> None:
        now = self.ctx.clock.now()
        timer.due_at = now + ERROR_RETRY
        session.add(timer)
        run = await session.get(LadderRunRow, timer.run_id)
        if run is not None:
            add_event(
                session,
                run.signal_id,
                "internal_error",
                t(
                    "event.internal_error",
                    self.ctx.lang,
                    seconds=int(ERROR_RETRY.total_seconds()),
                    error=type(exc).__name__,
                ),
                now,
            )

    async def next_due(self) -> float | None:
        """Seconds until the earliest pending timer, if any."""
        async with self.db.read_session() as session:
            due = (
                await session.exec(
                    select(TimerRow.due_at)
                    .where(TimerRow.state == "pending")
                    .order_by(col(TimerRow.due_at))
                    .limit(1)
                )
            ).first()
        if due is None:
            return None
        return (due - self.ctx.clock.now()).total_seconds()

    async def run_forever(
        self, poll_seconds: float = 0.5, after_round: Callable[[], None] | None = None
    ) -> None:
        while True:
            try:
                handled = await self.run_due()
            except UNAVAILABLE_ERRORS:
                log.warning("engine_store_unavailable")
                handled = 0
                await asyncio.sleep(poll_seconds)
            if handled:
                if after_round is not None:
                    after_round()
                continue
            self._wake.clear()
            try:
                wait = await self.next_due()
            except UNAVAILABLE_ERRORS:
                wait = None
            # Other instances may add timers: never sleep longer than the poll interval.
            timeout = poll_seconds if wait is None else min(poll_seconds, max(0.0, wait))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            except TimeoutError:
                pass
