"""Points de situation on the crisis's cadence: planned when the cell is armed, drafted from the
main courante and posted for pilotage and secrétariat before they are due, amended in the room
(``/point <section> <texte>``), validated by décision or pilotage (``/point valider``), then
posted, logged and mailed upward with the chain's head hash; reminders when one is late.
``/phase`` changes the cadence; ``/crise clore`` turns the next point into the final one.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import CrisisConfig
from bot.crisis import draft, store, timers
from bot.crisis.cell import CellError, CellReply, CrisisCell
from bot.crisis.documents import text_pdf
from bot.crisis.draft import Drafting
from bot.crisis.models import CrisisPointRow, CrisisRow, CrisisState, CrisisTimerRow, EntryKind, PointState
from bot.crisis.store import EntryDraft
from bot.domain import Function
from bot.durations import human
from bot.models import OutboxMessageRow
from bot.outbox import OutgoingMessage, enqueue
from bot.texts import t
from escalation.paging import notify, notify_officers

log = structlog.get_logger("vigie.crisis.points")

UPWARD_KIND = "point_upward"
Closer = Callable[[AsyncSession, CrisisRow, str, datetime], Awaitable[None]]


def parse_clock(text: str, now: datetime, zone: object) -> datetime | None:
    """« 16:00 », « 16h », « 16h30 »: the next such time in the desk's zone (tomorrow once past)."""
    found = re.fullmatch(r"\s*(\d{1,2})\s*[h:]\s*(\d{2})?\s*", text, re.I)
    if found is None:
        return None
    hour, minute = int(found[1]), int(found[2] or 0)
    if hour > 23 or minute > 59:
        return None
    local = now.astimezone(zone)  # type: ignore[arg-type]
    when = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if when <= local:
        when += timedelta(days=1)
    return when


class SituationPoints:
    def __init__(self, cell: CrisisCell) -> None:
        self.cell, self.config, self.db, self.ctx = cell, cell.config, cell.db, cell.ctx
        self.closer: Closer | None = None  # bot.crisis.closure: what a validated final point does

    @property
    def lang(self) -> str:
        return self.cell.lang

    @property
    def cfg(self) -> CrisisConfig:
        return self.config.crisis

    # --- reading ----------------------------------------------------------------------

    async def _current(self, session: AsyncSession, crisis: CrisisRow) -> CrisisPointRow | None:
        assert crisis.id is not None
        pending = [p for p in await store.points(session, crisis.id) if p.state != PointState.VALIDATED.value]
        return pending[0] if pending else None

    async def _pending(self, session: AsyncSession, crisis: CrisisRow) -> CrisisPointRow:
        """The coming point, or a clear refusal (the cell not armed yet, or nothing pending)."""
        point = await self._current(session, crisis)
        if point is None:
            key = "point.not_armed" if crisis.armed_at is None else "point.none_pending"
            raise CellError("no_point", t(key, self.lang, reference=crisis.reference))
        return point

    async def _previous(self, session: AsyncSession, crisis: CrisisRow) -> CrisisPointRow | None:
        assert crisis.id is not None
        done = [p for p in await store.points(session, crisis.id) if p.state == PointState.VALIDATED.value]
        return done[-1] if done else None

    async def _drafting(
        self,
        session: AsyncSession,
        crisis: CrisisRow,
        point: CrisisPointRow,
        now: datetime,
        next_at: datetime | None,
    ) -> Drafting:
        assert crisis.id is not None
        return Drafting(
            crisis=crisis,
            point=point,
            previous=await self._previous(session, crisis),
            entries=await store.entry_rows(session, crisis.id),
            now=now,
            next_at=next_at,
            zone=self.ctx.zone,
            lang=self.lang,
        )

    async def _draft_text(
        self, session: AsyncSession, crisis: CrisisRow, point: CrisisPointRow, now: datetime
    ) -> str:
        """The draft as the cell reads it: the next point's time is an estimate until validation."""
        cadence = self.cfg.cadence(crisis.phase)
        estimate = point.next_at or max(now, point.due_at) + cadence
        d = await self._drafting(session, crisis, point, now, None if point.final else estimate)
        sections = draft.compose(d)
        if not point.final and point.next_at is None:
            sections["prochain"] = t(
                "point.next_estimate", self.lang, cadence=human(cadence), time=d.hm(estimate)
            )
        return draft.render(d, sections, draft=True)

    # --- commands ---------------------------------------------------------------------

    async def command(
        self, person_id: str, channel: str, reference: str, args: str, key: str | None
    ) -> CellReply:
        """``/point`` (show), ``/point valider``, ``/point prochain 16:00``, ``/point <section> <texte>``."""
        words = args.split(maxsplit=1)
        head = words[0].lower() if words else ""
        rest = words[1].strip() if len(words) > 1 else ""
        if not head:
            return await self.show(reference)
        if head in ("valider", "validate", "valide"):
            return await self.validate(person_id, channel, reference)
        section = draft.section_named(head)
        if section == "prochain":
            return await self.set_next(person_id, reference, rest)
        if section is None or not rest:
            sections = ", ".join(draft.SECTIONS)
            return CellReply(t("point.usage", self.lang, sections=sections), ok=False, code="usage")
        return await self.amend(person_id, channel, reference, section, rest, key)

    async def show(self, reference: str) -> CellReply:
        now = self.ctx.clock.now()
        async with self.db.read_session() as session:
            crisis = await self.cell.crisis_named(session, reference)
            point = await self._pending(session, crisis)
            text = await self._draft_text(session, crisis, point, now)
        return CellReply(t("point.shown", self.lang, draft=text, time=self.ctx.local(point.due_at)))

    async def amend(
        self, person_id: str, channel: str, reference: str, section: str, text: str, key: str | None
    ) -> CellReply:
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            crisis = await self.cell.locked(session, reference)
            point = await self._pending(session, crisis)
            point.sections = {**(point.sections or {}), section: text}
            session.add(point)
            label = draft.LABELS.get(self.lang, draft.LABELS["fr"])[section]
            entry, _ = await store.append(
                session,
                crisis,
                EntryDraft(
                    text=t("point.entry.amended", self.lang, number=point.number, section=label, text=text),
                    origin=channel,
                    author_label=self.ctx.name(person_id),
                    author_id=person_id,
                    kind=EntryKind.PROJET,
                    platform_key=key,
                ),
                now,
            )
        said = t("point.amended", self.lang, number=point.number, section=label, entry=entry.number)
        return CellReply(said, changed=True, reference=crisis.reference)

    async def set_next(self, person_id: str, reference: str, value: str) -> CellReply:
        """Before the draft is posted: when the coming point is due. Once it is posted: the time
        of the point after it, which this one announces."""
        now = self.ctx.clock.now()
        when = parse_clock(value, now, self.ctx.zone)
        if when is None:
            return CellReply(t("point.bad_time", self.lang, value=value), ok=False, code="usage")
        async with self.db.transaction() as session:
            crisis = await self.cell.locked(session, reference)
            assert crisis.id is not None
            point = await self._current(session, crisis)
            name = self.ctx.name(person_id)
            if point is not None and point.state == PointState.DRAFT.value and not point.final:
                point.next_at = when
                session.add(point)
                text = t(
                    "point.entry.announces",
                    self.lang,
                    number=point.number,
                    time=self.ctx.local(when),
                    name=name,
                )
            else:
                if point is None:
                    number = len(await store.points(session, crisis.id)) + 1
                    point = await timers.plan_point(session, self.cfg, crisis, number, when, now)
                else:
                    point.due_at = when
                    session.add(point)
                    await timers.cancel(session, crisis.id, timers.POINT_TIMERS, now)
                    timers.time_point(session, self.cfg, crisis, point, now)
                text = t(
                    "point.entry.rescheduled",
                    self.lang,
                    number=point.number,
                    time=self.ctx.local(when),
                    name=name,
                )
            await self.cell.system_entry(session, crisis, text, now)
        return CellReply(text, changed=True, reference=crisis.reference)

    async def phase(self, person_id: str, reference: str, args: str) -> CellReply:
        now = self.ctx.clock.now()
        wanted = args.strip().lower()
        wanted = wanted.replace("é", "e").replace("ë", "e").replace("è", "e")
        async with self.db.transaction() as session:
            crisis = await self.cell.locked(session, reference)
            assert crisis.id is not None
            await self.cell.require_lead(session, crisis, person_id, "point.action.phase")
            if wanted not in self.cfg.phases:
                names = ", ".join(f"{p} ({human(c)})" for p, c in self.cfg.phases.items())
                raise CellError(
                    "usage", t("point.unknown_phase", self.lang, phase=args.strip(), phases=names)
                )
            if wanted == crisis.phase:
                return CellReply(t("point.same_phase", self.lang, phase=wanted))
            crisis.phase = wanted
            crisis.phase_history = [
                *crisis.phase_history,
                {"phase": wanted, "at": now.isoformat(), "by": person_id},
            ]
            session.add(crisis)
            next_text = ""
            point = await self._current(session, crisis)
            if point is not None and point.state == PointState.PLANNED.value and not point.final:
                previous = await self._previous(session, crisis)
                base = previous.validated_at if previous and previous.validated_at else crisis.armed_at or now
                point.due_at = timers.at_least(
                    base + self.cfg.cadence(wanted), now, self.cfg.points.prompt_before
                )
                session.add(point)
                await timers.cancel(session, crisis.id, timers.POINT_TIMERS, now)
                timers.time_point(session, self.cfg, crisis, point, now)
                next_text = t("point.next_is", self.lang, time=self.ctx.local(point.due_at))
            text = t(
                "point.entry.phase",
                self.lang,
                phase=draft.phase_label(wanted),
                cadence=human(self.cfg.cadence(wanted)),
                name=self.ctx.name(person_id),
                next=next_text,
            )
            await self.cell.system_entry(session, crisis, text, now)
        return CellReply(text, changed=True, reference=crisis.reference)

    async def actions(self, reference: str) -> CellReply:
        now = self.ctx.clock.now()
        async with self.db.read_session() as session:
            crisis = await self.cell.crisis_named(session, reference)
            assert crisis.id is not None
            rows = await store.entry_rows(session, crisis.id)
        open_ = draft.open_entries(rows, EntryKind.ACTION)
        if not open_:
            return CellReply(t("actions.none", self.lang, reference=crisis.reference))
        d = Drafting(
            crisis,
            CrisisPointRow(crisis_id=crisis.id, number=0, due_at=now),
            None,
            rows,
            now,
            None,
            self.ctx.zone,
            self.lang,
        )
        lines = [t("actions.head", self.lang, reference=crisis.reference)]
        lines += [f"• {draft.action_line(d, a)}" for a in open_]
        return CellReply("\n".join(lines))

    # --- validation -------------------------------------------------------------------

    async def validate(self, person_id: str, channel: str, reference: str) -> CellReply:
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            crisis = await self.cell.locked(session, reference)
            assert crisis.id is not None
            await self.cell.require_lead(session, crisis, person_id, "point.action.validate")
            point = await self._pending(session, crisis)
            cadence = self.cfg.cadence(crisis.phase)
            next_at = None if point.final else (point.next_at or now + cadence)
            d = await self._drafting(session, crisis, point, now, next_at)
            sections = draft.compose(d)
            text = draft.render(d, sections, draft=False)
            name = self.ctx.name(person_id)
            # The point's entry is the last of this transaction: its hash is the chain's head
            # at the moment of validation, the one mailed upward.
            entry, _ = await store.append(
                session,
                crisis,
                EntryDraft(
                    text=text,
                    origin=channel,
                    author_label=name,
                    author_id=person_id,
                    kind=EntryKind.POINT,
                ),
                now,
            )
            late = int((now - point.due_at).total_seconds() // 60) if now > point.due_at else 0
            point.state, point.validated_at, point.validated_by = PointState.VALIDATED.value, now, person_id
            point.sections, point.text = sections, text
            point.entry_number, point.head_hash = entry.number, entry.hash
            session.add(point)
            await timers.cancel(session, crisis.id, timers.POINT_TIMERS, now)
            upward = [str(a) for a in self.cfg.upward]
            late_text = t("point.late_by", self.lang, late=late) if late else ""
            said = t(
                "point.validated_final" if point.final else "point.validated",
                self.lang,
                number=point.number,
                name=name,
                time=self.ctx.local(now),
                late=late_text,
                upward=", ".join(upward) or t("point.upward_none", self.lang),
                next=self.ctx.local(next_at) if next_at else "",
            )
            await self.cell.post_in_rooms(
                session, crisis, f"{text}\n\n{said}", now, key=f"point:{point.number}:validated"
            )
            self._mail_upward(session, crisis, point, text, name, now)
            if point.final:
                if self.closer is not None:
                    await self.closer(session, crisis, person_id, now)
            else:
                assert next_at is not None
                await timers.plan_point(session, self.cfg, crisis, point.number + 1, next_at, now)
        return CellReply(said, changed=True, reference=crisis.reference)

    def _mail_upward(
        self,
        session: AsyncSession,
        crisis: CrisisRow,
        point: CrisisPointRow,
        text: str,
        name: str,
        now: datetime,
    ) -> None:
        if not self.cfg.upward:
            return
        banner = t("exercise.banner", self.lang) if crisis.is_exercise else ""
        subject = t(
            "point.mail.subject",
            self.lang,
            banner=banner,
            reference=crisis.reference,
            number=point.number,
            final=t("point.mail.final", self.lang) if point.final else "",
            title=crisis.title[:150],
        )
        seal = t(
            "point.mail.seal",
            self.lang,
            name=name,
            time=self.ctx.local(now, "%d/%m/%Y %H:%M"),
            entry=point.entry_number,
            hash=point.head_hash,
            reference=crisis.reference,
        )
        body = f"{text}\n\n{seal}"
        pdf = text_pdf(subject, body)
        attachment = {
            "filename": f"{crisis.reference}-point-{point.number:02d}.pdf",
            "content_type": "application/pdf",
            "base64": base64.b64encode(pdf).decode(),
        }
        for address in dict.fromkeys(str(a) for a in self.cfg.upward):
            enqueue(
                session,
                OutgoingMessage(
                    channel="email",
                    kind=UPWARD_KIND,
                    text=body,
                    subject=subject,
                    recipient_address=address,
                    idempotency_key=f"point:{crisis.reference}:{point.number}:{address}",
                    data={"reference": crisis.reference, "point": point.number, "attachments": [attachment]},
                ),
                now=now,
            )

    async def upward_failed(
        self, session: AsyncSession, row: OutboxMessageRow, reason: str, now: datetime
    ) -> None:
        """A point the relay refused: the duty officers are told, and the main courante says so
        while the crisis is open."""
        reference = str(row.data.get("reference") or "")
        number = row.data.get("point")
        text = t(
            "point.bounced",
            self.lang,
            reference=reference,
            number=number,
            address=row.recipient_address,
            reason=reason,
        )
        notify_officers(session, self.ctx, text, kind="point_bounced", key=f"bounce:{row.id}", now=now)
        crisis = await store.lock_crisis(session, self.db, reference)
        if crisis is not None and crisis.state == CrisisState.OPEN.value:
            said = t(
                "point.entry.bounced", self.lang, number=number, address=row.recipient_address, reason=reason
            )
            await self.cell.system_entry(session, crisis, said, now, announce=False)

    # --- closure's first step ---------------------------------------------------------

    async def ask_closure(self, person_id: str, reference: str, reason: str) -> CellReply:
        """``/crise clore [motif]``: the next point becomes the point de sortie de crise, posted
        now; validating it closes the crisis."""
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            crisis = await self.cell.locked(session, reference)
            assert crisis.id is not None
            await self.cell.require_lead(session, crisis, person_id, "point.action.close")
            if crisis.closing_by is not None:
                return CellReply(t("closure.already", self.lang, reference=crisis.reference))
            crisis.closing_by, crisis.closing_reason = person_id, reason[:500] or None
            session.add(crisis)
            soon = now + self.cfg.points.prompt_before
            point = await self._current(session, crisis)
            await timers.cancel(session, crisis.id, timers.POINT_TIMERS, now)
            if point is None:
                number = len(await store.points(session, crisis.id)) + 1
                point = await timers.plan_point(session, self.cfg, crisis, number, soon, now, final=True)
            else:
                point.final, point.state = True, PointState.PLANNED.value  # posted again, as the final one
                point.due_at = min(point.due_at, soon)
                session.add(point)
                timers.time_point(session, self.cfg, crisis, point, now)
            await self.cell.system_entry(
                session,
                crisis,
                t(
                    "closure.entry.asked",
                    self.lang,
                    name=self.ctx.name(person_id),
                    reason=f" ({reason})" if reason else "",
                    number=point.number,
                ),
                now,
            )
        return CellReply(
            t("closure.asked", self.lang, reference=crisis.reference, number=point.number),
            changed=True,
            reference=crisis.reference,
        )

    # --- timers -----------------------------------------------------------------------

    async def on_timer(
        self, session: AsyncSession, crisis: CrisisRow, timer: CrisisTimerRow, now: datetime
    ) -> None:
        assert crisis.id is not None
        number = timer.data.get("point")
        point = next((p for p in await store.points(session, crisis.id) if p.number == number), None)
        if (
            point is None
            or point.state == PointState.VALIDATED.value
            or crisis.state != CrisisState.OPEN.value
        ):
            return
        if timer.kind == timers.POINT_PROMPT:
            await self._prompt(session, crisis, point, now)
        elif timer.kind == timers.POINT_DUE:
            await self._remind(session, crisis, point, now, late=False)
        else:
            await self._remind(session, crisis, point, now, late=True)

    async def _prompt(
        self, session: AsyncSession, crisis: CrisisRow, point: CrisisPointRow, now: datetime
    ) -> None:
        point.state, point.prompted_at = PointState.DRAFT.value, now
        session.add(point)
        people = await self.cell.holders(session, crisis, Function.PILOTAGE, Function.SECRETARIAT)
        if not people:
            people = await self.cell.holders(session, crisis, Function.DECISION) or self.config.officers()
        names = ", ".join(self.ctx.name(p) for p in people)
        text = t(
            "point.prompt",
            self.lang,
            mentions=f"{names} : " if names else "",
            number=point.number,
            time=self.ctx.local(point.due_at),
            draft=await self._draft_text(session, crisis, point, now),
        )
        key = f"point:{point.number}:prompt:{now.isoformat()}"
        rooms = await self.cell.post_in_rooms(session, crisis, text, now, key=key, mentions=people)
        if not rooms:  # no room: each gets it on their own channel
            for person_id in people:
                notify(
                    session, self.ctx, person_id, text, kind="point_prompt", signal_id=None, key=key, now=now
                )
        entry = t(
            "point.entry.prompted",
            self.lang,
            number=point.number,
            time=self.ctx.local(point.due_at),
            names=names or "—",
        )
        await self.cell.system_entry(session, crisis, entry, now, announce=False)

    async def _remind(
        self, session: AsyncSession, crisis: CrisisRow, point: CrisisPointRow, now: datetime, *, late: bool
    ) -> None:
        """At the due time, pilotage; ``points.late_after`` later, décision (and whoever holds
        the other when one is vacant; the duty officers when both are)."""
        first, second = (
            (Function.DECISION, Function.PILOTAGE) if late else (Function.PILOTAGE, Function.DECISION)
        )
        people = await self.cell.holders(session, crisis, first) or await self.cell.holders(
            session, crisis, second
        )
        people = people or self.config.officers()
        minutes = int((now - point.due_at).total_seconds() // 60)
        pilotage = ", ".join(
            self.ctx.name(p) for p in await self.cell.holders(session, crisis, Function.PILOTAGE)
        )
        values = {
            "reference": crisis.reference,
            "number": point.number,
            "time": self.ctx.local(point.due_at),
            "late": minutes,
            "pilotage": pilotage or "—",
        }
        text = t("point.remind.late" if late else "point.remind.due", self.lang, **values)
        key = f"point:{point.number}:{'late' if late else 'due'}"
        for person_id in people:
            notify(
                session, self.ctx, person_id, text, kind="point_reminder", signal_id=None, key=key, now=now
            )
        await self.cell.post_in_rooms(session, crisis, text, now, key=key, mentions=people)
        point.reminded += 1
        session.add(point)
        names = ", ".join(self.ctx.name(p) for p in people)
        said = t("point.entry.late" if late else "point.entry.unvalidated", self.lang, names=names, **values)
        await self.cell.system_entry(session, crisis, said, now, announce=False)
