"""Action follow-up: an action logged with a due time (``/action … @bruno échéance 16h30``)
reminds its owner on their own channel when it is due, unless a « fait » came first; the
reminder is in the main courante. ``/actions`` lists the open ones (bot.crisis.points)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.crisis import draft, store
from bot.crisis.cell import CrisisCell
from bot.crisis.models import CrisisRow, CrisisState, CrisisTimerRow, EntryKind
from bot.texts import t
from escalation.paging import notify


class ActionFollowUp:
    def __init__(self, cell: CrisisCell) -> None:
        self.cell, self.config, self.ctx = cell, cell.config, cell.ctx

    def owner_of(self, owner: str | None, author_id: str | None) -> str | None:
        """The directory person an action's owner names (its author when it names nobody known)."""
        if owner:
            wanted = owner.strip().lstrip("@").lower()
            for person in self.config.people:
                if wanted in (person.name.lower(), person.id.lower()):
                    return person.id
        return author_id

    async def on_timer(
        self, session: AsyncSession, crisis: CrisisRow, timer: CrisisTimerRow, now: datetime
    ) -> None:
        assert crisis.id is not None
        if crisis.state != CrisisState.OPEN.value:
            return
        number = int(timer.data.get("entry") or 0)
        rows = await store.entry_rows(session, crisis.id)
        action = next((e for e in rows if e.number == number and e.kind == EntryKind.ACTION.value), None)
        if action is None or number in draft.answered(rows):
            return  # done already
        person_id = self.owner_of(action.owner, action.author_id)
        if person_id is None:
            return
        lang = self.cell.lang
        due = self.ctx.local(action.due_at) if action.due_at else ""
        text = t("action.due", lang, reference=crisis.reference, number=number, time=due, text=action.text)
        notify(
            session,
            self.ctx,
            person_id,
            text,
            kind="action_due",
            signal_id=None,
            key=f"action:{crisis.reference}:{number}",
            now=now,
        )
        said = t("action.entry.reminded", lang, number=number, time=due, name=self.ctx.name(person_id))
        await self.cell.system_entry(session, crisis, said, now, announce=False)
