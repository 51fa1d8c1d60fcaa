"""A national message POUR ACTION followed up (seed 003): the desk answers for the action and
reports back upward once it is done.

When such a message arrives (a signal of category ``message-national``, nature action), an
action is opened with the due time ``diffusion.action_due``; ``/suite <réf.> <personne>
[échéance 18h]`` names its owner, who is told; past the due time the owner and the duty
officers are told once; ``/suite <réf.> fait <compte rendu>`` records it done and drafts the
report back upward from the message, the account and the diffusions that relayed it;
``/suite <réf.> envoyer`` mails that report to ``diffusion.upward``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import VigieConfig
from bot.db import Database
from bot.diffusion.models import (
    NATURE_LABELS,
    DiffusionRow,
    DiffusionTargetRow,
    NationalActionRow,
    Nature,
    TargetState,
)
from bot.diffusion.replies import DiffusionReply
from bot.domain import Category
from bot.durations import human, parse_due, parse_duration
from bot.history import add_event
from bot.models import SignalRow
from bot.outbox import OutgoingMessage, enqueue
from bot.signals import find_reference
from escalation.context import PagingContext
from escalation.paging import notify

# New national messages are looked for among the signals received this long ago at most (an
# index range, not a scan of every signal ever received).
_LOOKBACK = timedelta(days=2)
USAGE = (
    "Usage : /suite <réf.> · /suite <réf.> <responsable> [échéance 18h30 | dans 4h] · "
    "/suite <réf.> fait <compte rendu> · /suite <réf.> envoyer"
)


def national_of(signal: SignalRow) -> dict[str, str] | None:
    national = (signal.attributes or {}).get("national")
    if signal.category != Category.MESSAGE_NATIONAL.value or not isinstance(national, dict):
        return None
    return national


class NationalActions:
    def __init__(self, config: VigieConfig, db: Database, ctx: PagingContext) -> None:
        self.config, self.db, self.ctx = config, db, ctx

    def _reply(
        self, text: str, *, ok: bool = True, changed: bool = False, code: str | None = None
    ) -> DiffusionReply:
        return DiffusionReply(text, ok=ok, changed=changed, code=code)

    # --- opened as they arrive, reminded when late -----------------------------------------

    async def run_due(self, now: datetime) -> int:
        return await self._open_new(now) + await self._remind(now)

    async def _open_new(self, now: datetime) -> int:
        async with self.db.read_session() as session:
            candidates = (
                await session.exec(
                    select(SignalRow)
                    .outerjoin(NationalActionRow, col(NationalActionRow.signal_id) == col(SignalRow.id))
                    .where(
                        col(SignalRow.received_at) >= now - _LOOKBACK,
                        SignalRow.category == Category.MESSAGE_NATIONAL.value,
                        col(NationalActionRow.id).is_(None),
                    )
                )
            ).all()
        wanted = [s for s in candidates if (national_of(s) or {}).get("nature") == Nature.ACTION.value]
        if not wanted:
            return 0
        opened = 0
        async with self.db.transaction() as session:
            await self.db.serialize(session, "national-actions")  # two instances open it once
            for signal in wanted:
                assert signal.id is not None
                if await self._of_signal(session, signal.id) is not None:
                    continue
                national = national_of(signal) or {}
                title = (
                    f"{national.get('family')} n° {national['number']}"
                    if national.get("number")
                    else signal.title
                )
                due = signal.received_at + self.config.diffusion.action_due
                session.add(
                    NationalActionRow(signal_id=signal.id, title=title[:300], due_at=due, created_at=now)
                )
                add_event(
                    session,
                    signal.id,
                    "national_action",
                    f"{title} POUR ACTION : responsable à désigner, échéance {self._when(due)} "
                    f"(/suite {signal.reference} <responsable> [échéance]).",
                    now,
                )
                opened += 1
        return opened

    async def _remind(self, now: datetime) -> int:
        stmt = (
            select(NationalActionRow, SignalRow)
            .join(SignalRow, col(SignalRow.id) == col(NationalActionRow.signal_id))
            .where(
                col(NationalActionRow.done_at).is_(None),
                col(NationalActionRow.reminded_at).is_(None),
                col(NationalActionRow.due_at) <= now,
            )
        )
        async with self.db.read_session() as session:  # most rounds: none late, no write lock
            if (await session.exec(stmt.limit(1))).first() is None:
                return 0
        async with self.db.transaction() as session:
            if self.db.is_postgres:
                stmt = stmt.with_for_update(of=NationalActionRow, skip_locked=True)
            late = list((await session.exec(stmt)).all())
            for action, signal in late:
                action.reminded_at = now
                session.add(action)
                owner = self.ctx.name(action.owner_id) if action.owner_id else "aucun responsable désigné"
                text = (
                    f"Échéance dépassée : {action.title} POUR ACTION ({signal.reference}), "
                    f"responsable : {owner}. Une fois faite : /suite {signal.reference} fait <compte rendu>."
                )
                people = dict.fromkeys(
                    [*([action.owner_id] if action.owner_id else []), *self.config.officers()]
                )
                for person in people:
                    notify(
                        session, self.ctx, person, text, kind="national_action_late", signal_id=signal.id,
                        key=f"{signal.reference}:action-late", now=now,
                    )  # fmt: skip
        return len(late)

    # --- the /suite command ---------------------------------------------------------------

    async def command(
        self, person_id: str, args: str, *, allowed: bool, refusal: str, resolve: Callable[[str], str | None]
    ) -> DiffusionReply:
        reference = find_reference(args)
        if reference is None:
            return self._reply(USAGE, ok=False, code="usage")
        rest = re.sub(rf"^\s*{re.escape(reference)}\b", "", args, flags=re.I).strip()
        verb, _, tail = rest.partition(" ")
        async with self.db.read_session() as session:
            found = await self._find(session, reference)
        if found is None:
            return self._reply(
                f"{reference} n'est pas un message national POUR ACTION suivi par Vigie.",
                ok=False,
                code="not_found",
            )
        action, _ = found
        if not rest:
            return self._reply(await self.show(reference))
        owner_done = verb.lower() in ("fait", "done") and person_id == action.owner_id
        if not allowed and not owner_done:
            return self._reply(refusal, ok=False, code="forbidden")
        if verb.lower() in ("fait", "done"):
            return await self.done(person_id, reference, tail.strip())
        if verb.lower() in ("envoyer", "send"):
            return await self.send(person_id, reference)
        return await self.assign(person_id, reference, rest, resolve)

    def _due(self, text: str, now: datetime) -> tuple[str, datetime | None]:
        """``échéance 18h30`` / ``avant 18:30`` (a time of day), ``dans 4h`` / ``+4h`` (a delay)."""
        rest, due = parse_due(text, now, self.ctx.zone)
        if due is not None:
            return rest, due
        delay = re.search(r"(?:\bdans\s+|\+)(\d+\s*(?:min|h|j|d|m)(?:\s*\d+\s*(?:min|m))?)\b", text, re.I)
        if delay is not None:
            return (text[: delay.start()] + text[delay.end() :]).strip(), now + parse_duration(delay[1])
        return text, None

    async def assign(
        self, person_id: str, reference: str, text: str, resolve: Callable[[str], str | None]
    ) -> DiffusionReply:
        now = self.ctx.clock.now()
        who, due = self._due(text, now)
        owner = resolve(who.strip()) if who.strip() else None
        if owner is None:
            return self._reply(
                f"Personne inconnue « {who.strip()} » (identifiant ou nom de l'annuaire). {USAGE}",
                ok=False,
                code="unknown_person",
            )
        async with self.db.transaction() as session:
            found = await self._find(session, reference, lock=True)
            assert found is not None
            action, signal = found
            if action.done_at is not None:
                return self._reply(
                    f"{action.title} : action déjà réalisée ({self._when(action.done_at)}).", ok=False
                )
            action.owner_id = owner
            if due is not None:
                action.due_at, action.reminded_at = due, None
            session.add(action)
            by, name = self.ctx.name(person_id), self.ctx.name(owner)
            assert signal.id is not None
            add_event(
                session, signal.id, "national_action",
                f"Responsable de l'action : {name}, échéance {self._when(action.due_at)} (désigné par {by}).",
                now, actor=person_id,
            )  # fmt: skip
            notify(
                session, self.ctx, owner,
                f"{by} vous confie l'action demandée par {action.title} ({signal.reference}) : "
                f"« {signal.title} ». Échéance : {self._when(action.due_at)}. "
                f"Une fois faite : /suite {signal.reference} fait <compte rendu>.",
                kind="national_action", signal_id=signal.id,
                key=f"{signal.reference}:owner:{owner}:{now.isoformat()}", now=now,
            )  # fmt: skip
        return self._reply(
            f"{action.title} : {name} responsable, échéance {self._when(action.due_at)}. Prévenu(e).",
            changed=True,
        )

    async def done(self, person_id: str, reference: str, account: str) -> DiffusionReply:
        if not account:
            return self._reply(
                f"Dites ce qui a été fait : /suite {reference} fait <compte rendu>.", ok=False, code="usage"
            )
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            found = await self._find(session, reference, lock=True)
            assert found is not None
            action, signal = found
            if action.done_at is None:
                action.done_at, action.done_by, action.account = now, person_id, account[:4000]
            else:
                action.account = account[:4000]  # a better account, the same action
            action.report = await self._draft(session, action, signal)
            session.add(action)
            assert signal.id is not None
            add_event(
                session, signal.id, "national_action",
                f"Action réalisée ({self.ctx.name(person_id)}) : {account}", now, actor=person_id,
            )  # fmt: skip
        upward = ", ".join(str(a) for a in self.config.diffusion.upward)
        send = (
            f"Pour l'envoyer à {upward} : /suite {reference} envoyer"
            if upward
            else "Aucun destinataire : renseignez diffusion.upward pour l'envoyer d'ici."
        )
        return self._reply(
            f"Action réalisée enregistrée. Projet de retour :\n\n{action.report}\n\n{send}", changed=True
        )

    async def send(self, person_id: str, reference: str) -> DiffusionReply:
        upward = [str(a) for a in self.config.diffusion.upward]
        if not upward:
            return self._reply("Aucun destinataire : renseignez diffusion.upward.", ok=False, code="usage")
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            found = await self._find(session, reference, lock=True)
            assert found is not None
            action, signal = found
            if action.done_at is None or not action.report:
                return self._reply(
                    f"L'action n'est pas encore réalisée : /suite {reference} fait <compte rendu> d'abord.",
                    ok=False,
                    code="not_done",
                )
            action.report = await self._draft(session, action, signal)  # the diffusions' figures of now
            action.sent_at = now
            session.add(action)
            for address in dict.fromkeys(upward):
                enqueue(
                    session,
                    OutgoingMessage(
                        channel="email",
                        kind="national_report",
                        text=action.report,
                        subject=f"[Vigie] Retour — {action.title} — action réalisée ({signal.reference})",
                        recipient_address=address,
                        idempotency_key=f"{signal.reference}:report:{address}:{now.isoformat()}",
                    ),
                    now=now,
                )
            assert signal.id is not None
            add_event(
                session, signal.id, "national_action",
                f"Retour envoyé à {', '.join(upward)} par {self.ctx.name(person_id)}.", now, actor=person_id,
            )  # fmt: skip
        return self._reply(f"Retour sur {action.title} envoyé à {', '.join(upward)}.", changed=True)

    async def show(self, reference: str) -> str:
        async with self.db.read_session() as session:
            found = await self._find(session, reference)
            assert found is not None
            action, signal = found
            owner = self.ctx.name(action.owner_id) if action.owner_id else "à désigner"
            lines = [f"{action.title} POUR ACTION ({signal.reference}) — responsable : {owner}, "
                     f"échéance {self._when(action.due_at)}."]  # fmt: skip
            if action.done_at is not None:
                lines.append(f"Réalisée le {self._when(action.done_at)} : {action.account}")
                lines.append(f"Retour envoyé le {self._when(action.sent_at)}." if action.sent_at else
                             f"Retour à envoyer : /suite {signal.reference} envoyer")  # fmt: skip
            elif action.due_at <= self.ctx.clock.now():
                lines.append(f"En retard de {human(self.ctx.clock.now() - action.due_at)}.")
            return "\n".join(lines)

    # --- the report back upward ----------------------------------------------------------

    async def _draft(self, session: AsyncSession, action: NationalActionRow, signal: SignalRow) -> str:
        cfg = self.config.diffusion
        owner = self.ctx.name(action.owner_id or action.done_by or "")
        lines = [
            f"Retour — {action.title} ({NATURE_LABELS[Nature.ACTION]})",
            "",
            f"Message reçu le {self._when(signal.received_at)} ({signal.reference}) : « {signal.title} ».",
            f"Action réalisée le {self._when(action.done_at)}, sous la responsabilité de {owner}"
            + (
                f" (échéance {self._when(action.due_at)} respectée)."
                if action.done_at and action.done_at <= action.due_at
                else f" (échéance du {self._when(action.due_at)} dépassée)."
            ),
            f"Compte rendu : {action.account}",
        ]
        diffusions = (
            await session.exec(
                select(DiffusionRow).where(DiffusionRow.signal_id == signal.id).order_by(col(DiffusionRow.id))
            )
        ).all()
        for diffusion in diffusions:
            targets = (
                await session.exec(
                    select(DiffusionTargetRow).where(DiffusionTargetRow.diffusion_id == diffusion.id)
                )
            ).all()
            confirmed = sum(1 for t in targets if t.confirmed_at is not None)
            done = sum(1 for t in targets if t.state == TargetState.DONE.value)
            line = (
                f"Diffusion {diffusion.reference} aux partenaires ({', '.join(diffusion.groups)}) : "
                f"{confirmed}/{len(targets)} ont confirmé la réception"
            )
            if diffusion.nature == Nature.ACTION.value:
                line += f", {done}/{len(targets)} ont réalisé l'action"
            lines.append(line + ".")
        lines += ["", f"Contact : {cfg.contact or self.config.desk.name}"]
        return "\n".join(lines)

    # --- lookups --------------------------------------------------------------------------

    def _when(self, at: datetime | None) -> str:
        return self.ctx.local(at, "%d/%m à %H:%M") if at else "?"

    async def _of_signal(self, session: AsyncSession, signal_id: int) -> NationalActionRow | None:
        return (
            await session.exec(select(NationalActionRow).where(NationalActionRow.signal_id == signal_id))
        ).first()

    async def _find(
        self, session: AsyncSession, reference: str, *, lock: bool = False
    ) -> tuple[NationalActionRow, SignalRow] | None:
        stmt = (
            select(NationalActionRow, SignalRow)
            .join(SignalRow, col(SignalRow.id) == col(NationalActionRow.signal_id))
            .where(SignalRow.reference == reference.upper())
        )
        if lock and self.db.is_postgres:
            stmt = stmt.with_for_update(of=NationalActionRow)
        row = (await session.exec(stmt)).first()
        return (row[0], row[1]) if row is not None else None
