"""Drills: an exercise signal walked through the real roster, ladder and channels, measured.

A drill is a row with its due time. Scheduled ones get one row per window (unique on the
schedule and the window: two instances plan and start it once); a drill the service slept
through is started when it comes back if its window is still open, and reported « manqué »
otherwise. Started, its signal is an ordinary signal flagged ``exercise`` (every message about it
says EXERCICE EXERCICE EXERCICE) on the drill's ladder; once acknowledged (and, ``with_crisis``,
once its exercise cell is armed) or after ``drills.timeout``, it is measured and reported.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import DrillSchedule, VigieConfig
from bot.crisis.cell import CrisisCell
from bot.crisis.models import CrisisMemberRow, CrisisRow
from bot.db import Database
from bot.diffusion.service import Diffusions
from bot.domain import OriginChannel
from bot.drills import report
from bot.drills.contacts import ContactChecks
from bot.drills.models import DrillRow, DrillState
from bot.drills.schedule import next_window, pick_time
from bot.intake import IntakeService, Origin, SignalDraft
from bot.models import OutboxMessageRow, PageRow, SignalEventRow, SignalRow
from bot.outbox import OutgoingMessage, enqueue
from escalation.context import PagingContext
from escalation.paging import notify_officers


@dataclass(frozen=True)
class DrillReply:
    text: str
    ok: bool = True
    changed: bool = False
    drill: int | None = None
    code: str | None = None


class Drills:
    def __init__(
        self,
        config: VigieConfig,
        db: Database,
        ctx: PagingContext,
        intake: IntakeService,
        cell: CrisisCell,
        rng: random.Random | None = None,
        diffusions: Diffusions | None = None,
    ) -> None:
        self.config, self.db, self.ctx, self.intake, self.cell = config, db, ctx, intake, cell
        self.rng = rng or random.SystemRandom()
        # The test de joignabilité of the directory, and the partners' scheduled exercise diffusions.
        self.contacts = ContactChecks(config, db, ctx, diffusions)

    # --- starting -----------------------------------------------------------------------

    async def start(
        self,
        by: str | None,
        ladder: str | None = None,
        *,
        with_crisis: bool = False,
        title: str | None = None,
    ) -> DrillReply:
        """``vigie drill start``, ``/exercice``, ``POST /api/v1/drills``: a drill now."""
        if ladder is not None and self.config.ladder(ladder) is None:
            names = ", ".join(la.id for la in self.config.ladders)
            return DrillReply(f"Échelle inconnue « {ladder} » ({names}).", ok=False, code="unknown_ladder")
        chosen = ladder or self._default_ladder()
        if chosen is None:
            return DrillReply("Aucune échelle configurée : rien à essayer.", ok=False, code="no_ladder")
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            drill = DrillRow(
                ladder_id=chosen,
                with_crisis=with_crisis,
                title=title or "Exercice d'alerte : essai de la chaîne d'astreinte",
                due_at=now,
                window_start=now,
                window_end=now + self.config.drills.timeout,
                started_by=by,
                created_at=now,
            )
            session.add(drill)
            await session.flush()
        await self.run_due()
        async with self.db.read_session() as session:
            started = await session.get(DrillRow, drill.id)
            assert started is not None
            signal = await session.get(SignalRow, started.signal_id) if started.signal_id else None
        crisis = " ; une cellule de crise d'exercice s'ouvrira à la prise en charge" if with_crisis else ""
        return DrillReply(
            f"Exercice n° {drill.id} lancé sur l'échelle « {chosen} » : signal "
            f"{signal.reference if signal else '…'} (EXERCICE){crisis}. Rapport à la fin.",
            changed=True,
            drill=drill.id,
        )

    def _default_ladder(self) -> str | None:
        ladder = self.config.default_ladder()
        return ladder.id if ladder else None

    # --- the worker's round -------------------------------------------------------------

    async def run_due(self) -> int:
        now = self.ctx.clock.now()
        done = await self._plan(now)
        done += await self._start_due(now)
        done += await self._follow(now)
        return done + await self.contacts.run_due()

    async def _plan(self, now: datetime) -> int:
        """Each schedule has its coming drill planned (once, whatever the instances)."""
        schedules = self.config.drills.schedules
        if not schedules:
            return 0
        async with self.db.read_session() as session:
            planned = {
                d.schedule_id
                for d in (
                    await session.exec(
                        select(DrillRow).where(
                            col(DrillRow.schedule_id).is_not(None),
                            col(DrillRow.state).in_([DrillState.PLANNED.value, DrillState.RUNNING.value]),
                        )
                    )
                ).all()
            }
        missing = [s for s in schedules if s.id not in planned]
        if not missing:
            return 0
        made = 0
        async with self.db.transaction() as session:
            await self.db.serialize(session, "drills-plan")
            for schedule in missing:
                made += await self._plan_one(session, schedule, now)
        return made

    async def _plan_one(self, session: AsyncSession, schedule: DrillSchedule, now: datetime) -> int:
        opens, closes = next_window(schedule, now, self.ctx.zone, self.config.drills.timeout)
        taken = (
            await session.exec(
                select(DrillRow).where(DrillRow.schedule_id == schedule.id, DrillRow.window_start == opens)
            )
        ).first()
        if taken is not None:  # this window's drill is done already: the next one
            if taken.state in (DrillState.PLANNED.value, DrillState.RUNNING.value):
                return 0
            opens, closes = next_window(schedule, closes, self.ctx.zone, self.config.drills.timeout)
        due = opens if schedule.cron is not None else pick_time(opens, closes, now, self.rng)
        session.add(
            DrillRow(
                schedule_id=schedule.id,
                ladder_id=schedule.ladder or self._default_ladder(),
                with_crisis=schedule.with_crisis,
                title=schedule.title,
                window_start=opens,
                window_end=closes,
                due_at=due,
                created_at=now,
            )
        )
        return 1

    async def _claim(self, session: AsyncSession, stmt: Any) -> list[DrillRow]:
        if self.db.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        return list((await session.exec(stmt)).all())

    async def _start_due(self, now: datetime) -> int:
        due_stmt = select(DrillRow).where(
            DrillRow.state == DrillState.PLANNED.value, col(DrillRow.due_at) <= now
        )
        async with self.db.read_session() as session:
            if (await session.exec(due_stmt.limit(1))).first() is None:
                return 0
        started: list[DrillRow] = []
        async with self.db.transaction() as session:
            for drill in await self._claim(session, due_stmt):
                if drill.window_end is not None and now > drill.window_end:
                    drill.state, drill.ended_at = DrillState.MISSED.value, now
                    session.add(drill)
                    notify_officers(
                        session, self.ctx,
                        f"EXERCICE EXERCICE EXERCICE — Exercice « {drill.title} » ({drill.schedule_id}) "
                        "manqué : le service était "
                        "arrêté pendant toute sa fenêtre (jusqu'au "
                        f"{self.ctx.local_day(drill.window_end)}).",
                        kind="drill_missed", key=f"drill:{drill.id}:missed", now=now, data={"exercise": True},
                    )  # fmt: skip
                    continue
                drill.state, drill.started_at = DrillState.RUNNING.value, now
                session.add(drill)
                started.append(drill)
        for drill in started:
            await self._launch(drill)
        return len(started)

    async def _launch(self, drill: DrillRow) -> None:
        """Its exercise signal: the same intake as any signal (a dedup key per drill: started
        again after a crash, it finds its signal instead of making a second one)."""
        receipt = await self.intake.accept(
            SignalDraft(
                title=drill.title,
                body=f"Exercice n° {drill.id}. Prenez-le en charge comme une alerte réelle : "
                "le temps est mesuré.",
                origin=Origin(OriginChannel.CLI, address="exercice", person_id=drill.started_by),
                source="exercice",
                reporter=self.ctx.name(drill.started_by) if drill.started_by else "Vigie (exercice planifié)",
                dedup_key=f"drill-{drill.id}",
                is_exercise=True,
                attributes={"drill": drill.id, "ladder": drill.ladder_id},
            )
        )
        async with self.db.transaction() as session:
            row = await session.get(DrillRow, drill.id)
            if row is not None and row.signal_id is None:
                row.signal_id = receipt.signal_id
                session.add(row)

    async def _follow(self, now: datetime) -> int:
        """Running drills: relaunch one whose signal a crash lost, open the exercise cell once
        acknowledged, and end those acknowledged (cell armed) or past ``drills.timeout``."""
        async with self.db.read_session() as session:
            running = list(
                (await session.exec(select(DrillRow).where(DrillRow.state == DrillState.RUNNING.value))).all()
            )
        changed = 0
        for drill in running:
            if drill.signal_id is None:
                await self._launch(drill)
                changed += 1
                continue
            async with self.db.read_session() as session:
                signal = await session.get(SignalRow, drill.signal_id)
                crisis = await session.get(CrisisRow, drill.crisis_id) if drill.crisis_id else None
            assert signal is not None
            timed_out = drill.started_at is not None and now >= drill.started_at + self.config.drills.timeout
            if drill.with_crisis and signal.acknowledged_at is not None and crisis is None and not timed_out:
                await self._open_cell(drill, signal)
                changed += 1
                continue
            answered = signal.acknowledged_at is not None and (
                not drill.with_crisis or (crisis and crisis.armed_at)
            )
            if answered or timed_out:
                changed += await self._finish(drill.id or 0, now)
        return changed

    async def _open_cell(self, drill: DrillRow, signal: SignalRow) -> None:
        opener = signal.acknowledged_by or (drill.started_by or "")
        said = await self.cell.open(
            opener, f"EXERCICE — {drill.title}", [signal.reference], None, "exercice", exercise=True
        )
        async with self.db.transaction() as session:
            row = await session.get(DrillRow, drill.id)
            crisis = (
                await session.exec(select(CrisisRow).where(CrisisRow.reference == (said.reference or "")))
            ).first()
            if row is not None:
                row.crisis_id = crisis.id if crisis else None
                if crisis is None:  # refused: measured without it
                    row.with_crisis = False
                session.add(row)

    # --- measures and report --------------------------------------------------------------

    async def _finish(self, drill_id: int, now: datetime) -> int:
        async with self.db.transaction() as session:
            stmt = select(DrillRow).where(DrillRow.id == drill_id, DrillRow.state == DrillState.RUNNING.value)
            claimed = await self._claim(session, stmt)
            if not claimed:
                return 0
            drill = claimed[0]
            drill.measures = await self.measure(session, drill)
            drill.state, drill.ended_at = DrillState.DONE.value, now
            session.add(drill)
            text = report.text(self.ctx, drill)
            notify_officers(
                session, self.ctx, text, kind="drill_report", signal_id=drill.signal_id,
                key=f"drill:{drill.id}:report", now=now, data={"exercise": True},
            )  # fmt: skip
        if self.config.drills.report_to:
            await self._mail_report(drill_id, now)
        return 1

    async def _mail_report(self, drill_id: int, now: datetime) -> None:
        drills = await self.last(10)
        drill = next(d for d in drills if d.id == drill_id)
        chart = report.chart_png(self.ctx, drills)
        async with self.db.transaction() as session:
            for address in dict.fromkeys(str(a) for a in self.config.drills.report_to):
                enqueue(
                    session,
                    OutgoingMessage(
                        channel="email",
                        kind="drill_report",
                        text=report.text(self.ctx, drill),
                        subject=f"EXERCICE EXERCICE EXERCICE [Vigie] Rapport de l'exercice n° {drill.id}",
                        recipient_address=address,
                        idempotency_key=f"drill:{drill.id}:report:{address}",
                        data={
                            "exercise": True,
                            "attachments": [
                                {
                                    "filename": "exercices-tendance.png",
                                    "content_type": "image/png",
                                    "base64": base64.b64encode(chart).decode(),
                                }
                            ],
                        },
                    ),
                    now=now,
                )

    async def measure(self, session: AsyncSession, drill: DrillRow) -> dict[str, Any]:
        """Seconds from the signal to the first page, its first delivery, the acknowledgement;
        who answered, at which step, by which channel; who was paged and did not; failovers;
        with a cell, each member's join and the armed cell."""
        signal = await session.get(SignalRow, drill.signal_id)
        assert signal is not None
        t0 = signal.received_at

        def since(at: datetime | None) -> float | None:
            return round((at - t0).total_seconds(), 1) if at is not None else None

        pages = list((await session.exec(select(PageRow).where(PageRow.signal_id == signal.id))).all())
        messages = list(
            (
                await session.exec(
                    select(OutboxMessageRow).where(
                        OutboxMessageRow.signal_id == signal.id, OutboxMessageRow.kind == "page"
                    )
                )
            ).all()
        )
        events = list(
            (await session.exec(select(SignalEventRow).where(SignalEventRow.signal_id == signal.id))).all()
        )
        acked = next((e for e in events if e.kind == "acknowledged"), None)
        mine = [p for p in pages if p.person_id == signal.acknowledged_by]
        answered = max(mine, key=lambda p: (p.pass_index, p.step_index)) if mine else None
        sent = [m.sent_at for m in messages if m.sent_at is not None]
        delivered = [m.delivered_at or m.sent_at for m in messages if m.state in ("delivered", "sent")]
        measures: dict[str, Any] = {
            "signal": signal.reference,
            "ladder": drill.ladder_id,
            "first_page_s": since(min((p.created_at for p in pages), default=None)),
            "first_sent_s": since(min(sent, default=None)),
            "first_delivery_s": since(min((d for d in delivered if d), default=None)),
            "ack_s": since(signal.acknowledged_at),
            "acked_by": signal.acknowledged_by,
            "acked_step": answered.step_index + 1 if answered else None,
            "acked_level": answered.level if answered else None,
            "acked_channel": acked.channel if acked else None,
            "silent": sorted({p.person_id for p in pages} - {signal.acknowledged_by or ""}),
            "failovers": sum(1 for e in events if e.kind == "failover"),
        }
        if drill.crisis_id:
            crisis = await session.get(CrisisRow, drill.crisis_id)
            members = (
                await session.exec(
                    select(CrisisMemberRow).where(CrisisMemberRow.crisis_id == drill.crisis_id)
                )
            ).all()
            measures["crisis"] = crisis.reference if crisis else None
            measures["armed_s"] = since(crisis.armed_at) if crisis else None
            measures["joined_s"] = {m.person_id: since(m.joined_at) for m in members}
        return measures

    async def last(self, count: int) -> list[DrillRow]:
        """The last ``count`` drills done or missed, oldest first."""
        async with self.db.read_session() as session:
            rows = (
                await session.exec(
                    select(DrillRow)
                    .where(col(DrillRow.state).in_([DrillState.DONE.value, DrillState.MISSED.value]))
                    .order_by(col(DrillRow.id).desc())
                    .limit(count)
                )
            ).all()
        return list(reversed(rows))

    async def coming(self) -> list[DrillRow]:
        async with self.db.read_session() as session:
            return list(
                (
                    await session.exec(
                        select(DrillRow)
                        .where(col(DrillRow.state).in_([DrillState.PLANNED.value, DrillState.RUNNING.value]))
                        .order_by(col(DrillRow.due_at))
                    )
                ).all()
            )

    def describe(self, drill: DrillRow) -> str:
        return report.text(self.ctx, drill)
