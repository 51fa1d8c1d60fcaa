"""Contact checks (test de joignabilité): every contact method of every person gets a short test
message asking for a confirmation; what is not confirmed in time is listed for the desk manager.

Each phone is tried by SMS and by a call, each chat account and e-mail address once. A probe is
confirmed only from the contact it tests (the SMS code from that number, the key on that call,
the button from that chat account, the signed link of that mail): a confirmation proves the
contact reaches its person. A message the provider refuses (a dead number) fails the probe at
once; the check ends at its deadline, or earlier when no probe is left waiting.

A schedule's occurrence is a row with a unique time: planned and run once, whatever the number of
instances; one found late (the service was down) runs when the service comes back.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import Person, VigieConfig
from bot.db import Database
from bot.diffusion.replies import DiffusionError
from bot.domain import ChannelKind, Function, MessageState
from bot.drills.models import (
    DIRECTORY,
    PROBE_LABELS,
    CheckState,
    ContactCheckRow,
    ContactProbeRow,
    ProbeState,
)
from bot.models import OutboxMessageRow
from bot.outbox import OutgoingMessage, enqueue
from escalation.context import PagingContext
from escalation.paging import notify, notify_officers

if TYPE_CHECKING:
    from bot.diffusion.service import Diffusions

log = structlog.get_logger("vigie.drills.contacts")

KIND = "contact_check"
CHAT_CONTACT = "cconfirm"  # the chat button's callback action
BANNER = "EXERCICE EXERCICE EXERCICE"
# Which channels test which contact: a phone is tried by SMS and by a call.
TESTED = (
    ChannelKind.SMS,
    ChannelKind.VOICE,
    ChannelKind.TELEGRAM,
    ChannelKind.SLACK,
    ChannelKind.MATRIX,
    ChannelKind.EMAIL,
)
CHANNEL_LABELS = {
    "sms": "SMS",
    "voice": "appel",
    "telegram": "Telegram",
    "slack": "Slack",
    "matrix": "compte Tchap",
    "email": "e-mail",
}
# Failed outbox states: the provider refused the message, or it never left.
_FAILED = (MessageState.FAILED.value, MessageState.UNCERTAIN.value)


def probe_code(probe_id: int) -> str:
    """What the person answers by SMS (« T12 ») and what a chat button carries."""
    return f"T{probe_id}"


@dataclass(frozen=True)
class CheckReply:
    text: str
    ok: bool = True
    check: int | None = None


class PlannedElsewhere(Exception):
    """Another instance ran this occurrence: its diffusion is rolled back."""


class ContactChecks:
    def __init__(
        self, config: VigieConfig, db: Database, ctx: PagingContext, diffusions: Diffusions | None = None
    ) -> None:
        self.config, self.db, self.ctx = config, db, ctx
        self.diffusions = diffusions  # for the scheduled partner checks (drills.partners)

    @property
    def settings(self) -> Any:
        return self.config.drills.contacts

    # --- starting -------------------------------------------------------------------

    async def start(self, by: str | None, person: str | None = None) -> CheckReply:
        """``vigie drill contacts``, ``/exercice contacts``, ``POST /api/v1/drills/contacts``."""
        if person is not None and self.config.person(person) is None:
            return CheckReply(f"Personne inconnue « {person} ».", ok=False)
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            check = ContactCheckRow(person_id=person, started_by=by, due_at=now, created_at=now)
            session.add(check)
            await session.flush()
            assert check.id is not None
            count = await self._launch(session, check, now)
            if not count:  # nothing to wait for, nothing to report
                check.state, check.ended_at = CheckState.DONE.value, now
                session.add(check)
        if not count:
            return CheckReply("Aucun contact à tester sur les canaux activés.", ok=False, check=check.id)
        until = self.ctx.local_day(now + self.settings.confirm_within)
        who = self.ctx.name(person) if person else "tout l'annuaire"
        return CheckReply(
            f"Test de joignabilité n° {check.id} lancé ({who}) : {count} contact(s) à confirmer "
            f"jusqu'au {until}. Les contacts non confirmés seront listés pour le responsable.",
            check=check.id,
        )

    def _contacts(self, person: Person) -> list[tuple[ChannelKind, str]]:
        enabled = set(self.config.channels.enabled())
        found = []
        for channel in TESTED:
            address = person.address(channel)
            if channel in enabled and address:
                found.append((channel, address))
        return found

    async def _launch(self, session: AsyncSession, check: ContactCheckRow, now: datetime) -> int:
        """Its probes and their messages, in the transaction that starts it."""
        check.state, check.started_at = CheckState.RUNNING.value, now
        check.due_at = now + self.settings.confirm_within
        session.add(check)
        people = [p for p in self.config.people if check.person_id in (None, p.id)]
        count = 0
        for person in people:
            for channel, address in self._contacts(person):
                probe = ContactProbeRow(
                    check_id=check.id or 0,
                    person_id=person.id,
                    channel=channel.value,
                    address=address,
                    created_at=now,
                )
                session.add(probe)
                await session.flush()
                message = enqueue(session, self._message(person, probe, check), now=now)
                await session.flush()
                probe.message_id = message.id
                session.add(probe)
                count += 1
        return count

    def _message(self, person: Person, probe: ContactProbeRow, check: ContactCheckRow) -> OutgoingMessage:
        assert probe.id is not None
        code = probe_code(probe.id)
        desk = self.config.desk.name
        until = self.ctx.local_day(check.due_at)
        actions: list[dict[str, str]] = []
        if probe.channel == "sms":
            text = (
                f"{BANNER} Vigie ({desk}) : test de joignabilité de ce numéro pour l'astreinte. "
                f"Répondez {code} pour confirmer qu'il vous joint bien, {person.name}."
            )
        elif probe.channel == "voice":
            text = (
                f"Exercice, exercice, exercice. Vigie, {desk} : test de joignabilité de ce numéro pour "
                f"l'astreinte de {person.name}. Appuyez sur 1 pour confirmer qu'il vous joint bien."
            )
        else:
            label = CHANNEL_LABELS.get(probe.channel, probe.channel)
            text = (
                f"{BANNER}\nVigie ({desk}) : test de joignabilité de votre {label} pour l'astreinte, "
                f"{person.name}. Merci de confirmer qu'il vous joint bien, avant le {until} "
                f"(test {code}). Sans confirmation, le responsable vérifiera l'annuaire avec vous."
            )
            if probe.channel == "matrix":  # no buttons on Matrix: a reply or a reaction
                text += f" Répondez {code} (ou réagissez ✅) pour confirmer."
            elif probe.channel != "email":  # a chat: its button confirms (the link, for a mail)
                actions.append({"id": CHAT_CONTACT, "label": "Je confirme ce contact"})
        return OutgoingMessage(
            channel=probe.channel,
            kind=KIND,
            text=text,
            recipient_person_id=person.id,
            recipient_address=probe.address,
            subject=f"{BANNER} [Vigie] Test de joignabilité {code} — merci de confirmer",
            idempotency_key=f"contact:{check.id}:{probe.id}",
            data={"reference": code, "probe": probe.id, "actions": actions, "exercise": True},
        )

    # --- confirming -----------------------------------------------------------------

    async def confirm(self, probe_id: int, channel: str, addresses: set[str] | None) -> CheckReply:
        """The probe's own contact answered: ``addresses`` are where the answer came from (a chat
        and its user), None for a signed link or a call to that number (their own already)."""
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            probe = await session.get(ContactProbeRow, probe_id)
            if probe is None or (addresses is not None and not _same(probe, channel, addresses)):
                return CheckReply("Test de joignabilité inconnu pour ce contact.", ok=False)
            check = await session.get(ContactCheckRow, probe.check_id)
            if probe.state == ProbeState.CONFIRMED.value:
                return CheckReply("Ce contact est déjà confirmé. Merci !")
            if check is None or check.state != CheckState.RUNNING.value:
                return CheckReply(
                    "Ce test de joignabilité est terminé ; le responsable a la liste des contacts à "
                    "vérifier. Merci de lui confirmer ce contact.",
                    ok=False,
                )
            probe.state, probe.confirmed_at, probe.confirmed_via = ProbeState.CONFIRMED.value, now, channel
            session.add(probe)
        label = CHANNEL_LABELS.get(probe.channel, probe.channel)
        return CheckReply(
            f"Merci, {self.ctx.name(probe.person_id)} : votre {label} est confirmé pour l'astreinte."
        )

    async def confirm_code(self, code: int, phone: str) -> CheckReply | None:
        """« T12 » by SMS: None when that number has no such probe (not a contact check reply)."""
        async with self.db.read_session() as session:
            probe = await session.get(ContactProbeRow, code)
        # The SMS reply confirms the SMS probe of that number (the call has its own key).
        if probe is None or probe.address != phone or probe.channel != "sms":
            return None
        return await self.confirm(code, "sms", {phone})

    # --- the worker's round ---------------------------------------------------------

    async def run_due(self) -> int:
        now = self.ctx.clock.now()
        return await self._plan(now) + await self._start_due(now) + await self._finish_due(now)

    def _schedules(self) -> list[tuple[str, str]]:
        """(schedule id, cron): the directory's check and the partners' exercise diffusions."""
        found = [(DIRECTORY, self.settings.cron)] if self.settings.cron else []
        return found + [(p.id, p.cron) for p in self.config.drills.partners]

    def _next_slot(self, cron: str, after: datetime) -> datetime:
        from apscheduler.triggers.cron import CronTrigger

        trigger = CronTrigger.from_crontab(cron, timezone=self.ctx.zone)
        fire = trigger.get_next_fire_time(None, after.astimezone(self.ctx.zone))
        assert fire is not None
        return fire

    async def _plan(self, now: datetime) -> int:
        """Each schedule's coming occurrence, planned once whatever the instances."""
        schedules = self._schedules()
        if not schedules:
            return 0
        planned_stmt = select(ContactCheckRow.schedule_id).where(
            ContactCheckRow.state == CheckState.PLANNED.value, col(ContactCheckRow.slot).is_not(None)
        )
        async with self.db.read_session() as session:
            planned = set((await session.exec(planned_stmt)).all())
        missing = [(sid, cron) for sid, cron in schedules if sid not in planned]
        if not missing:
            return 0
        made = 0
        async with self.db.transaction() as session:
            await self.db.serialize(session, "contact-checks-plan")
            planned = set((await session.exec(planned_stmt)).all())
            for schedule_id, cron in missing:
                if schedule_id in planned:
                    continue
                last = (
                    await session.exec(
                        select(sa.func.max(ContactCheckRow.slot)).where(
                            ContactCheckRow.schedule_id == schedule_id
                        )
                    )
                ).one()  # the last occurrence planned: the next one comes after it
                after = max(now, last + timedelta(seconds=1)) if last is not None else now
                slot = self._next_slot(cron, after)
                session.add(ContactCheckRow(schedule_id=schedule_id, slot=slot, due_at=slot, created_at=now))
                made += 1
        return made

    async def _claim(self, session: AsyncSession, stmt: Any) -> list[ContactCheckRow]:
        if self.db.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        return list((await session.exec(stmt)).all())

    async def _start_due(self, now: datetime) -> int:
        due = select(ContactCheckRow).where(
            ContactCheckRow.state == CheckState.PLANNED.value, col(ContactCheckRow.due_at) <= now
        )
        async with self.db.read_session() as session:
            if (await session.exec(due.limit(1))).first() is None:
                return 0
        async with self.db.transaction() as session:
            checks = await self._claim(session, due.where(ContactCheckRow.schedule_id == DIRECTORY))
            for check in checks:
                await self._launch(session, check, now)
        async with self.db.read_session() as session:
            partner_checks = list(
                (await session.exec(due.where(ContactCheckRow.schedule_id != DIRECTORY))).all()
            )
        for check in partner_checks:
            await self._diffuse(check, now)
        return len(checks) + len(partner_checks)

    async def _diffuse(self, check: ContactCheckRow, now: datetime) -> None:
        """A partners schedule's occurrence: an exercise diffusion, recorded in its transaction."""
        schedule = next((p for p in self.config.drills.partners if p.id == check.schedule_id), None)

        async def record(session: AsyncSession, reference: str | None) -> None:
            stmt = select(ContactCheckRow).where(
                ContactCheckRow.id == check.id, ContactCheckRow.state == CheckState.PLANNED.value
            )
            claimed = await self._claim(session, stmt)
            if not claimed:
                raise PlannedElsewhere
            row = claimed[0]
            row.state, row.started_at, row.ended_at = CheckState.DONE.value, now, now
            row.diffusion_ref = reference
            session.add(row)

        if schedule is None or self.diffusions is None:  # the schedule was removed from the configuration
            async with self.db.transaction() as session:
                with contextlib.suppress(PlannedElsewhere):
                    await record(session, None)
            return
        try:
            await self.diffusions.send(
                "vigie", "information", list(schedule.groups), schedule.text, title=schedule.title,
                exercise=True, then=record,
            )  # fmt: skip
        except PlannedElsewhere:
            return
        except DiffusionError as exc:  # no partner in those groups: said once, not retried
            log.warning("partner_check_not_sent", schedule=schedule.id, error=exc.message)
            async with self.db.transaction() as session:
                with contextlib.suppress(PlannedElsewhere):
                    await record(session, None)
                notify_officers(
                    session, self.ctx,
                    f"{BANNER} — Test de joignabilité des partenaires « {schedule.id} » non envoyé : "
                    f"{exc.message}",
                    kind="partner_check_failed", key=f"partners:{check.id}", now=now, data={"exercise": True},
                )  # fmt: skip

    async def _finish_due(self, now: datetime) -> int:
        """Running checks past their deadline, or with no probe left waiting: reported."""
        async with self.db.read_session() as session:
            running = list(
                (
                    await session.exec(
                        select(ContactCheckRow).where(
                            ContactCheckRow.state == CheckState.RUNNING.value,
                            ContactCheckRow.schedule_id == DIRECTORY,
                        )
                    )
                ).all()
            )
        finished = 0
        for check in running:
            if now >= check.due_at or not await self._waiting(check, now):
                finished += await self._finish(check.id or 0, now)
        return finished

    async def _waiting(self, check: ContactCheckRow, now: datetime) -> bool:
        """Whether a probe may still be confirmed (sent or on its way, not refused)."""
        async with self.db.read_session() as session:
            rows = (
                await session.exec(
                    select(ContactProbeRow, OutboxMessageRow.state)
                    .join(OutboxMessageRow, col(OutboxMessageRow.id) == col(ContactProbeRow.message_id))
                    .where(
                        ContactProbeRow.check_id == check.id,
                        ContactProbeRow.state == ProbeState.WAITING.value,
                    )
                )
            ).all()
        return any(state not in _FAILED for _, state in rows)

    async def _finish(self, check_id: int, now: datetime) -> int:
        async with self.db.transaction() as session:
            stmt = select(ContactCheckRow).where(
                ContactCheckRow.id == check_id, ContactCheckRow.state == CheckState.RUNNING.value
            )
            claimed = await self._claim(session, stmt)
            if not claimed:
                return 0
            check = claimed[0]
            probes = await self._probes(session, check_id)
            for probe, message in probes:
                if probe.state != ProbeState.WAITING.value:
                    continue
                if message is not None and message.state in _FAILED:
                    probe.state, probe.error = ProbeState.FAILED.value, message.last_error or message.state
                else:
                    probe.state = ProbeState.SILENT.value
                session.add(probe)
            check.state, check.ended_at = CheckState.DONE.value, now
            session.add(check)
            if not probes:  # no contact on the enabled channels: nothing to tell
                return 1
            text = self.report(check, [p for p, _ in probes])
            for person_id in self._managers():
                notify(
                    session, self.ctx, person_id, text, kind="contact_report", signal_id=None,
                    key=f"contacts:{check.id}:report", now=now, data={"exercise": True},
                )  # fmt: skip
            for address in dict.fromkeys(str(a) for a in self.config.drills.report_to):
                if self.config.channels.email.enabled:
                    enqueue(
                        session,
                        OutgoingMessage(
                            channel="email",
                            kind="contact_report",
                            text=text,
                            subject=f"{BANNER} [Vigie] Annuaire à vérifier (test n° {check.id})",
                            recipient_address=address,
                            idempotency_key=f"contacts:{check.id}:report:{address}",
                            data={"exercise": True},
                        ),
                        now=now,
                    )
        return 1

    def _managers(self) -> list[str]:
        managers = [p.id for p in self.config.people if Function.RESPONSABLE in p.functions]
        return managers or self.config.officers()

    async def _probes(
        self, session: AsyncSession, check_id: int
    ) -> list[tuple[ContactProbeRow, OutboxMessageRow | None]]:
        rows = (
            await session.exec(
                select(ContactProbeRow, OutboxMessageRow)
                .join(
                    OutboxMessageRow,
                    col(OutboxMessageRow.id) == col(ContactProbeRow.message_id),
                    isouter=True,
                )
                .where(ContactProbeRow.check_id == check_id)
                .order_by(col(ContactProbeRow.id))
            )
        ).all()
        return [(p, m) for p, m in rows]

    # --- reading --------------------------------------------------------------------

    def report(self, check: ContactCheckRow, probes: list[ContactProbeRow]) -> str:
        """« Annuaire à vérifier »: the contacts not confirmed, with why, for the desk manager."""
        started = self.ctx.local_day(check.started_at or check.created_at)
        confirmed = sum(1 for p in probes if p.state == ProbeState.CONFIRMED.value)
        head = f"{BANNER} — Test de joignabilité n° {check.id} du {started}"
        if confirmed == len(probes):
            return f"{head} : les {len(probes)} contacts sont confirmés. Rien à corriger dans l'annuaire."
        lines = [f"{head} : {confirmed} contact(s) confirmé(s) sur {len(probes)}.", "Annuaire à vérifier :"]
        for p in probes:
            if p.state == ProbeState.CONFIRMED.value:
                continue
            why = PROBE_LABELS[ProbeState(p.state)]
            if p.state == ProbeState.FAILED.value and p.error:
                why += f" ({p.error[:120]})"
            label = CHANNEL_LABELS.get(p.channel, p.channel)
            lines.append(f"- {self.ctx.name(p.person_id)} — {label} {p.address} : {why}")
        lines.append(
            "Vérifiez ces contacts avec les personnes et corrigez l'annuaire (people: … contacts: dans "
            "la configuration) : un numéro mort se découvre maintenant, pas pendant une alerte."
        )
        return "\n".join(lines)

    async def last(self, count: int = 5) -> list[tuple[ContactCheckRow, list[ContactProbeRow]]]:
        """The last checks started (newest first) with their probes."""
        async with self.db.read_session() as session:
            checks = (
                await session.exec(
                    select(ContactCheckRow)
                    .where(
                        ContactCheckRow.state != CheckState.PLANNED.value,
                        ContactCheckRow.schedule_id == DIRECTORY,
                    )
                    .order_by(col(ContactCheckRow.id).desc())
                    .limit(count)
                )
            ).all()
            out = []
            for check in checks:
                out.append((check, [p for p, _ in await self._probes(session, check.id or 0)]))
        return out

    async def coming(self) -> ContactCheckRow | None:
        async with self.db.read_session() as session:
            return (
                await session.exec(
                    select(ContactCheckRow).where(
                        ContactCheckRow.state == CheckState.PLANNED.value,
                        ContactCheckRow.schedule_id == DIRECTORY,
                    )
                )
            ).first()


def _same(probe: ContactProbeRow, channel: str, addresses: set[str]) -> bool:
    """The answer comes from the contact under test (Slack: the user; Telegram: the chat/user)."""
    return probe.channel == channel and probe.address in addresses
