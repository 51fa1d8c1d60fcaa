"""What people do to a signal: take it (acknowledge), escalate it now, close it."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import Database
from bot.domain import MessageState, SignalStatus
from bot.history import add_event
from bot.models import LadderRunRow, OutboxMessageRow, PageRow, SignalRow
from bot.texts import t
from escalation.context import PagingContext
from escalation.paging import notify
from escalation.timers import cancel_pending, schedule_step

# Channels whose adapters can edit a message already sent.
CHAT_CHANNELS = ("telegram", "slack")


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
            raise ActionError("unknown_person", f"Personne inconnue « {person_id} » : absente de l'annuaire.")
        return person_id

    async def _load(self, session: AsyncSession, reference: str) -> tuple[SignalRow, LadderRunRow | None]:
        stmt = select(SignalRow).where(SignalRow.reference == reference.strip().upper())
        if self.db.is_postgres:
            stmt = stmt.with_for_update()
        signal = (await session.exec(stmt)).first()
        if signal is None:
            raise ActionError("not_found", f"Aucun signal avec la référence « {reference} ».")
        run_stmt = select(LadderRunRow).where(LadderRunRow.signal_id == signal.id)
        if self.db.is_postgres:
            run_stmt = run_stmt.with_for_update()
        return signal, (await session.exec(run_stmt)).first()

    async def _cancel_pending_pages(self, session: AsyncSession, signal_id: int) -> None:
        table = OutboxMessageRow.__table__  # type: ignore[attr-defined]
        await session.exec(
            sa.update(table)
            .where(
                table.c.signal_id == signal_id,
                table.c.kind == "page",
                table.c.state == MessageState.PENDING.value,
            )
            .values(state="cancelled")
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
            if message is not None and message.state in ("sending", "sent", "delivered"):
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
        text = t(
            f"notice.{kind}",
            self.ctx.lang,
            name=name,
            time=self.ctx.local(now),
            reference=signal.reference,
            title=signal.title,
        )
        for person_id, pages in (await self._pages_sent(session, run)).items():
            channels = list(dict.fromkeys(m.channel for m in pages))
            for channel in channels or [None]:
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
                    data={"page_refs": refs if channel in CHAT_CHANNELS else [], "edit_only": edit_only},
                )

    async def acknowledge(self, reference: str, person_id: str, channel: str = "cli") -> ActionResult:
        self._person(person_id)
        now = self.ctx.clock.now()
        name = self.ctx.name(person_id)
        async with self.db.transaction() as session:
            signal, run = await self._load(session, reference)
            assert signal.id is not None
            if signal.status == SignalStatus.CLOS.value:
                raise ActionError("closed", f"{signal.reference} est déjà clos.")
            if signal.acknowledged_by is not None:
                by = self.ctx.name(signal.acknowledged_by)
                at = self.ctx.local(signal.acknowledged_at) if signal.acknowledged_at else "?"
                message = f"{signal.reference} est déjà pris en charge par {by} (à {at})."
                if signal.acknowledged_by == person_id:
                    # The same person again (a retry, a double press): nothing to do, not an error.
                    return ActionResult(signal.reference, message, changed=False)
                raise ActionError("already_taken", message)
            signal.acknowledged_by, signal.acknowledged_at = person_id, now
            if signal.status == SignalStatus.RECU.value:
                signal.status = SignalStatus.ACQUITTE.value
            session.add(signal)
            if run is not None and run.state == "active":
                run.state, run.ended_at, run.updated_at = "acknowledged", now, now
                session.add(run)
            if run is not None:
                pages = (await session.exec(select(PageRow).where(PageRow.run_id == run.id))).all()
                for page in pages:
                    page.state = "acknowledged" if page.person_id == person_id else "ended"
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
        return ActionResult(
            signal.reference, f"{signal.reference} pris en charge par {name} à {self.ctx.local(now)}."
        )

    async def escalate(self, reference: str, person_id: str | None = None) -> ActionResult:
        self._person(person_id)
        now = self.ctx.clock.now()
        name = self.ctx.name(person_id) if person_id else "l'équipe de permanence"
        async with self.db.transaction() as session:
            signal, run = await self._load(session, reference)
            assert signal.id is not None
            if run is None:
                raise ActionError(
                    "no_ladder", f"{signal.reference} n'a pas d'échelle d'astreinte à faire avancer."
                )
            if run.state != "active":
                states = {
                    "acknowledged": f"déjà pris en charge par {self.ctx.name(signal.acknowledged_by)}",
                    "resolved": "clos",
                    "exhausted": "arrivé au bout de l'échelle sans réponse",
                }
                raise ActionError("not_active", f"{signal.reference} est {states.get(run.state, run.state)}.")
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
            signal.reference, f"{signal.reference} : escalade immédiate vers l'étape suivante."
        )

    async def resolve(self, reference: str, person_id: str, note: str | None = None) -> ActionResult:
        self._person(person_id)
        now = self.ctx.clock.now()
        name = self.ctx.name(person_id)
        async with self.db.transaction() as session:
            signal, run = await self._load(session, reference)
            assert signal.id is not None
            if signal.status == SignalStatus.CLOS.value:
                return ActionResult(signal.reference, f"{signal.reference} est déjà clos.", changed=False)
            signal.status, signal.closed_at, signal.open_dedup_key = SignalStatus.CLOS.value, now, None
            session.add(signal)
            if run is not None and run.state == "active":
                run.state, run.ended_at, run.updated_at = "resolved", now, now
                session.add(run)
            await self._cancel_pending_pages(session, signal.id)
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
        return ActionResult(signal.reference, f"{signal.reference} clos par {name}.")


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
