"""What the crisis cell's commands do, whatever the way in (chat, CLI, HTTP): open a crisis from
signals, call the members and give them their functions, record who joins, and log every message
and typed entry in the main courante. Permission checks are ``bot.inbound``'s; this module
decides and commits, and its callers wake the workers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import VigieConfig
from bot.config.types import LEVELS
from bot.crisis import store, timers
from bot.crisis.chain import Verdict, verify
from bot.crisis.models import (
    ENTRY_KIND_LABELS_FR,
    CrisisFunctionRow,
    CrisisMemberRow,
    CrisisRoomRow,
    CrisisRow,
    CrisisSignalRow,
    CrisisState,
    EntryKind,
    EntryRow,
)
from bot.crisis.store import EntryDraft
from bot.crisis.writer import CrisisUnavailable, EntryWriter
from bot.db import Database
from bot.domain import CELL_FUNCTIONS, FUNCTION_LABELS_FR, Function
from bot.models import SignalRow
from bot.outbox import OutgoingMessage, enqueue
from bot.texts import t
from escalation.actions import ActionError, SignalActions
from escalation.context import PagingContext
from escalation.paging import notify


@dataclass(frozen=True)
class CellReply:
    text: str
    ok: bool = True
    changed: bool = False
    reference: str | None = None
    code: str | None = None


class CellError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def function_named(text: str) -> Function | None:
    """« pilotage », « organisation médicale », « orga-medicale », « secrétariat »… → a cell function."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    plain = re.sub(r"[^a-z]+", "-", folded).strip("-")
    aliases = {
        "orga-medicale": Function.ORGANISATION_MEDICALE,
        "medicale": Function.ORGANISATION_MEDICALE,
        "medical": Function.ORGANISATION_MEDICALE,
        "orga-paramedicale": Function.ORGANISATION_PARAMEDICALE,
        "paramedicale": Function.ORGANISATION_PARAMEDICALE,
        "paramedical": Function.ORGANISATION_PARAMEDICALE,
        "com": Function.COMMUNICATION,
        "secretariat": Function.SECRETARIAT,
        "secretary": Function.SECRETARIAT,
        "decision": Function.DECISION,
        "lead": Function.DECISION,
        "steering": Function.PILOTAGE,
    }
    if plain in aliases:
        return aliases[plain]
    return next((f for f in CELL_FUNCTIONS if f.value == plain), None)


def moderators(crisis: CrisisRow, held: list[CrisisFunctionRow]) -> list[str]:
    """Who moderates the crisis rooms: the opener and those who lead (décision, pilotage)."""
    leads = [f.person_id for f in held if f.function in (Function.DECISION.value, Function.PILOTAGE.value)]
    return [p for p in dict.fromkeys([crisis.opened_by, *leads]) if p]


def room_name(reference: str, title: str, opened: datetime) -> str:
    """``crise-2026-11-24-legionellose-ehpad``: ASCII, lowercase, at most 80 characters."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    words = [w for w in re.split(r"[^a-z0-9]+", folded) if w]
    base = f"crise-{opened:%Y-%m-%d}"
    name = base
    for word in words:
        if len(name) + 1 + len(word) > 80:
            break
        name = f"{name}-{word}"
    return name


class CrisisCell:
    def __init__(self, config: VigieConfig, db: Database, ctx: PagingContext, actions: SignalActions) -> None:
        self.config, self.db, self.ctx, self.actions = config, db, ctx, actions
        self._writer = EntryWriter(db, ctx.clock.now)

    @property
    def lang(self) -> str:
        return self.config.desk.language

    @property
    def prefix(self) -> str:
        return self.config.crisis.reference_prefix

    def label(self, function: Function | str) -> str:
        f = Function(function)
        return FUNCTION_LABELS_FR[f] if self.lang == "fr" else f.value

    # --- opening ----------------------------------------------------------------------

    async def open(
        self,
        opener: str,
        title: str | None,
        signal_refs: list[str],
        plan: str | None,
        origin: str,
        *,
        exercise: bool = False,
        composition: str | None = None,
    ) -> CellReply:
        now = self.ctx.clock.now()
        cfg = self.config.crisis
        chosen = composition or cfg.composition_for(plan)
        async with self.db.transaction() as session:
            signals: list[SignalRow] = []
            reference, seq = await store.new_reference(
                session, self.prefix, now.astimezone(self.ctx.zone).year
            )
            for ref in dict.fromkeys(r.upper() for r in signal_refs):
                try:
                    signals.append(await self.actions.take_into_crisis(session, ref, reference, opener))
                except ActionError as exc:
                    raise CellError(exc.code, exc.message) from None
            heading = (title or "").strip() or (signals[0].title if signals else "")
            if not heading:
                raise CellError("usage", t("crisis.title_needed", self.lang))
            crisis = CrisisRow(
                reference=reference,
                year=now.astimezone(self.ctx.zone).year,
                seq=seq,
                title=heading[:500],
                plan=plan,
                phase=cfg.first_phase(),
                composition=chosen,
                is_exercise=exercise or any(s.is_exercise for s in signals),
                opened_at=now,
                opened_by=opener,
                vacancy_check_at=now + cfg.vacant_reminder,
            )
            session.add(crisis)
            await session.flush()
            assert crisis.id is not None
            for signal in signals:
                assert signal.id is not None
                session.add(CrisisSignalRow(crisis_id=crisis.id, signal_id=signal.id))
            holders = self._composition(chosen, now)
            people = list(dict.fromkeys([opener, *(p for _, p in holders), *self._extra_members(chosen)]))
            for person_id in people:
                joined = now if person_id == opener else None
                session.add(
                    CrisisMemberRow(
                        crisis_id=crisis.id,
                        person_id=person_id,
                        called_at=now,
                        joined_at=joined,
                        joined_via=origin if joined else None,
                    )
                )
            for function, person_id in holders:
                session.add(
                    CrisisFunctionRow(
                        crisis_id=crisis.id,
                        function=function.value,
                        person_id=person_id,
                        since=now,
                        assigned_by="config",
                    )
                )
            await self.system_entry(
                session,
                crisis,
                t(
                    "crisis.entry.opened",
                    self.lang,
                    name=self.ctx.name(opener),
                    title=crisis.title,
                    plan=f" (plan ORSAN {plan})" if plan else "",
                    signals=", ".join(s.reference for s in signals) or t("crisis.no_signal", self.lang),
                ),
                now,
            )
            if holders:
                await self.system_entry(
                    session,
                    crisis,
                    t("crisis.entry.functions", self.lang, list=self._holders_text(holders)),
                    now,
                )
            for platform in self._room_platforms():
                session.add(
                    CrisisRoomRow(
                        crisis_id=crisis.id,
                        platform=platform,
                        name=room_name(reference, crisis.title, now.astimezone(self.ctx.zone)),
                        next_attempt_at=now,
                    )
                )
            called = [p for p in people if p != opener]
            for person_id in called:
                self._call(session, crisis, person_id, holders, now)
            if called:
                names = ", ".join(self.ctx.name(p) for p in called)
                await self.system_entry(
                    session, crisis, t("crisis.entry.called", self.lang, names=names), now
                )
            await self._check_armed(session, crisis, now)
        text = t(
            "crisis.opened",
            self.lang,
            reference=reference,
            title=crisis.title,
            called=len(called),
            functions=self._holders_text(holders) or t("crisis.functions_none", self.lang),
        )
        return CellReply(text, changed=True, reference=reference)

    def _room_platforms(self) -> list[str]:
        channels = self.config.channels
        found: list[str] = []
        if channels.slack.enabled and self.config.crisis.slack.enabled:
            found.append("slack")
        if channels.telegram.enabled and channels.telegram.crisis_chat_id is not None:
            found.append("telegram")
        if channels.matrix.enabled and channels.matrix.crisis_rooms:
            found.append("matrix")
        return found

    def _composition(self, composition: str, now: datetime) -> list[tuple[Function, str]]:
        cell = self.config.crisis.cells.get(composition)  # type: ignore[call-overload]
        if cell is None:
            return []
        holders: dict[str, str | None] = {}
        if cell.roster is not None and cell.roster in self.ctx.schedules:
            holders = self.ctx.schedules[cell.roster].on_call(now).holders
        found: list[tuple[Function, str]] = []
        for function, targets in cell.functions.items():
            for target in targets:
                person_id = holders.get(target) if target in LEVELS else target
                if person_id is not None and (function, person_id) not in found:
                    found.append((function, person_id))
        return found

    def _extra_members(self, composition: str) -> list[str]:
        cell = self.config.crisis.cells.get(composition)  # type: ignore[call-overload]
        return list(cell.members) if cell is not None else []

    def _holders_text(self, holders: list[tuple[Function, str]]) -> str:
        return " ; ".join(f"{self.label(f)} : {self.ctx.name(p)}" for f, p in holders)

    def _call(
        self,
        session: AsyncSession,
        crisis: CrisisRow,
        person_id: str,
        holders: list[tuple[Function, str]],
        now: datetime,
    ) -> None:
        theirs = [self.label(f) for f, p in holders if p == person_id]
        role = t("crisis.call.role", self.lang, functions=", ".join(theirs)) if theirs else ""
        banner = t("exercise.banner", self.lang) if crisis.is_exercise else ""
        text = t(
            "crisis.call",
            self.lang,
            banner=banner,
            reference=crisis.reference,
            title=crisis.title,
            opener=self.ctx.name(crisis.opened_by),
            role=role,
        )
        notify(
            session,
            self.ctx,
            person_id,
            text,
            kind="crisis_call",
            signal_id=None,
            key=f"crisis:{crisis.reference}:call",
            now=now,
            data={
                "reference": crisis.reference,
                "title": crisis.title,
                "exercise": crisis.is_exercise,
                "actions": [{"id": "join", "label": t("crisis.action.join", self.lang)}],
            },
        )

    async def system_entry(
        self, session: AsyncSession, crisis: CrisisRow, text: str, now: datetime, *, announce: bool = True
    ) -> EntryRow:
        """What Vigie did, in the main courante; ``announce``: also posted in the crisis's rooms
        (through the outbox: retried while a room is unreachable)."""
        entry, _ = await store.append(
            session,
            crisis,
            EntryDraft(text=text, origin="system", author_label="Vigie", kind=EntryKind.SYSTEME),
            now,
        )
        if announce:
            await self.post_in_rooms(session, crisis, text, now, key=f"room:entry:{entry.number}")
        return entry

    async def _check_armed(self, session: AsyncSession, crisis: CrisisRow, now: datetime) -> None:
        """Armed: décision and pilotage are both held by people who have joined."""
        if crisis.armed_at is not None:
            return
        assert crisis.id is not None
        joined = {m.person_id for m in await store.members(session, crisis.id) if m.joined_at is not None}
        held = {f.function for f in await store.functions(session, crisis.id) if f.person_id in joined}
        if {Function.DECISION.value, Function.PILOTAGE.value} <= held:
            crisis.armed_at = now
            session.add(crisis)
            await self.system_entry(
                session, crisis, t("crisis.entry.armed", self.lang, time=self.ctx.local(now)), now
            )
            if not await store.points(session, crisis.id):  # unless « /point prochain » set it
                due = timers.first_due(self.config.crisis, crisis, now)
                await timers.plan_point(session, self.config.crisis, crisis, 1, due, now)
            text = t(
                "crisis.armed",
                self.lang,
                reference=crisis.reference,
                title=crisis.title,
                time=self.ctx.local(now),
            )
            for person_id in dict.fromkeys(self.config.crisis.inform):
                notify(
                    session,
                    self.ctx,
                    person_id,
                    text,
                    kind="crisis_armed",
                    signal_id=None,
                    key=f"crisis:{crisis.reference}:armed",
                    now=now,
                )

    # --- members and functions -------------------------------------------------------

    async def join(self, person_id: str, reference: str, via: str) -> CellReply:
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            crisis = await self.locked(session, reference)
            assert crisis.id is not None
            member = next(
                (m for m in await store.members(session, crisis.id) if m.person_id == person_id), None
            )
            if member is None:
                member = CrisisMemberRow(crisis_id=crisis.id, person_id=person_id, called_at=now)
            if member.joined_at is not None:
                return CellReply(
                    t("crisis.already_joined", self.lang, reference=crisis.reference),
                    changed=False,
                    reference=crisis.reference,
                )
            member.joined_at, member.joined_via = now, via
            session.add(member)
            await session.flush()
            await self.system_entry(
                session,
                crisis,
                t("crisis.entry.joined", self.lang, name=self.ctx.name(person_id), via=via),
                now,
            )
            await self._check_armed(session, crisis, now)
        return CellReply(
            t("crisis.joined", self.lang, reference=crisis.reference, title=crisis.title),
            changed=True,
            reference=crisis.reference,
        )

    async def assign(self, by: str, reference: str, function: Function, person_id: str | None) -> CellReply:
        """Give a function to someone (``None``: free it). Only décision, pilotage or the opener."""
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            crisis = await self.locked(session, reference)
            assert crisis.id is not None
            current = await store.functions(session, crisis.id)
            mine = {f.function for f in current if f.person_id == by}
            if by != crisis.opened_by and not mine & {Function.DECISION.value, Function.PILOTAGE.value}:
                raise CellError("forbidden", t("crisis.assign_refused", self.lang, name=self.ctx.name(by)))
            holding = [f for f in current if f.function == function.value]
            if person_id is None:
                if not holding:
                    return CellReply(t("crisis.function_vacant", self.lang, function=self.label(function)))
                for row in holding:
                    row.until = now
                    session.add(row)
                if function in (Function.DECISION, Function.PILOTAGE):
                    crisis.vacancy_check_at = now + self.config.crisis.vacant_reminder
                    session.add(crisis)
                text = t(
                    "crisis.entry.freed", self.lang, function=self.label(function), name=self.ctx.name(by)
                )
            else:
                if any(f.person_id == person_id for f in holding):
                    return CellReply(
                        t(
                            "crisis.already_holds",
                            self.lang,
                            name=self.ctx.name(person_id),
                            function=self.label(function),
                        )
                    )
                for row in holding:  # one holder a function; a person may hold several
                    row.until = now
                    session.add(row)
                session.add(
                    CrisisFunctionRow(
                        crisis_id=crisis.id,
                        function=function.value,
                        person_id=person_id,
                        since=now,
                        assigned_by=by,
                    )
                )
                members = {m.person_id for m in await store.members(session, crisis.id)}
                if person_id not in members:
                    session.add(CrisisMemberRow(crisis_id=crisis.id, person_id=person_id, called_at=now))
                    self._call(session, crisis, person_id, [(function, person_id)], now)
                text = t(
                    "crisis.entry.assigned",
                    self.lang,
                    function=self.label(function),
                    name=self.ctx.name(person_id),
                    by=self.ctx.name(by),
                )
            await session.flush()
            entry = await self.system_entry(session, crisis, text, now)
            # The room's topic shows who holds what.
            topic = await self.topic(session, crisis)
            held = await store.functions(session, crisis.id)
            await self.post_in_rooms(
                session,
                crisis,
                topic,
                now,
                kind="room_topic",
                key=f"topic:{entry.number}",
                moderators=moderators(crisis, held),
            )
            await self._check_armed(session, crisis, now)
        return CellReply(text, changed=True, reference=crisis.reference)

    async def holders(self, session: AsyncSession, crisis: CrisisRow, *functions: Function) -> list[str]:
        """Who holds these functions now, in that order of functions, each person once."""
        assert crisis.id is not None
        held = await store.functions(session, crisis.id)
        found = [f.person_id for function in functions for f in held if f.function == function.value]
        return list(dict.fromkeys(found))

    async def require_lead(
        self, session: AsyncSession, crisis: CrisisRow, person_id: str, action_key: str
    ) -> None:
        """Décision or pilotage of this crisis, or refused with who holds them."""
        assert crisis.id is not None
        held = await store.functions(session, crisis.id)
        lead = [f for f in held if f.function in (Function.DECISION.value, Function.PILOTAGE.value)]
        if any(f.person_id == person_id for f in lead):
            return
        holders = self.functions_text(lead) or t("point.holders_none", self.lang)
        raise CellError(
            "forbidden", t("point.refused", self.lang, action=t(action_key, self.lang), holders=holders)
        )

    async def roles_text(self, reference: str) -> str:
        async with self.db.read_session() as session:
            crisis = await self.crisis_named(session, reference)
            assert crisis.id is not None
            held = await store.functions(session, crisis.id)
            joined = {m.person_id: m.joined_at for m in await store.members(session, crisis.id)}
        lines = [t("crisis.roles.head", self.lang, reference=crisis.reference, title=crisis.title)]
        for function in CELL_FUNCTIONS:
            names = [
                self.ctx.name(f.person_id)
                + ("" if joined.get(f.person_id) else t("crisis.roles.not_joined", self.lang))
                for f in held
                if f.function == function.value
            ]
            lines.append(
                f"  {self.label(function):<26} {', '.join(names) or t('crisis.roles.vacant', self.lang)}"
            )
        return "\n".join(lines)

    async def remind_vacancies(self) -> int:
        """Décision or pilotage still vacant: remind the opener and the duty officers, again
        every ``crisis.vacant_reminder``, until both are held. Durable (a due time in the crisis
        row) and claimed, so that a restart loses no reminder and two instances send one."""
        now = self.ctx.clock.now()
        sent = 0
        async with self.db.transaction() as session:
            stmt = (
                select(CrisisRow)
                .where(CrisisRow.state == CrisisState.OPEN.value, col(CrisisRow.vacancy_check_at) <= now)
                .order_by(col(CrisisRow.id))
                .limit(20)
            )
            if self.db.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            for crisis in (await session.exec(stmt)).all():
                assert crisis.id is not None
                held = {f.function for f in await store.functions(session, crisis.id)}
                vacant = [f for f in (Function.DECISION, Function.PILOTAGE) if f.value not in held]
                if not vacant:
                    crisis.vacancy_check_at = None
                    session.add(crisis)
                    continue
                names = " et ".join(self.label(f) for f in vacant)
                text = t(
                    "crisis.vacant",
                    self.lang,
                    reference=crisis.reference,
                    title=crisis.title,
                    functions=names,
                    since=self.ctx.local(crisis.opened_at),
                    first=self.label(vacant[0]),
                )
                for person_id in dict.fromkeys([crisis.opened_by, *self.config.officers()]):
                    notify(
                        session,
                        self.ctx,
                        person_id,
                        text,
                        kind="crisis_vacant",
                        signal_id=None,
                        key=f"crisis:{crisis.reference}:vacant:{now.isoformat()}",
                        now=now,
                    )
                await self.system_entry(
                    session, crisis, t("crisis.entry.vacant", self.lang, functions=names), now
                )
                crisis.vacancy_check_at = now + self.config.crisis.vacant_reminder
                session.add(crisis)
                sent += 1
        return sent

    # --- the main courante ------------------------------------------------------------

    async def log(self, reference: str, draft: EntryDraft) -> tuple[EntryRow, bool]:
        """One entry (group-committed with the others arriving at the same time)."""
        try:
            return await self._writer.append(reference, draft)
        except CrisisUnavailable as exc:
            key = "crisis.not_found" if exc.code == "not_found" else "crisis.closed"
            raise CellError(exc.code, t(key, self.lang, reference=exc.reference)) from None

    async def echo(self, reference: str, text: str, *, skip: str | None = None) -> None:
        """Post in the crisis's rooms (but ``skip``'s platform) what reached the main courante
        another way: an SMS, a mail, a message of the other room."""
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            crisis = await self.crisis_named(session, reference)
            await self.post_in_rooms(session, crisis, text, now, skip=skip)

    async def post_in_rooms(
        self,
        session: AsyncSession,
        crisis: CrisisRow,
        text: str,
        now: datetime,
        *,
        kind: str = "room_post",
        key: str | None = None,
        skip: str | None = None,
        mentions: list[str] | None = None,
        moderators: list[str] | None = None,
    ) -> int:
        """Through the outbox (retried while a room is unreachable, paced by the platform's rate
        limit); a room not made yet gets the state of things in its brief instead. ``mentions``:
        people the platform should notify (Slack ``<@U…>``, a Telegram mention); ``moderators``:
        who should moderate the room now (Matrix power levels). Returns how many rooms it went to."""
        assert crisis.id is not None
        banner = t("exercise.banner", self.lang).strip()
        if crisis.is_exercise and not text.startswith(banner):  # nobody takes a drill's post for real
            text = f"{banner} {text}"
        posted = 0
        for room in await store.rooms(session, crisis.id):
            if room.room_id is None or room.platform == skip or room.closed_at is not None:
                continue
            posted += 1
            enqueue(
                session,
                OutgoingMessage(
                    channel=room.platform,
                    kind=kind,
                    text=text,
                    recipient_address=room.room_id,
                    idempotency_key=f"{key}:{room.id}" if key else None,
                    data={
                        "reference": crisis.reference,
                        "room": True,
                        "mentions": mentions or [],
                        "moderators": moderators or [],
                        "exercise": crisis.is_exercise,
                    },
                ),
                now=now,
            )
        return posted

    def functions_text(self, held: list[CrisisFunctionRow]) -> str:
        """« décision : Chloé Bernard ; pilotage : Alice Martin » (empty when none is held)."""
        return " ; ".join(f"{self.label(f.function)} : {self.ctx.name(f.person_id)}" for f in held)

    def topic_line(self, crisis: CrisisRow, functions: str) -> str:
        """The room's topic: the reference, the title, who holds what."""
        line = t(
            "crisis.topic",
            self.lang,
            reference=crisis.reference,
            title=crisis.title,
            functions=functions or "—",
        )
        return line[:250]

    async def topic(self, session: AsyncSession, crisis: CrisisRow) -> str:
        assert crisis.id is not None
        return self.topic_line(crisis, self.functions_text(await store.functions(session, crisis.id)))

    async def done(self, reference: str, number: int, draft: EntryDraft) -> CellReply:
        """``/fait n°``: an action is done (a new entry that refers to it)."""
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            crisis = await self.locked(session, reference)
            assert crisis.id is not None
            action = await store.entry(session, crisis.id, number)
            if action is None or action.kind not in (EntryKind.ACTION.value, EntryKind.DEMANDE.value):
                raise CellError("not_found", t("crisis.no_such_action", self.lang, number=number))
            if action.kind == EntryKind.DEMANDE.value:  # a demande answered: no longer a need
                note = draft.text.partition(" : ")[2]
                text = t("crisis.entry.answered", self.lang, number=number, note=f" : {note}" if note else "")
                draft = replace(draft, text=text)
            entry, _ = await store.append(session, crisis, draft, now)
        return CellReply(
            t("crisis.logged", self.lang, number=entry.number, kind=self._kind(entry)), changed=True
        )

    def _kind(self, entry: EntryRow) -> str:
        kind = EntryKind(entry.kind)
        return ENTRY_KIND_LABELS_FR[kind] if self.lang == "fr" else kind.value

    async def verify(self, reference: str, upto: int | None = None) -> tuple[CrisisRow, Verdict]:
        """The chain checked from the first entry (to ``upto`` only: its head is then the hash
        a point de situation was mailed with)."""
        async with self.db.read_session() as session:
            crisis = await self.crisis_named(session, reference)
            assert crisis.id is not None
            rows = await store.entry_rows(session, crisis.id)
        if upto is not None:
            rows = [e for e in rows if e.number <= upto]
        return crisis, verify(crisis.reference, rows)

    # --- which crisis -----------------------------------------------------------------

    async def which(self, person_id: str, text: str, room: tuple[str, str] | None) -> str:
        """The crisis a command is about: the room it is typed in, a reference in it, or the
        person's only open crisis."""
        if room is not None:
            async with self.db.read_session() as session:
                crisis = await store.crisis_of_room(session, *room)
            if crisis is not None:
                return crisis.reference
        named = store.parse_crisis_reference(text, self.prefix)
        if named is not None:
            return named
        async with self.db.read_session() as session:
            theirs = await store.open_crises_of(session, person_id)
        if len(theirs) == 1:
            return theirs[0].reference
        raise CellError("crisis_needed", t("crisis.which", self.lang, prefix=self.prefix))

    async def crisis_named(self, session: AsyncSession, reference: str) -> CrisisRow:
        crisis = await store.get_crisis(session, reference)
        if crisis is None:
            raise CellError("not_found", t("crisis.not_found", self.lang, reference=reference))
        return crisis

    async def locked(self, session: AsyncSession, reference: str) -> CrisisRow:
        crisis = await store.lock_crisis(session, self.db, reference)
        if crisis is None:
            raise CellError("not_found", t("crisis.not_found", self.lang, reference=reference))
        if crisis.state != CrisisState.OPEN.value:
            raise CellError("closed", t("crisis.closed", self.lang, reference=crisis.reference))
        return crisis
