"""The paging engine: starts a ladder for each new signal and fires due timers.

Timers are rows. A worker claims due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and runs
each in a savepoint of one transaction; the pages it creates carry unique keys, so two instances
can never page the same step twice, and a crash before commit simply leaves the timer due.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import bulk
from bot.clock import utc
from bot.db import UNAVAILABLE_ERRORS, Database
from bot.domain import RunState, TimerState
from bot.history import add_event
from bot.logging_setup import slow
from bot.metrics import Metrics
from bot.models import LadderRunRow, MaintenanceRow, SignalRow, TimerRow, table_of
from bot.texts import t
from escalation.context import PagingContext
from escalation.maintenance import active_windows, held
from escalation.overrides import load_overrides
from escalation.paging import StepPlan, emit_step, exercise_prefix, insert_pages, notify_officers, plan_step
from escalation.routing import choose_ladder
from escalation.storms import sort_storms
from escalation.timers import LADDER_STEP, schedule_step

log = structlog.get_logger("vigie.engine")

ERROR_RETRY = timedelta(seconds=30)


@dataclass
class _Writes:
    """What a batch changes in its timers and runs, written by a few Core updates at its end:
    the ORM's unit of work, a row at a time, cost more than the rest of a step."""

    timers: dict[str, list[int]] = field(default_factory=dict)  # new state → timer ids
    steps: dict[int, tuple[int, int]] = field(default_factory=dict)  # run id → (step, pass) paged last
    exhausted: list[int] = field(default_factory=list)  # run ids


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

    async def start_runs(self, session: AsyncSession, signals: list[SignalRow]) -> None:
        """Intake hook: runs inside the signals' own transaction, so an accepted signal
        always has its ladder (or a recorded reason why nobody is paged)."""
        now = self.ctx.clock.now()
        runs: list[tuple[LadderRunRow, SignalRow, str]] = []
        # A source in maintenance: its ladders start now, their first step due at the window's end.
        windows = await active_windows(session, {s.source for s in signals if s.source}, now)
        first_due: dict[int, MaintenanceRow] = {}
        # A token's burst beyond intake.storm: grouped into one storm signal, paged once.
        storms = await sort_storms(session, self.ctx, signals, now)
        gathering = {s.id for s in storms.gathering}
        for signal in [*storms.page, *storms.gathering]:
            assert signal.id is not None
            ladder = choose_ladder(self.ctx.config, signal)
            if ladder is None:
                add_event(session, signal.id, "no_ladder", t("event.no_ladder", self.ctx.lang), now)
                continue
            run = LadderRunRow(
                signal_id=signal.id,
                ladder_id=ladder.id,
                roster_id=ladder.roster,
                started_at=now,
                updated_at=now,
            )
            session.add(run)
            runs.append((run, signal, ladder.name or ladder.id))
        if not runs:
            return
        await session.flush()  # one multi-row insert gives every run its id
        for run, signal, name in runs:
            assert run.id is not None and signal.id is not None
            window = windows.get(signal.source or "")
            if signal.id in gathering:  # the storm's page counts the burst
                schedule_step(session, run.id, 0, 0, now + self.ctx.config.intake.storm.gather, now)
            elif window is not None and held(self.ctx.config, signal):
                schedule_step(session, run.id, 0, 0, window.ends_at, now)
                first_due[signal.id] = window
                add_event(
                    session,
                    signal.id,
                    "maintenance",
                    t("event.maintenance", self.ctx.lang, source=window.source,
                      until=self.ctx.local(window.ends_at), motif=f" ({window.motif})" * bool(window.motif)),
                    now,
                    data={"window": window.id},
                )  # fmt: skip
            else:
                schedule_step(session, run.id, 0, 0, now, now)
            add_event(
                session,
                signal.id,
                "ladder_started",
                t("event.ladder_started", self.ctx.lang, ladder=name),
                now,
                data={"ladder": run.ladder_id},
            )
        table = table_of(MaintenanceRow)
        for window_id, count in Counter(w.id for w in first_due.values()).items():
            await session.exec(
                sa.update(table).where(table.c.id == window_id).values(held=table.c.held + count)
            )

    # --- timers ------------------------------------------------------------------

    async def run_due(self, *, probe: bool = True) -> int:
        """Fire every timer due now (one batch); returns how many were handled."""
        now = self.ctx.clock.now()
        if probe and not await self._anything_due(now):
            return 0
        started = time.perf_counter()
        try:
            handled = await self._run_batch(now, careful=False)
            slow(log, "engine_batch", started, timers=handled)
            return handled
        except UNAVAILABLE_ERRORS:
            raise
        except Exception:
            # One broken ladder must not stop the others: redo the batch timer by timer.
            log.exception("timer_batch_failed")
            return await self._run_batch(now, careful=True)

    async def _anything_due(self, now: datetime) -> bool:
        """Look without the write lock (a reader never blocks on SQLite) before taking it.
        PostgreSQL's batch query skips locked rows and blocks nobody: no need to look first."""
        if self.db.is_postgres:
            return True
        table = table_of(TimerRow)
        found = await self.db.read_first(
            sa.select(table.c.id)
            .where(table.c.state == TimerState.PENDING.value, table.c.due_at <= now)
            .limit(1)
        )
        return found is not None

    async def _run_batch(self, now: datetime, careful: bool) -> int:
        async with self.db.transaction() as session:
            # Each due timer with its run and signal, in one query.
            due = (
                select(TimerRow, LadderRunRow, SignalRow)
                .join(LadderRunRow, col(LadderRunRow.id) == TimerRow.run_id)
                .join(SignalRow, col(SignalRow.id) == LadderRunRow.signal_id)
                .where(TimerRow.state == TimerState.PENDING, col(TimerRow.due_at) <= now)
            )
            # Mostly the oldest first; but a quarter of each batch goes to the most recently due,
            # so that during a catch-up (a restart after an outage, thousands overdue) a step
            # falling due now does not queue behind the whole backlog.
            newest = max(1, self.batch // 4)
            oldest_stmt = due.order_by(col(TimerRow.due_at), col(TimerRow.id)).limit(self.batch - newest)
            newest_stmt = due.order_by(col(TimerRow.due_at).desc(), col(TimerRow.id).desc()).limit(newest)
            if self.db.is_postgres:
                # Never wait for a run an acknowledgement is holding: its timer stays due and
                # is looked at again on the next round, once that transaction has decided.
                lock = {"skip_locked": True, "of": [TimerRow, LadderRunRow]}
                oldest_stmt = oldest_stmt.with_for_update(**lock)  # type: ignore[arg-type]
                newest_stmt = newest_stmt.with_for_update(**lock)  # type: ignore[arg-type]
            picked = {t.id: (t, r, s) for t, r, s in (await session.exec(oldest_stmt)).all()}
            if len(picked) == self.batch - newest:  # a backlog: the newest too (else all are in)
                picked.update({t.id: (t, r, s) for t, r, s in (await session.exec(newest_stmt)).all()})
            if not picked:
                return 0
            due_timers = sorted(picked.values(), key=lambda trs: (trs[0].due_at, trs[0].id or 0))
            if not careful:  # the careful path's savepoints would not take bulk rows back
                bulk.collect(session)
            await load_overrides(session, self.ctx, now)  # /relais decided since the last batch
            plans: list[StepPlan] = []
            writes = _Writes()
            handled = 0
            for timer, run, signal in due_timers:
                handled += 1
                if not careful:
                    plan = self._fire(session, writes, timer, run, signal, now)
                    if plan is not None:
                        plans.append(plan)
                    continue
                try:
                    async with session.begin_nested():
                        own = _Writes()  # written inside the savepoint, undone with it
                        plan = self._fire(session, own, timer, run, signal, now)
                        if plan is not None:
                            await insert_pages(session, [plan])
                            self._emit(session, own, plan)
                        await self._write(session, own, now)
                except UNAVAILABLE_ERRORS:
                    raise
                except Exception as exc:
                    log.exception("timer_failed", timer_id=timer.id)
                    self._postpone(session, timer, run, exc, now)
            if plans:
                await insert_pages(session, plans)  # one round trip gives every new page its id
                for plan in plans:
                    self._emit(session, writes, plan)
            if not careful:
                await self._write(session, writes, now)
            await bulk.flush(session)
        return handled

    def _emit(self, session: AsyncSession, writes: _Writes, plan: StepPlan) -> None:
        emit_step(session, self.ctx, plan)
        assert plan.run.id is not None
        writes.steps[plan.run.id] = (plan.step_index, plan.pass_index)

    async def _write(self, session: AsyncSession, writes: _Writes, now: datetime) -> None:
        """The batch's timers and runs, a statement per new state (not one per row)."""
        timers, runs = table_of(TimerRow), table_of(LadderRunRow)
        conn = await session.connection()
        for state, ids in writes.timers.items():
            await conn.execute(
                sa.update(timers)
                .where(timers.c.id.in_(ids))
                .values(state=state, done_at=now, lateness_ms=self._lateness_ms(timers, now))
            )
        paged: dict[tuple[int, int], list[int]] = {}
        for run_id, step_and_pass in writes.steps.items():
            paged.setdefault(step_and_pass, []).append(run_id)
        for (step, pass_index), ids in paged.items():
            await conn.execute(
                sa.update(runs)
                .where(runs.c.id.in_(ids))
                .values(step_index=step, pass_index=pass_index, updated_at=now)
            )
        if writes.exhausted:
            await conn.execute(
                sa.update(runs)
                .where(runs.c.id.in_(writes.exhausted))
                .values(state=RunState.EXHAUSTED.value, ended_at=now, updated_at=now)
            )

    def _lateness_ms(self, timers: sa.Table, now: datetime) -> sa.ColumnElement[Any]:
        """How late each timer fires, computed by the store from its own due_at."""
        at = sa.literal(now, type_=timers.c.due_at.type)
        if self.db.is_postgres:
            return sa.extract("epoch", at - timers.c.due_at) * 1000.0
        return (sa.func.julianday(at) - sa.func.julianday(timers.c.due_at)) * 86_400_000.0

    def _fire(
        self,
        session: AsyncSession,
        writes: _Writes,
        timer: TimerRow,
        run: LadderRunRow,
        signal: SignalRow,
        now: datetime,
    ) -> StepPlan | None:
        assert timer.id is not None
        if run.state != RunState.ACTIVE or timer.kind != LADDER_STEP:
            writes.timers.setdefault(TimerState.CANCELLED.value, []).append(timer.id)
            return None
        writes.timers.setdefault(TimerState.DONE.value, []).append(timer.id)
        if self.metrics is not None:
            self.metrics.timer_lateness.observe(max(0.0, (now - timer.due_at).total_seconds()))
        ladder = self.ctx.config.ladder(run.ladder_id)
        assert signal.id is not None and run.id is not None
        step, pass_index = int(timer.data["step"]), int(timer.data["pass"])
        if ladder is None or step >= len(ladder.steps):
            if ladder is not None and pass_index < ladder.repeat:
                add_event(
                    session, signal.id, "repeat", t("event.repeat", self.ctx.lang, number=pass_index + 2), now
                )
                step, pass_index = 0, pass_index + 1
            else:
                steps = len(ladder.steps) if ladder else 0
                self._exhaust(session, writes, run, signal, steps, pass_index + 1, now)
                return None
        return plan_step(self.ctx, run, signal, ladder, step, pass_index, now)

    def _exhaust(
        self,
        session: AsyncSession,
        writes: _Writes,
        run: LadderRunRow,
        signal: SignalRow,
        steps: int,
        passes: int,
        now: datetime,
    ) -> None:
        assert signal.id is not None and run.id is not None
        writes.exhausted.append(run.id)
        # Seen as ended by a later timer of the same run in this batch; written by _write.
        set_committed_value(run, "state", RunState.EXHAUSTED.value)
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
        notify_officers(
            session,
            self.ctx,
            text,
            kind="unanswered",
            key=f"exhausted:{run.id}",
            now=now,
            signal_id=signal.id,
            data={"exercise": signal.is_exercise},
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

    def _postpone(
        self, session: AsyncSession, timer: TimerRow, run: LadderRunRow, exc: Exception, now: datetime
    ) -> None:
        timer.due_at = now + ERROR_RETRY
        timer.state, timer.done_at, timer.lateness_ms = TimerState.PENDING, None, None
        session.add(timer)
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
        table = table_of(TimerRow)
        found = await self.db.read_first(
            sa.select(table.c.due_at)
            .where(table.c.state == TimerState.PENDING.value)
            .order_by(table.c.due_at)
            .limit(1)
        )
        if found is None:
            return None
        return (utc(found[0]) - self.ctx.clock.now()).total_seconds()

    async def run_forever(
        self, poll_seconds: float = 0.5, after_round: Callable[[], None] | None = None
    ) -> None:
        while True:
            # Cleared before looking: a signal accepted during the round pokes the next one.
            self._wake.clear()
            wait: float | None = None
            try:
                wait = await self.next_due()
                if wait is not None and wait <= 0:  # the look-up served as run_due's probe
                    if await self.run_due(probe=False):
                        if after_round is not None:
                            after_round()
                        continue
                    # Due but taken (another instance's batch, a run being acknowledged).
                    wait = min(poll_seconds, 0.05)
            except UNAVAILABLE_ERRORS:
                log.warning("engine_store_unavailable")
            except Exception:  # a bug in one round must not stop every ladder for good
                log.exception("engine_round_failed")
                wait = None
            # Other instances may add timers: never sleep longer than the poll interval.
            timeout = poll_seconds if wait is None else min(poll_seconds, max(0.0, wait))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            except TimeoutError:
                pass
