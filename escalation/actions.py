"""What people do to a signal: take it (acknowledge), escalate it now, close it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import Database
from bot.domain import MessageState, PageState, RunState, SignalStatus
from bot.durations import took
from bot.history import add_event
from bot.models import LadderRunRow, OutboxMessageRow, PageRow, SignalRow, table_of
from bot.texts import t
from escalation.context import PagingContext
from escalation.paging import exercise_prefix, notify
from escalation.timers import cancel_pending, schedule_step

# Channels whose adapters can edit a message already sent.
CHAT_CHANNELS = ("telegram", "slack", "matrix")


class ActionError(Exception):
    """A refused action, with a French message for the person who asked."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ActionResult:
    reference: str
    message: str
    changed: bool = True


class SignalActions:
    def __init__(self, db: Database, ctx: PagingContext) -> None:
        self.db = db
        self.ctx = ctx

    def _person(self, person_id: str | None) -> str | None:
        if person_id is None:
            return None
        if self.ctx.config.person(person_id) is None:
            raise ActionError("unknown_person", t("action.unknown_person", self.ctx.lang, person=person_id))
        return person_id

    async def _load(self, session: AsyncSession, reference: str) -> tuple[SignalRow, LadderRunRow | None]:
        stmt = select(SignalRow).where(SignalRow.reference == reference.strip().upper())
        if self.db.is_postgres:
            stmt = stmt.with_for_update()
        signal = (await session.exec(stmt)).first()
        if signal is None:
            raise ActionError("not_found", t("action.not_found", self.ctx.lang, reference=reference))
        run_stmt = select(LadderRunRow).where(LadderRunRow.signal_id == signal.id)
        if self.db.is_postgres:
            run_stmt = run_stmt.with_for_update()
        return signal, (await session.exec(run_stmt)).first()

    async def _stop_ladder(
        self, session: AsyncSession, signal: SignalRow, run: LadderRunRow | None, now: datetime
    ) -> None:
        """The signal's ladder ends (closed, or taken into a crisis): its pages not sent yet too."""
        assert signal.id is not None
        session.add(signal)
        if run is not None and run.state == RunState.ACTIVE:
            run.state, run.ended_at, run.updated_at = RunState.RESOLVED.value, now, now
            session.add(run)
        await self._cancel_pending_pages(session, signal.id)

    async def _cancel_pending_pages(self, session: AsyncSession, signal_id: int) -> None:
        table = table_of(OutboxMessageRow)
        await session.exec(
            sa.update(table)
            .where(
                table.c.signal_id == signal_id,
                table.c.kind == "page",
                table.c.state == MessageState.PENDING.value,
            )
            .values(state=MessageState.CANCELLED.value)
        )

    async def _pages_sent(
        self, session: AsyncSession, run: LadderRunRow | None
    ) -> dict[str, list[OutboxMessageRow]]:
        """Each paged person, with the page notifications that actually went out to them."""
        if run is None:
            return {}
        rows = (
            await session.exec(
                select(PageRow.person_id, OutboxMessageRow)
                .join(OutboxMessageRow, col(OutboxMessageRow.page_id) == col(PageRow.id), isouter=True)
                .where(PageRow.run_id == run.id)
            )
        ).all()
        sent: dict[str, list[OutboxMessageRow]] = {}
        for person_id, message in rows:
            sent.setdefault(person_id, [])
            if message is not None and message.state in (
                MessageState.SENDING,
                MessageState.SENT,
                MessageState.DELIVERED,
            ):
                sent[person_id].append(message)
        return sent

    async def _tell_paged(
        self,
        session: AsyncSession,
        signal: SignalRow,
        run: LadderRunRow | None,
        kind: str,
        name: str,
        skip: str,
    ) -> None:
        """Tell everyone paged for this signal, but ``skip``, who took or closed it; on chat
        channels the pages themselves are edited too, for ``skip`` as well."""
        now = self.ctx.clock.now()
        text = exercise_prefix(self.ctx, signal) + t(
            f"notice.{kind}",
            self.ctx.lang,
            name=name,
            time=self.ctx.local(now),
            reference=signal.reference,
            title=signal.title,
        )
        for person_id, pages in (await self._pages_sent(session, run)).items():
            channels: list[str | None] = list(dict.fromkeys(m.channel for m in pages))
            for channel in channels or [None]:  # None: their first usable channel
                refs = [
                    {"provider_id": m.provider_id, "text": m.text}
                    for m in pages
                    if m.channel == channel and m.provider_id
                ]
                edit_only = person_id == skip
                if edit_only and not (refs and channel in CHAT_CHANNELS):
                    continue
                notify(
                    session,
                    self.ctx,
                    person_id,
                    text,
                    kind=f"{kind}_edit" if edit_only else kind,
                    signal_id=signal.id,
                    key=f"{kind}:{signal.id}",
                    now=now,
                    channels=[channel] if channel else None,
                    # Chat adapters edit the pages they sent (and only that, for ``skip``).
                    data={
                        "page_refs": refs if channel in CHAT_CHANNELS else [],
                        "edit_only": edit_only,
                        "exercise": signal.is_exercise,
                    },
                )

    async def acknowledge(self, reference: str, person_id: str, channel: str = "cli") -> ActionResult:
        self._person(person_id)
        now = self.ctx.clock.now()
        name = self.ctx.name(person_id)
        async with self.db.transaction() as session:
            signal, run = await self._load(session, reference)
            assert signal.id is not None
            if signal.status == SignalStatus.CLOS.value:
                closed = t("action.already_closed", self.ctx.lang, reference=signal.reference)
                raise ActionError("closed", closed)
            if signal.acknowledged_by is not None:
                by = self.ctx.name(signal.acknowledged_by)
                at = self.ctx.local(signal.acknowledged_at) if signal.acknowledged_at else "?"
                message = t(
                    "action.already_taken", self.ctx.lang, reference=signal.reference, name=by, time=at
                )
                if signal.acknowledged_by == person_id:
                    # The same person again (a retry, a double press): nothing to do, not an error.
                    return ActionResult(signal.reference, message, changed=False)
                raise ActionError("already_taken", message)
            signal.acknowledged_by, signal.acknowledged_at = person_id, now
            if signal.status == SignalStatus.RECU.value:
                signal.status = SignalStatus.ACQUITTE.value
            session.add(signal)
            if run is not None and run.state == RunState.ACTIVE:
                run.state, run.ended_at, run.updated_at = RunState.ACKNOWLEDGED.value, now, now
                session.add(run)
            if run is not None:
                pages = (await session.exec(select(PageRow).where(PageRow.run_id == run.id))).all()
                for page in pages:
                    page.state = PageState.ACKNOWLEDGED if page.person_id == person_id else PageState.ENDED
                    session.add(page)
            await self._cancel_pending_pages(session, signal.id)
            add_event(
                session,
                signal.id,
                "acknowledged",
                t("event.acknowledged", self.ctx.lang, name=name, channel=channel),
                now,
                actor=person_id,
                channel=channel,
            )
            await self._tell_paged(session, signal, run, "acknowledged", name, skip=person_id)
        if signal.is_exercise:  # the person is thanked with the time they took
            return ActionResult(
                signal.reference,
                t("action.taken.exercise", self.ctx.lang, reference=signal.reference, name=name,
                  time=self.ctx.local(now), took=took((now - signal.received_at).total_seconds())),
            )  # fmt: skip
        return ActionResult(
            signal.reference,
            t("action.taken", self.ctx.lang, reference=signal.reference, name=name, time=self.ctx.local(now)),
        )

    async def escalate(self, reference: str, person_id: str | None = None) -> ActionResult:
        self._person(person_id)
        now = self.ctx.clock.now()
        name = self.ctx.name(person_id) if person_id else t("action.desk", self.ctx.lang)
        async with self.db.transaction() as session:
            signal, run = await self._load(session, reference)
            assert signal.id is not None
            if run is None:
                raise ActionError(
                    "no_ladder", t("action.no_ladder", self.ctx.lang, reference=signal.reference)
                )
            if run.state != RunState.ACTIVE:
                why = t(
                    f"action.not_active.{RunState(run.state).value}",
                    self.ctx.lang,
                    reference=signal.reference,
                    name=self.ctx.name(signal.acknowledged_by),
                )
                raise ActionError("not_active", why)
            assert run.id is not None
            await cancel_pending(session, run.id, now)
            schedule_step(session, run.id, run.step_index + 1, run.pass_index, now, now)
            add_event(
                session,
                signal.id,
                "escalated",
                t("event.escalated", self.ctx.lang, name=name),
                now,
                actor=person_id,
            )
        return ActionResult(
            signal.reference, t("action.escalated", self.ctx.lang, reference=signal.reference)
        )

    async def resolve(self, reference: str, person_id: str, note: str | None = None) -> ActionResult:
        self._person(person_id)
        now = self.ctx.clock.now()
        name = self.ctx.name(person_id)
        async with self.db.transaction() as session:
            signal, run = await self._load(session, reference)
            assert signal.id is not None
            if signal.status == SignalStatus.CLOS.value:
                return ActionResult(
                    signal.reference,
                    t("action.already_closed", self.ctx.lang, reference=signal.reference),
                    changed=False,
                )
            signal.status, signal.closed_at, signal.open_dedup_key = SignalStatus.CLOS.value, now, None
            await self._stop_ladder(session, signal, run, now)
            add_event(
                session,
                signal.id,
                "resolved",
                t("event.resolved", self.ctx.lang, name=name, note=f" : {note}" if note else ""),
                now,
                actor=person_id,
                data={"note": note},
            )
            await self._tell_paged(session, signal, run, "resolved", name, skip=person_id)
        closed = t("action.closed", self.ctx.lang, reference=signal.reference, name=name)
        return ActionResult(signal.reference, closed)

    async def resolve_by_source(self, reference: str, source: str, note: str) -> ActionResult:
        """The source itself says it is over (a silent monitor pinging again): closed with a
        history entry naming it, the ladder stopped, the people paged told."""
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            signal, run = await self._load(session, reference)
            assert signal.id is not None
            if signal.status == SignalStatus.CLOS.value:
                return ActionResult(signal.reference, "", changed=False)
            signal.status, signal.closed_at, signal.open_dedup_key = SignalStatus.CLOS.value, now, None
            await self._stop_ladder(session, signal, run, now)
            add_event(
                session,
                signal.id,
                "resolved",
                t("event.resolved", self.ctx.lang, name=source, note=f" : {note}"),
                now,
                actor=source,
                data={"note": note, "by_source": True},
            )
            await self._tell_paged(session, signal, run, "resolved", source, skip="")
        return ActionResult(
            signal.reference, t("action.closed", self.ctx.lang, reference=signal.reference, name=source)
        )

    async def take_into_crisis(
        self, session: AsyncSession, reference: str, crisis_reference: str, person_id: str
    ) -> SignalRow:
        """In the caller's transaction: the signal becomes part of a crisis (status ``crise``);
        its ladder stops and the people paged are told (the crisis cell calls its own members)."""
        now = self.ctx.clock.now()
        name = self.ctx.name(person_id)
        signal, run = await self._load(session, reference)
        assert signal.id is not None
        if signal.status == SignalStatus.CLOS.value:
            raise ActionError("closed", t("action.already_closed", self.ctx.lang, reference=signal.reference))
        signal.status = SignalStatus.CRISE.value
        await self._stop_ladder(session, signal, run, now)
        add_event(
            session,
            signal.id,
            "crisis",
            t("event.crisis", self.ctx.lang, name=name, crisis=crisis_reference),
            now,
            actor=person_id,
            data={"crisis": crisis_reference},
        )
        await self._tell_paged(session, signal, run, "crisis", name, skip=person_id)
        return signal

    async def close_with_crisis(
        self, session: AsyncSession, signal: SignalRow, crisis_reference: str, person_id: str, now: datetime
    ) -> None:
        """In the caller's transaction: a signal closes with the crisis it was taken into."""
        assert signal.id is not None
        if signal.status == SignalStatus.CLOS.value:
            return
        signal.status, signal.closed_at, signal.open_dedup_key = SignalStatus.CLOS.value, now, None
        session.add(signal)
        add_event(
            session,
            signal.id,
            "resolved",
            t("event.crisis_closed", self.ctx.lang, crisis=crisis_reference, name=self.ctx.name(person_id)),
            now,
            actor=person_id,
            data={"crisis": crisis_reference},
        )


async def signal_for_code(
    db: Database, ctx: PagingContext, code: int, person_id: str | None
) -> tuple[str | None, bool]:
    """The signal an SMS reply code (its number in the year) names, and whether that person was
    paged for it. Codes repeat each year: the newest signal with that number wins."""
    async with db.read_session() as session:
        signal = (
            await session.exec(
                select(SignalRow).where(SignalRow.seq == code).order_by(col(SignalRow.year).desc())
            )
        ).first()
        if signal is None:
            return None, False
        paged = False
        if person_id is not None:
            paged = (
                await session.exec(
                    select(PageRow.id).where(PageRow.signal_id == signal.id, PageRow.person_id == person_id)
                )
            ).first() is not None
        return signal.reference, paged
