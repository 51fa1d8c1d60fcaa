"""A diffusion: a national message relayed to partners until each confirms receipt.

Each partner (a target) walks ``diffusion.steps`` — e-mail at once, SMS 15 minutes later, a call
at 45 minutes by default — for ``diffusion.cycles`` cycles, until it confirms (signed link, SMS
code, voice key 1, or the operator who got it by phone). A target is a row with its next due
time, claimed like the ladder's timers: a restart or ``kill -9`` sends nobody twice and skips
nobody. Messages go through the outbox behind the pages (the dispatcher sends pages first), and
SMS and calls are paced at ``diffusion.sms_per_second``: never dropped, never faster.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeSerializer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import DiffusionConfig, VigieConfig
from bot.db import Database
from bot.diffusion import partners
from bot.diffusion.followup import NationalActions
from bot.diffusion.models import (
    NATURE_LABELS,
    OPEN_STATES,
    TARGET_LABELS,
    DiffusionCounter,
    DiffusionRow,
    DiffusionTargetRow,
    Nature,
    TargetState,
)
from bot.diffusion.replies import DiffusionError, DiffusionReply
from bot.domain import MessageState
from bot.durations import human
from bot.intake import allocate_sequence
from bot.models import OutboxMessageRow, SignalRow, table_of
from bot.outbox import OutgoingMessage, enqueue
from bot.settings import optional_env
from bot.signals import find_reference
from escalation.context import PagingContext
from escalation.paging import notify_officers

KIND = "diffusion"
# « DIFF-2026-0007 » (signal references have six digits, not four).
DIFFUSION_REFERENCE = re.compile(r"\b([A-Z][A-Z0-9]{1,11}-\d{4}-\d{4})\b", re.I)
FILES_PATH = "/d/{token}"  # short: it goes into SMS
# The chat buttons of a diffusion message (callback data / Slack action ids).
CHAT_CONFIRM, CHAT_DONE = "dconfirm", "ddone"
PACED = ("sms", "voice")
NATURES = {
    "information": Nature.INFORMATION,
    "info": Nature.INFORMATION,
    "action": Nature.ACTION,
    "diffusion": Nature.DIFFUSION,
    "mars": Nature.MARS,
}


def code_of(diffusion: DiffusionRow) -> str:
    """The SMS reply code: « D7 » for DIFF-2026-0007."""
    return f"D{diffusion.seq}"


class Diffusions:
    def __init__(self, config: VigieConfig, db: Database, ctx: PagingContext) -> None:
        self.config, self.db, self.ctx = config, db, ctx
        self._paced_until: dict[str, datetime] = {}
        # Attachments reach phone-only partners as a signed link (the mail links' secret).
        secret = optional_env(config.channels.email.link_secret_env)
        self._signer = URLSafeSerializer(secret, salt="vigie-diffusion-files") if secret else None
        self._public = (config.desk.public_url or "").rstrip("/")
        self.national = NationalActions(config, db, ctx)  # what a POUR ACTION asks of the desk

    @property
    def cfg(self) -> DiffusionConfig:
        return self.config.diffusion

    # --- sending ----------------------------------------------------------------------

    async def send(
        self,
        by: str,
        nature: str,
        groups: list[str],
        text: str,
        *,
        title: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        exercise: bool = False,
        signal_id: int | None = None,
        then: Callable[[AsyncSession, str], Awaitable[None]] | None = None,
    ) -> DiffusionReply:
        """``then``: run in the diffusion's own transaction with its reference (a scheduled
        check records it there: both are committed or neither)."""
        chosen = NATURES.get(nature.strip().lower())
        if chosen is None:
            raise DiffusionError(
                "usage", f"Nature « {nature} » inconnue : information, action, diffusion, mars."
            )
        if not text.strip():
            raise DiffusionError("usage", "Le message à diffuser est vide.")
        now = self.ctx.clock.now()
        year = now.astimezone(self.ctx.zone).year
        async with self.db.transaction() as session:
            found = await partners.in_groups(session, groups)
            if not found:
                raise DiffusionError(
                    "no_partner",
                    f"Aucun partenaire dans le(s) groupe(s) {', '.join(groups)} (vigie partners list).",
                )
            seq = await allocate_sequence(session, year, counter=DiffusionCounter)
            reference = f"{self.cfg.reference_prefix}-{year}-{seq:04d}"
            diffusion = DiffusionRow(
                reference=reference,
                year=year,
                seq=seq,
                nature=chosen.value,
                title=(title or text.strip().splitlines()[0])[:300],
                text=text.strip(),
                groups=groups,
                attachments=attachments or [],
                is_exercise=exercise,
                signal_id=signal_id,
                created_at=now,
                created_by=by,
            )
            session.add(diffusion)
            await session.flush()
            assert diffusion.id is not None
            for partner in found:
                session.add(
                    DiffusionTargetRow(
                        diffusion_id=diffusion.id,
                        partner_id=partner.id,
                        name=partner.name,
                        email=partner.email,
                        phone=partner.phone,
                        telegram_id=partner.telegram_id,
                        slack_id=partner.slack_id,
                        next_at=now,
                    )
                )
            if then is not None:
                await then(session, reference)
        return DiffusionReply(
            f"Diffusion {reference} ({NATURE_LABELS[chosen]}) : {len(found)} partenaire(s), envoi en cours. "
            f"Suivi : /diffusion statut {reference}.",
            changed=True,
            reference=reference,
        )

    async def send_from_signal(
        self, by: str, reference: str, groups: list[str], text: str | None, *, exercise: bool = False
    ) -> DiffusionReply:
        """« Diffuser » a national message received as a signal: its nature, number, text and
        attachments, as they came."""
        async with self.db.read_session() as session:
            signal = (
                await session.exec(select(SignalRow).where(SignalRow.reference == reference.upper()))
            ).first()
        if signal is None:
            raise DiffusionError("not_found", f"Aucun signal « {reference} ».")
        attributes = signal.attributes or {}
        national = attributes.get("national") or {}
        number = national.get("number")
        family = national.get("family")
        title = f"{family} n° {number}" if family and number else (family or signal.title)
        files = [a for a in attributes.get("attachments") or [] if isinstance(a, dict) and a.get("base64")]
        return await self.send(
            by,
            str(national.get("nature") or "diffusion"),
            groups,
            text or signal.body or signal.title,
            title=title,
            attachments=files,
            exercise=exercise or signal.is_exercise,
            signal_id=signal.id,
        )

    def heading(self, diffusion: DiffusionRow) -> str:
        banner = "EXERCICE EXERCICE EXERCICE — " if diffusion.is_exercise else ""
        return f"{banner}{diffusion.title} — {NATURE_LABELS[Nature(diffusion.nature)]}"

    def _message(
        self, diffusion: DiffusionRow, target: DiffusionTargetRow, channel: str
    ) -> OutgoingMessage | None:
        address = {
            "email": target.email,
            "sms": target.phone,
            "voice": target.phone,
            "telegram": str(target.telegram_id) if target.telegram_id else None,
            "slack": target.slack_id,
        }[channel]
        if not address or channel not in self.config.channels.enabled():
            return None
        contact = self.cfg.contact or self.config.desk.name
        code = code_of(diffusion)
        head = self.heading(diffusion)
        actions: list[dict[str, str]] = []
        if channel == "sms":
            text = f"{head} (ARS, {diffusion.reference}) : {diffusion.text}"[:400]
            if diffusion.attachments:
                link = self.files_link(target)
                text += f" — Pièce(s) jointe(s) : {link}" if link else " — Pièce(s) jointe(s) par e-mail."
            text += f" — Répondez {code} pour confirmer la réception."
        elif channel == "voice":
            text = (
                f"Message de l'ARS, {head}. {diffusion.text[:600]} Appuyez sur 1 pour confirmer la réception."
            )
        else:
            text = (
                f"{head}\n\n{diffusion.text}\n\nCe message vous est transmis par {contact} "
                f"({diffusion.reference}). Merci de confirmer sa réception."
            )
            if channel != "email":  # a chat: its buttons confirm
                text += " Bouton ci-dessous."
                actions.append({"id": CHAT_CONFIRM, "label": "Je confirme la réception"})
                if diffusion.nature == Nature.ACTION.value:
                    actions.append({"id": CHAT_DONE, "label": "Action réalisée"})
                if diffusion.attachments:
                    link = self.files_link(target)
                    text += f"\nPièce(s) jointe(s) : {link}" if link else ""
        return OutgoingMessage(
            channel=channel,
            kind=KIND,
            text=text,
            recipient_address=address,
            subject=f"[Vigie] {diffusion.reference} — {head}",
            idempotency_key=f"{diffusion.reference}:{target.partner_id}:{target.attempts + 1}",
            data={
                "reference": diffusion.reference,
                "diffusion": diffusion.id,
                "target": target.id,
                "partner": target.partner_id,
                "partner_name": target.name,
                "reply_code": code,
                "nature": diffusion.nature,
                "exercise": diffusion.is_exercise,
                "attachments": diffusion.attachments if channel == "email" else [],
                "actions": actions,
            },
        )

    # --- attachments by link ------------------------------------------------------------

    def files_link(self, target: DiffusionTargetRow) -> str | None:
        """A signed link to the diffusion's attachments, for that partner; None when the desk
        has no public address or no link secret."""
        if self._signer is None or not self._public or target.id is None:
            return None
        expires = self.ctx.clock.now() + self.cfg.link_ttl
        token = self._signer.dumps([target.id, int(expires.timestamp())])
        return f"{self._public}{FILES_PATH.format(token=token)}"

    async def files(self, token: str) -> tuple[DiffusionRow, list[dict[str, Any]]]:
        """The attachments a link opens (opening confirms nothing: scanners open links)."""
        if self._signer is None:
            raise DiffusionError("not_found", "Lien invalide.")
        try:
            target_id, expires = self._signer.loads(token)
        except (BadSignature, ValueError, TypeError):
            raise DiffusionError("forbidden", "Lien invalide : rien à télécharger.") from None
        if expires < self.ctx.clock.now().timestamp():
            raise DiffusionError("expired", "Lien expiré : demandez le message à l'ARS.")
        async with self.db.read_session() as session:
            target = await session.get(DiffusionTargetRow, int(target_id))
            diffusion = await session.get(DiffusionRow, target.diffusion_id) if target else None
        if diffusion is None:
            raise DiffusionError("not_found", "Diffusion introuvable.")
        return diffusion, list(diffusion.attachments or [])

    async def _pace_from(self, session: AsyncSession, now: datetime) -> None:
        """Where the queue of diffusion SMS and calls ends (from the store: a restart, or another
        instance, keeps the pace)."""
        for channel in PACED:
            last = (
                await session.exec(
                    select(sa.func.max(OutboxMessageRow.not_before)).where(
                        OutboxMessageRow.kind == KIND,
                        OutboxMessageRow.channel == channel,
                        OutboxMessageRow.state == MessageState.PENDING.value,
                    )
                )
            ).one()
            gap = timedelta(seconds=1 / self.cfg.sms_per_second)
            self._paced_until[channel] = max(now, last + gap) if last is not None else now

    def _paced(self, channel: str, now: datetime) -> datetime | None:
        """When this SMS or call may leave: one each 1/``sms_per_second`` s, after those queued."""
        if channel not in PACED:
            return None
        gap = timedelta(seconds=1 / self.cfg.sms_per_second)
        slot = max(now, self._paced_until.get(channel, now))
        self._paced_until[channel] = slot + gap
        return slot

    async def _run_targets(self, now: datetime, limit: int) -> int:
        """Send each due target its next step (or end its cycles)."""
        async with self.db.read_session() as session:  # most rounds: nothing due, no write lock
            any_due = (
                await session.exec(
                    select(DiffusionTargetRow.id)
                    .where(
                        col(DiffusionTargetRow.state).in_(OPEN_STATES), col(DiffusionTargetRow.next_at) <= now
                    )
                    .limit(1)
                )
            ).first()
        if any_due is None:
            return 0
        async with self.db.transaction(background=True) as session:
            stmt = (
                select(DiffusionTargetRow)
                .where(col(DiffusionTargetRow.state).in_(OPEN_STATES), col(DiffusionTargetRow.next_at) <= now)
                .order_by(col(DiffusionTargetRow.next_at), col(DiffusionTargetRow.id))
                .limit(limit)
            )
            if self.db.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            due = list((await session.exec(stmt)).all())
            if not due:
                return 0
            ids = {t.diffusion_id for t in due}
            diffusions = {
                d.id: d
                for d in (await session.exec(select(DiffusionRow).where(col(DiffusionRow.id).in_(ids)))).all()
            }
            await self._pace_from(session, now)
            for target in due:
                self._step(diffusions[target.diffusion_id], target, session, now)
            await self._complete(session, ids, now)
        return len(due)

    async def run_due(self, limit: int = 50) -> int:
        """The partners' steps, the deadlines, then the national messages POUR ACTION."""
        now = self.ctx.clock.now()
        done = await self._run_targets(now, limit) + await self._overdue(now)
        return done + await self.national.run_due(now)

    async def _overdue(self, now: datetime) -> int:
        """Diffusions still open past ``diffusion.deadline``: the duty officers are told, once,
        with the partners still silent."""
        stmt = select(DiffusionRow).where(
            col(DiffusionRow.completed_at).is_(None),
            col(DiffusionRow.late_told_at).is_(None),
            col(DiffusionRow.created_at) <= now - self.cfg.deadline,
        )
        async with self.db.read_session() as session:
            if (await session.exec(stmt.limit(1))).first() is None:
                return 0
        async with self.db.transaction() as session:
            if self.db.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            late = list((await session.exec(stmt)).all())
            for diffusion in late:
                diffusion.late_told_at = now
                session.add(diffusion)
                summary = await self.summary_in(session, diffusion)
                silent = [t.name for t in await self._targets(session, diffusion) if t.confirmed_at is None]
                text = (
                    f"Diffusion {diffusion.reference} ({diffusion.title}) : "
                    f"délai de {human(self.cfg.deadline)} dépassé — {summary}. "
                    f"Sans confirmation : {', '.join(silent[:20])}"
                    + (" …" if len(silent) > 20 else "")
                    + f". Relance : /diffusion relancer {diffusion.reference}"
                )
                notify_officers(
                    session, self.ctx, text, kind="diffusion_late", key=f"{diffusion.reference}:late", now=now
                )
        return len(late)

    def _step(
        self, diffusion: DiffusionRow, target: DiffusionTargetRow, session: AsyncSession, now: datetime
    ) -> None:
        """``step`` below the number of steps: the next one to send (a channel the partner has
        no address on is passed); equal: the cycle's wait; then the next cycle, or the end."""
        steps = self.cfg.steps
        if target.step < len(steps):
            # Until something went out in this cycle, a channel the partner lacks is passed at
            # once (a phone-only partner gets its SMS now); after, the cycle keeps its times.
            started = any(self._message(diffusion, target, s.channel) for s in steps[: target.step])
            while target.step < len(steps):
                step = steps[target.step]
                target.step += 1
                message = self._message(diffusion, target, step.channel)
                if message is not None:
                    message.not_before = self._paced(step.channel, now)
                    enqueue(session, message, now=now)
                    target.attempts += 1
                    target.state = TargetState.SENT.value
                    break
                if started:
                    break
            if target.step < len(steps):
                target.next_at = now + (steps[target.step].after - steps[target.step - 1].after)
            else:
                target.next_at = now + self.cfg.cycle_wait
        elif target.cycle + 1 < self.cfg.cycles and target.attempts > target.failures:
            target.cycle, target.step, target.next_at = target.cycle + 1, 0, now
        else:
            unreachable = target.attempts == 0 or target.failures >= target.attempts
            target.state = (TargetState.UNREACHABLE if unreachable else TargetState.UNCONFIRMED).value
            target.next_at = None
        session.add(target)

    async def _complete(self, session: AsyncSession, ids: set[int], now: datetime) -> None:
        """A diffusion whose partners are all settled: the duty officers are told, once."""
        for diffusion_id in ids:
            diffusion = await session.get(DiffusionRow, diffusion_id)
            if diffusion is None or diffusion.completed_at is not None:
                continue
            open_ = await session.exec(
                select(DiffusionTargetRow.id).where(
                    DiffusionTargetRow.diffusion_id == diffusion_id,
                    col(DiffusionTargetRow.state).in_(OPEN_STATES),
                )
            )
            if open_.first() is not None:
                continue
            diffusion.completed_at = now
            session.add(diffusion)
            summary = await self.summary_in(session, diffusion)
            notify_officers(
                session,
                self.ctx,
                f"Diffusion {diffusion.reference} terminée : {summary}",
                kind="diffusion_done",
                key=f"{diffusion.reference}:done",
                now=now,
            )

    # --- confirmations ----------------------------------------------------------------

    async def confirm(
        self,
        reference: str,
        partner_id: str,
        via: str,
        *,
        by: str | None = None,
        comment: str | None = None,
        done: bool = False,
    ) -> DiffusionReply:
        """The partner has received it (``done``: and done what a POUR ACTION asked). The rest of
        its cycle is cancelled, and what was queued for it and not yet sent."""
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            diffusion, target = await self._target(session, reference, partner_id)
            already = target.confirmed_at is not None
            if not already:
                target.confirmed_at, target.confirmed_via = now, via
                target.confirmed_by, target.comment = by, (comment or None)
                target.state, target.next_at = TargetState.CONFIRMED.value, None
            if done and target.done_at is None:
                target.done_at, target.state = now, TargetState.DONE.value
                target.comment = comment or target.comment
            session.add(target)
            # Its messages' keys are « DIFF-…:<partner>:<n> »: a range of the unique index, not a
            # scan of every queued message's JSON (a 2,000-partner diffusion queues thousands).
            table, prefix = table_of(OutboxMessageRow), f"{diffusion.reference}:{target.partner_id}:"
            await session.exec(
                sa.update(table)
                .where(
                    table.c.idempotency_key >= prefix,
                    table.c.idempotency_key < prefix[:-1] + ";",
                    table.c.kind == KIND,
                    table.c.state == MessageState.PENDING.value,
                )
                .values(state=MessageState.CANCELLED.value, last_error="réception confirmée")
            )
            await self._complete(session, {diffusion.id or 0}, now)
        when = self.ctx.local(target.confirmed_at or now)
        if already and not done:
            return DiffusionReply(
                f"Réception déjà confirmée pour {diffusion.reference} ({when}). Merci.", reference=reference
            )
        if done:
            return DiffusionReply(
                f"Action réalisée enregistrée pour {diffusion.reference}. Merci.", changed=True
            )
        ask = (
            " Une fois l'action faite : le lien « Action réalisée » du message, "
            f"ou {code_of(diffusion)} FAIT par SMS."
            if diffusion.nature == Nature.ACTION.value
            else ""
        )
        return DiffusionReply(
            f"Réception de {diffusion.reference} confirmée ({target.name}, {when}). Merci.{ask}",
            changed=True,
            reference=diffusion.reference,
        )

    async def confirm_by_phone(self, code: int, phone: str, *, done: bool = False) -> DiffusionReply:
        """« D7 » from a partner's on-call phone: the diffusion of that number this year."""
        async with self.db.read_session() as session:
            found = (
                await session.exec(
                    select(DiffusionRow, DiffusionTargetRow)
                    .join(DiffusionTargetRow, col(DiffusionTargetRow.diffusion_id) == col(DiffusionRow.id))
                    .where(DiffusionRow.seq == code, DiffusionTargetRow.phone == phone)
                    .order_by(col(DiffusionRow.year).desc())
                )
            ).first()
        if found is None:
            return DiffusionReply(
                f"Le code D{code} ne correspond à aucune diffusion envoyée à ce numéro. "
                "Rien n'a été enregistré.",
                ok=False,
                code="not_found",
            )
        diffusion, target = found
        return await self.confirm(diffusion.reference, target.partner_id, "sms", by=phone, done=done)

    async def confirm_in_chat(
        self, reference: str, platform: str, addresses: set[str], *, by: str, done: bool = False
    ) -> DiffusionReply:
        """A partner's chat button: the chat (or the Slack user) must be the partner's own."""
        column = DiffusionTargetRow.telegram_id if platform == "telegram" else DiffusionTargetRow.slack_id
        wanted: list[Any] = (
            [int(a) for a in addresses if a.lstrip("-").isdigit()]
            if platform == "telegram"
            else list(addresses)
        )
        async with self.db.read_session() as session:
            diffusion = await self._diffusion(session, reference)
            target = (
                await session.exec(
                    select(DiffusionTargetRow).where(
                        DiffusionTargetRow.diffusion_id == diffusion.id, col(column).in_(wanted)
                    )
                )
            ).first()
        if target is None:
            return DiffusionReply(
                f"Ce compte n'est pas destinataire de {diffusion.reference} : rien n'a été enregistré.",
                ok=False,
                code="not_found",
            )
        return await self.confirm(diffusion.reference, target.partner_id, platform, by=by, done=done)

    async def confirm_by_mail(self, reference: str, sender: str, text: str) -> DiffusionReply | None:
        """A reply from a partner's alerte mailbox quoting the diffusion's reference; « fait » or
        « action réalisée » in its first lines says the action asked is done. None: the sender is
        not one of that diffusion's partners (the mail is an ordinary one)."""
        async with self.db.read_session() as session:
            diffusion = (
                await session.exec(select(DiffusionRow).where(DiffusionRow.reference == reference.upper()))
            ).first()
            if diffusion is None:
                return None
            target = (
                await session.exec(
                    select(DiffusionTargetRow).where(
                        DiffusionTargetRow.diffusion_id == diffusion.id,
                        sa.func.lower(DiffusionTargetRow.email) == sender.strip().lower(),
                    )
                )
            ).first()
        if target is None:
            return None
        head = " ".join(text.strip().splitlines()[:3]).lower()
        done = diffusion.nature == Nature.ACTION.value and bool(
            re.search(r"\b(fait|action r[ée]alis[ée]e|r[ée]alis[ée]e)\b", head)
        )
        return await self.confirm(
            diffusion.reference, target.partner_id, "email-reponse", by=sender, done=done
        )

    async def _target(
        self, session: AsyncSession, reference: str, partner_id: str
    ) -> tuple[DiffusionRow, DiffusionTargetRow]:
        diffusion = await self._diffusion(session, reference)
        stmt = select(DiffusionTargetRow).where(
            DiffusionTargetRow.diffusion_id == diffusion.id, DiffusionTargetRow.partner_id == partner_id
        )
        if self.db.is_postgres:
            stmt = stmt.with_for_update()
        target = (await session.exec(stmt)).first()
        if target is None:
            raise DiffusionError(
                "not_found", f"« {partner_id} » n'est pas destinataire de {diffusion.reference}."
            )
        return diffusion, target

    async def failed(self, session: AsyncSession, row: OutboxMessageRow, reason: str, now: datetime) -> None:
        """A message no channel accepted (bounced mail, invalid number): the partner's next step
        comes at once; with none accepted at all, the partner ends « injoignable »."""
        target = await session.get(DiffusionTargetRow, int(row.data.get("target") or 0))
        if target is None or target.state not in OPEN_STATES:
            return
        target.failures += 1
        target.next_at = now
        session.add(target)

    # --- following it -----------------------------------------------------------------

    async def summary_in(self, session: AsyncSession, diffusion: DiffusionRow) -> str:
        targets = await self._targets(session, diffusion)
        counts = {s: 0 for s in TargetState}
        for target in targets:
            counts[TargetState(target.state)] += 1
        confirmed = counts[TargetState.CONFIRMED] + counts[TargetState.DONE]
        phoned = sum(1 for t in targets if t.confirmed_via == "operateur")
        pending = counts[TargetState.WAITING] + counts[TargetState.SENT]
        text = f"{confirmed}/{len(targets)} confirmés"
        if phoned:
            text += f" (dont {phoned} par téléphone, saisis par l'opérateur)"
        text += f", {pending} en attente, {counts[TargetState.UNCONFIRMED]} non confirmés, "
        text += f"{counts[TargetState.UNREACHABLE]} injoignables"
        if counts[TargetState.DONE]:
            text += f" ; action réalisée : {counts[TargetState.DONE]}"
        return text

    async def _targets(self, session: AsyncSession, diffusion: DiffusionRow) -> list[DiffusionTargetRow]:
        return list(
            (
                await session.exec(
                    select(DiffusionTargetRow)
                    .where(DiffusionTargetRow.diffusion_id == diffusion.id)
                    .order_by(col(DiffusionTargetRow.partner_id))
                )
            ).all()
        )

    async def _diffusion(self, session: AsyncSession, reference: str) -> DiffusionRow:
        diffusion = (
            await session.exec(select(DiffusionRow).where(DiffusionRow.reference == reference.upper()))
        ).first()
        if diffusion is None:
            raise DiffusionError("not_found", f"Aucune diffusion « {reference} ».")
        return diffusion

    async def status(self, reference: str) -> DiffusionReply:
        async with self.db.read_session() as session:
            diffusion = await self._diffusion(session, reference)
            summary = await self.summary_in(session, diffusion)
            targets = await self._targets(session, diffusion)
        late = [t.name for t in targets if t.state in (*OPEN_STATES, TargetState.UNCONFIRMED.value)]
        lost = [t.name for t in targets if t.state == TargetState.UNREACHABLE.value]
        lines = [f"{diffusion.reference} — {self.heading(diffusion)} : {summary}."]
        if late:
            lines.append("Sans confirmation : " + ", ".join(late[:30]) + (" …" if len(late) > 30 else ""))
        if lost:
            lines.append("Injoignables (annuaire à vérifier) : " + ", ".join(lost[:30]))
        return DiffusionReply("\n".join(lines), reference=diffusion.reference)

    async def targets_of(self, reference: str) -> list[dict[str, Any]]:
        async with self.db.read_session() as session:
            diffusion = await self._diffusion(session, reference)
            targets = await self._targets(session, diffusion)
        return [
            {
                "partner": t.partner_id,
                "name": t.name,
                "state": t.state,
                "attempts": t.attempts,
                "confirmed_at": t.confirmed_at.astimezone(self.ctx.zone).isoformat()
                if t.confirmed_at
                else None,
                "confirmed_via": t.confirmed_via,
                "confirmed_by": t.confirmed_by,
                "comment": t.comment,
            }
            for t in targets
        ]

    async def chase(self, reference: str) -> DiffusionReply:
        """``/diffusion relancer``: one more cycle for every partner not yet confirmed."""
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            diffusion = await self._diffusion(session, reference)
            chased = 0
            for target in await self._targets(session, diffusion):
                if target.confirmed_at is None:
                    target.state, target.step, target.next_at = TargetState.SENT.value, 0, now
                    target.cycle = self.cfg.cycles - 1  # one more cycle, the last
                    session.add(target)
                    chased += 1
            diffusion.completed_at = None
            session.add(diffusion)
        return DiffusionReply(
            f"{diffusion.reference} : relance de {chased} partenaire(s) sans confirmation.",
            changed=bool(chased),
        )

    async def sentence(self, reference: str) -> str:
        """The report's summary, ready to mail upward: « Diffusion du MINSANTE n° 2026-112 :
        332/340 partenaires ont confirmé la réception à 11:42. »"""
        async with self.db.read_session() as session:
            diffusion = await self._diffusion(session, reference)
            targets = await self._targets(session, diffusion)
        confirmed = [t for t in targets if t.confirmed_at is not None]
        last = max((t.confirmed_at for t in confirmed if t.confirmed_at), default=None)
        when = f" à {self.ctx.local(last)}" if last else ""
        lost = sum(1 for t in targets if t.state == TargetState.UNREACHABLE.value)
        tail = f" ; {lost} injoignable(s), à vérifier dans l'annuaire" if lost else ""
        return (
            f"Diffusion du {diffusion.title} ({NATURE_LABELS[Nature(diffusion.nature)]}, "
            f"{diffusion.reference}) : "
            f"{len(confirmed)}/{len(targets)} partenaires ont confirmé la réception{when}{tail}."
        )

    async def report_pdf(self, reference: str) -> bytes:
        from bot.crisis.documents import text_pdf

        async with self.db.read_session() as session:
            diffusion = await self._diffusion(session, reference)
            targets = await self._targets(session, diffusion)
        lines = [
            await self.sentence(reference),
            "",
            f"Envoyée le {self.ctx.local(diffusion.created_at, '%d/%m/%Y %H:%M')}",
            "",
        ]
        lines.append("PARTENAIRES")
        for t in targets:
            how = (
                f" — {t.confirmed_via} {self.ctx.local(t.confirmed_at, '%d/%m %H:%M')}"
                if t.confirmed_at
                else ""
            )
            who = f" ({t.confirmed_by})" if t.confirmed_by else ""
            lines.append(f"{t.partner_id} {t.name} : {TARGET_LABELS[TargetState(t.state)]}{how}{who}")
        return text_pdf(f"Rapport de diffusion {diffusion.reference}", "\n".join(lines))

    async def send_upward(self, reference: str) -> DiffusionReply:
        """The report mailed to ``diffusion.upward``: the summary, the CSV and the PDF."""
        if not self.cfg.upward:
            raise DiffusionError(
                "usage", "Aucun destinataire : renseignez diffusion.upward dans la configuration."
            )
        sentence = await self.sentence(reference)
        files = [
            ("text/csv", f"{reference.upper()}-rapport.csv", await self.report_csv(reference)),
            ("application/pdf", f"{reference.upper()}-rapport.pdf", await self.report_pdf(reference)),
        ]
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            for address in dict.fromkeys(str(a) for a in self.cfg.upward):
                enqueue(
                    session,
                    OutgoingMessage(
                        channel="email",
                        kind="diffusion_report",
                        text=sentence,
                        subject=f"[Vigie] Rapport de diffusion {reference.upper()}",
                        recipient_address=address,
                        data={
                            "attachments": [
                                {
                                    "filename": name,
                                    "content_type": kind,
                                    "base64": base64.b64encode(data).decode(),
                                }
                                for kind, name, data in files
                            ]
                        },
                    ),
                    now=now,
                )
        upward = ", ".join(str(a) for a in self.cfg.upward)
        return DiffusionReply(
            f"Rapport envoyé à {upward} : {sentence}", changed=True, reference=reference.upper()
        )

    async def report_csv(self, reference: str) -> bytes:
        """Every partner, every attempt (channel, time, provider state), its confirmation."""
        async with self.db.read_session() as session:
            diffusion = await self._diffusion(session, reference)
            targets = await self._targets(session, diffusion)
            table = table_of(OutboxMessageRow)
            messages = list(
                (
                    await session.exec(
                        select(OutboxMessageRow)
                        .where(
                            OutboxMessageRow.kind == KIND,
                            table.c.data["diffusion"].as_integer() == diffusion.id,
                        )
                        .order_by(col(OutboxMessageRow.id))
                    )
                ).all()
            )
        attempts: dict[int, list[OutboxMessageRow]] = {}
        for message in messages:  # this diffusion's only, not every diffusion ever sent
            attempts.setdefault(int(message.data.get("target") or 0), []).append(message)
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";")
        writer.writerow(
            ["partenaire", "nom", "etat", "tentatives", "confirme_le", "confirme_par", "moyen", "commentaire"]
        )
        for target in targets:
            tried = " | ".join(
                f"{m.channel} {self.ctx.local(m.created_at, '%d/%m %H:%M')} {m.state}"
                for m in attempts.get(target.id or 0, [])
            )
            writer.writerow(
                [
                    target.partner_id,
                    target.name,
                    TARGET_LABELS[TargetState(target.state)],
                    tried,
                    self.ctx.local(target.confirmed_at, "%d/%m/%Y %H:%M") if target.confirmed_at else "",
                    target.confirmed_by or "",
                    target.confirmed_via or "",
                    target.comment or "",
                ]
            )
        return out.getvalue().encode("utf-8-sig")


class DiffusionCommands:
    """``/diffuser <nature> <groupes> <texte>`` and ``/diffusion statut|relancer|confirmer …``."""

    def __init__(self, diffusions: Diffusions) -> None:
        self.diffusions = diffusions

    async def diffuse(self, person_id: str, args: str) -> DiffusionReply:
        words = args.split(maxsplit=2)
        if words and find_reference(words[0]) is not None:  # « /diffuser PFR-2026-000012 ehpad-59 »
            if len(words) < 2:
                return DiffusionReply(
                    "Usage : /diffuser <réf. du signal> <groupe[,groupe]> [texte]", ok=False, code="usage"
                )
            try:
                return await self.diffusions.send_from_signal(
                    person_id,
                    words[0],
                    [g for g in words[1].split(",") if g],
                    words[2] if len(words) > 2 else None,
                )
            except DiffusionError as exc:
                return DiffusionReply(exc.message, ok=False, code=exc.code)
        if len(words) < 3:
            return DiffusionReply(
                "Usage : /diffuser <information|action|diffusion|mars> <groupe[,groupe]> <texte>",
                ok=False,
                code="usage",
            )
        nature, groups, text = words
        exercise = text.lower().startswith(("exercice ", "exercise "))
        if exercise:
            text = text.split(maxsplit=1)[1]
        try:
            return await self.diffusions.send(
                person_id, nature, [g for g in groups.split(",") if g], text, exercise=exercise
            )
        except DiffusionError as exc:
            return DiffusionReply(exc.message, ok=False, code=exc.code)

    async def follow(self, person_id: str, args: str) -> DiffusionReply:
        words = args.split(maxsplit=3)
        verb = words[0].lower() if words else ""
        usage = (
            "Usage : /diffusion statut <réf.> · /diffusion relancer <réf.> · "
            "/diffusion confirmer <réf.> <partenaire> [commentaire]"
        )
        try:
            if verb in ("statut", "status") and len(words) >= 2:
                return await self.diffusions.status(words[1])
            if verb in ("relancer", "chase") and len(words) >= 2:
                return await self.diffusions.chase(words[1])
            if verb in ("confirmer", "confirm") and len(words) >= 3:
                comment = words[3] if len(words) > 3 else None
                name = self.diffusions.ctx.name(person_id)
                return await self.diffusions.confirm(
                    words[1], words[2], "operateur", by=name, comment=comment
                )
        except DiffusionError as exc:
            return DiffusionReply(exc.message, ok=False, code=exc.code)
        return DiffusionReply(usage, ok=False, code="usage")
