"""Closing a crisis, once its point de sortie is validated (``/crise clore`` asked for it:
bot.crisis.points): the room is told, its rooms are closed (the Slack channel archived when
``crisis.slack.archive``, the Telegram topic closed) once the last posts are out, the linked
signals are closed, the hot RETEX starts, and the main courante is sealed by a last entry that
carries the head hash."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.crisis import store
from bot.crisis.cell import CrisisCell
from bot.crisis.models import CrisisRow, CrisisState
from bot.crisis.retex import Retex
from bot.texts import t
from escalation.paging import notify


class CrisisClosure:
    def __init__(self, cell: CrisisCell, retex: Retex) -> None:
        self.cell, self.retex = cell, retex

    async def close(self, session: AsyncSession, crisis: CrisisRow, by: str, now: datetime) -> None:
        assert crisis.id is not None
        lang, ctx = self.cell.lang, self.cell.ctx
        crisis.state, crisis.closed_at, crisis.closed_by = CrisisState.CLOSED.value, now, by
        session.add(crisis)
        for signal in await store.signals_of(session, crisis.id):
            await self.cell.actions.close_with_crisis(session, signal, crisis.reference, by, now)
        reason = crisis.closing_reason
        said = t(
            "closure.room",
            lang,
            reference=crisis.reference,
            time=ctx.local(now),
            name=ctx.name(by),
            reason=f" ({reason})" if reason else "",
        )
        await self.cell.post_in_rooms(session, crisis, said, now, key=f"closure:{crisis.reference}")
        for person_id in dict.fromkeys(self.cell.config.crisis.inform):  # told it was armed: told it is over
            notify(
                session,
                ctx,
                person_id,
                said,
                kind="crisis_closed",
                signal_id=None,
                key=f"closure:{crisis.reference}",
                now=now,
            )
        for room in await store.rooms(session, crisis.id):
            room.close_at = now  # the room keeper closes it once the posts above are out
            session.add(room)
        await self.retex.start(session, crisis, now)
        last = (await store.entry_rows(session, crisis.id))[-1]
        seal = t(
            "closure.entry.sealed",
            lang,
            name=ctx.name(by),
            time=ctx.local(now),
            count=last.number,
            hash=last.hash,
        )
        await self.cell.system_entry(session, crisis, seal, now, announce=False)
