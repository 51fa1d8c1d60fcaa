"""The debriefs (RETEX, seed 001 §4). Hot, at closure: each member who joined the cell is asked
the configured questions on their own channel — one at a time in chat (answered by replying to
the question, or ``/retex <réponse>``; SMS « RETEX <réponse> »), all at once in a signed form by
e-mail — until ``crisis.retex.hot_deadline``. Cold, ``crisis.retex.cold_after`` later: the desk
managers are reminded, with a pre-filled document (the event, its timeline from the main
courante, the hot answers by question, and the sections the cold debrief fills in).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.crisis import store, timers
from bot.crisis.cell import CellError, CellReply, CrisisCell
from bot.crisis.documents import text_pdf
from bot.crisis.models import (
    CrisisPointRow,
    CrisisRow,
    CrisisState,
    CrisisTimerRow,
    EntryKind,
    PointState,
    RetexAnswerRow,
    RetexMemberRow,
)
from bot.domain import FUNCTION_LABELS_FR, Function
from bot.texts import t
from escalation.paging import notify

FORMATS = ("md", "pdf", "json")
SKIP_WORDS = {"passer", "skip", "-"}


class Retex:
    def __init__(self, cell: CrisisCell) -> None:
        self.cell, self.config, self.db, self.ctx = cell, cell.config, cell.db, cell.ctx

    @property
    def lang(self) -> str:
        return self.cell.lang

    @property
    def questions(self) -> list[str]:
        return list(self.config.crisis.retex.questions)

    # --- hot ------------------------------------------------------------------------------

    async def start(self, session: AsyncSession, crisis: CrisisRow, now: datetime) -> int:
        """At closure, in its transaction: every member who joined gets the first question."""
        assert crisis.id is not None
        cfg = self.config.crisis.retex
        crisis.retex_until = now + cfg.hot_deadline
        session.add(crisis)
        timers.schedule(session, crisis.id, timers.RETEX_COLD, now + cfg.cold_after, now)
        asked = 0
        for member in await store.members(session, crisis.id):
            if member.joined_at is None:
                continue
            row = RetexMemberRow(crisis_id=crisis.id, person_id=member.person_id, asked_at=now)
            session.add(row)
            self._ask(session, crisis, member.person_id, 1, now)
            asked += 1
        return asked

    def _ask(
        self, session: AsyncSession, crisis: CrisisRow, person_id: str, index: int, now: datetime
    ) -> None:
        questions = self.questions
        assert crisis.retex_until is not None
        values = {
            "banner": t("exercise.banner", self.lang) if crisis.is_exercise else "",
            "reference": crisis.reference,
            "title": crisis.title,
            "index": index,
            "total": len(questions),
            "question": questions[index - 1],
            "until": self.ctx.local(crisis.retex_until, "%d/%m %H:%M"),
        }
        rows = notify(
            session,
            self.ctx,
            person_id,
            t("retex.question", self.lang, **values),
            kind="retex_question",
            signal_id=None,
            key=f"retex:{crisis.reference}:{index}",
            now=now,
            data={
                "reference": crisis.reference,
                "title": crisis.title,
                "exercise": crisis.is_exercise,
                "question": index,
                "questions": questions,
                "until": values["until"],
            },
        )
        for row in rows:
            if row.channel == "sms":  # short, and no reply-to on SMS
                row.text = t("retex.question_sms", self.lang, **values)

    def question_of(self, replied_text: str | None) -> tuple[str, int] | None:
        """The crisis and question number a chat reply answers (the question's own text)."""
        if not replied_text:
            return None
        prefix = re.escape(self.config.crisis.reference_prefix)
        found = re.search(rf"\b({prefix}-\d{{4}}-\d+)\b.*?\b(\d+)/\d+", replied_text, re.S)
        if found is None or ("RETEX" not in replied_text.upper() and "DEBRIEF" not in replied_text.upper()):
            return None
        return found[1].upper(), int(found[2])

    async def answer(
        self,
        person_id: str,
        text: str,
        via: str,
        *,
        reference: str | None = None,
        question: int | None = None,
    ) -> CellReply:
        """One answer: to ``question`` of ``reference`` (a reply), else to the person's next
        question in their newest open RETEX. The next question follows."""
        now = self.ctx.clock.now()
        body = text.strip()
        async with self.db.transaction() as session:
            # One person's answers one after the other: three /retex sent in a row, handled at
            # once on PostgreSQL, each read the same next question and asked the following twice.
            await self.db.serialize(session, f"retex:{person_id}")
            member, crisis = await self._member(session, person_id, reference)
            if member is None or crisis is None:
                return CellReply(t("retex.none", self.lang), ok=False, code="no_retex")
            assert crisis.retex_until is not None and crisis.id is not None
            if now > crisis.retex_until:
                until = self.ctx.local(crisis.retex_until, "%d/%m %H:%M")
                return CellReply(
                    t("retex.over", self.lang, reference=crisis.reference, until=until), ok=False
                )
            index = question or member.next_question
            total = len(self.questions)
            if not 1 <= index <= total:
                return CellReply(t("retex.none", self.lang), ok=False, code="no_retex")
            if body.lower() not in SKIP_WORDS and body:
                session.add(
                    RetexAnswerRow(
                        crisis_id=crisis.id,
                        person_id=person_id,
                        question=index,
                        text=body[:4000],
                        at=now,
                        via=via,
                    )
                )
            if index >= member.next_question:
                member.next_question = index + 1
                if member.next_question > total:
                    member.finished_at = now
                else:
                    self._ask(session, crisis, person_id, member.next_question, now)
                session.add(member)
            done = member.finished_at is not None
        if done:
            return CellReply(t("retex.thanks", self.lang, reference=crisis.reference), changed=True)
        return CellReply(t("retex.recorded", self.lang, index=index, total=total), changed=True)

    async def answer_form(
        self, person_id: str, reference: str, answers: dict[int, str], via: str = "email"
    ) -> CellReply:
        """The e-mail form: every question at once (an empty field is a question passed)."""
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            await self.db.serialize(session, f"retex:{person_id}")
            member, crisis = await self._member(session, person_id, reference, finished_too=True)
            if member is None or crisis is None:
                raise CellError("no_retex", t("retex.none", self.lang))
            assert crisis.retex_until is not None and crisis.id is not None
            if now > crisis.retex_until:
                until = self.ctx.local(crisis.retex_until, "%d/%m %H:%M")
                raise CellError("over", t("retex.over", self.lang, reference=crisis.reference, until=until))
            for index, text in sorted(answers.items()):
                if 1 <= index <= len(self.questions) and text.strip():
                    session.add(
                        RetexAnswerRow(
                            crisis_id=crisis.id,
                            person_id=person_id,
                            question=index,
                            text=text.strip()[:4000],
                            at=now,
                            via=via,
                        )
                    )
            member.next_question, member.finished_at = len(self.questions) + 1, now
            session.add(member)
        return CellReply(t("retex.thanks", self.lang, reference=crisis.reference), changed=True)

    async def _member(
        self, session: AsyncSession, person_id: str, reference: str | None, *, finished_too: bool = False
    ) -> tuple[RetexMemberRow | None, CrisisRow | None]:
        stmt = (
            select(RetexMemberRow, CrisisRow)
            .join(CrisisRow, col(CrisisRow.id) == col(RetexMemberRow.crisis_id))
            .where(RetexMemberRow.person_id == person_id)
            .order_by(col(RetexMemberRow.id).desc())
        )
        if reference is not None:
            stmt = stmt.where(CrisisRow.reference == reference.upper())
        elif not finished_too:
            stmt = stmt.where(col(RetexMemberRow.finished_at).is_(None))
        found = (await session.exec(stmt)).first()
        return (found[0], found[1]) if found else (None, None)

    # --- cold -----------------------------------------------------------------------------

    async def on_timer(
        self, session: AsyncSession, crisis: CrisisRow, timer: CrisisTimerRow, now: datetime
    ) -> None:
        doc = await self.document_in(session, crisis)
        text = t(
            "retex.cold",
            self.lang,
            reference=crisis.reference,
            title=crisis.title,
            closed=self.ctx.local(crisis.closed_at or now, "%d/%m/%Y"),
        )
        attachment = {
            "filename": f"{crisis.reference}-retex.pdf",
            "content_type": "application/pdf",
            "base64": base64.b64encode(doc.pdf()).decode(),
        }
        managers = [p.id for p in self.config.people if Function.RESPONSABLE in p.functions]
        for person_id in dict.fromkeys(managers or self.config.officers()):
            notify(
                session,
                self.ctx,
                person_id,
                text,
                kind="retex_cold",
                signal_id=None,
                key=f"retex:{crisis.reference}:cold",
                now=now,
                data={"reference": crisis.reference, "attachments": [attachment]},
            )

    # --- the document ---------------------------------------------------------------------

    async def document(self, reference: str) -> RetexDocument:
        async with self.db.read_session() as session:
            crisis = await self.cell.crisis_named(session, reference)
            return await self.document_in(session, crisis)

    async def document_in(self, session: AsyncSession, crisis: CrisisRow) -> RetexDocument:
        assert crisis.id is not None
        answers = list(
            (
                await session.exec(
                    select(RetexAnswerRow)
                    .where(RetexAnswerRow.crisis_id == crisis.id)
                    .order_by(col(RetexAnswerRow.question), col(RetexAnswerRow.id))
                )
            ).all()
        )
        asked = list(
            (await session.exec(select(RetexMemberRow).where(RetexMemberRow.crisis_id == crisis.id))).all()
        )
        return RetexDocument(
            crisis=crisis,
            signals=[f"{s.reference} « {s.title} »" for s in await store.signals_of(session, crisis.id)],
            functions=[
                (f.function, f.person_id, f.since, f.until)
                for f in await store.functions(session, crisis.id, current=False)
            ],
            points=[
                p for p in await store.points(session, crisis.id) if p.state == PointState.VALIDATED.value
            ],
            decisions=[
                (e.at, e.number, e.text, e.author_label)
                for e in await store.entry_rows(session, crisis.id)
                if e.kind == EntryKind.DECISION.value
            ],
            questions=self.questions,
            answers=[(a.question, a.person_id, a.text) for a in answers],
            asked=len(asked),
            names={p.id: p.name for p in self.config.people},
            zone=self.ctx.zone,
        )


@dataclass
class RetexDocument:
    crisis: CrisisRow
    signals: list[str]
    functions: list[tuple[str, str, datetime, datetime | None]]
    points: list[CrisisPointRow]
    decisions: list[tuple[datetime, int, str, str]]
    questions: list[str]
    answers: list[tuple[int, str, str]]
    asked: int
    names: dict[str, str]
    zone: object

    def at(self, when: datetime | None) -> str:
        return when.astimezone(self.zone).strftime("%d/%m/%Y %H:%M") if when else "—"  # type: ignore[arg-type]

    def name(self, person_id: str | None) -> str:
        return self.names.get(person_id or "", person_id or "—")

    def timeline(self) -> list[tuple[datetime, str]]:
        c = self.crisis
        events: list[tuple[datetime, str]] = [(c.opened_at, f"Crise ouverte par {self.name(c.opened_by)}")]
        if c.armed_at:
            events.append((c.armed_at, "Cellule armée (décision et pilotage présents)"))
        for change in c.phase_history:
            when = datetime.fromisoformat(str(change["at"]))
            events.append((when, f"Phase {change['phase']} ({self.name(change.get('by'))})"))
        for p in self.points:
            assert p.validated_at is not None
            late = int((p.validated_at - p.due_at).total_seconds() // 60)
            lateness = f", {late} min de retard" if late > 0 else ""
            kind = "Point de sortie de crise" if p.final else "Point de situation"
            events.append(
                (
                    p.validated_at,
                    f"{kind} n° {p.number} validé par {self.name(p.validated_by)} "
                    f"(prévu {self.at(p.due_at)[-5:]}{lateness})",
                )
            )
        for at, number, text, author in self.decisions:
            events.append((at, f"Décision (entrée n° {number}) : {text} ({author})"))
        if c.closed_at:
            reason = f" : {c.closing_reason}" if c.closing_reason else ""
            events.append((c.closed_at, f"Crise close par {self.name(c.closed_by)}{reason}"))
        return sorted(events, key=lambda e: e[0])

    def markdown(self) -> str:
        c = self.crisis
        lines = [f"# RETEX — {c.reference} « {c.title} »", ""]
        if c.is_exercise:
            lines += ["EXERCICE EXERCICE EXERCICE", ""]
        state = "close" if c.state == CrisisState.CLOSED.value else "en cours"
        lines += [
            "## Description de l'événement",
            "",
            f"- Crise ouverte le {self.at(c.opened_at)} par {self.name(c.opened_by)} ; "
            f"plan ORSAN : {c.plan or '—'} ; composition {c.composition} ; {state}.",
            f"- Signaux à l'origine : {', '.join(self.signals) or 'aucun'}.",
            f"- Cellule armée : {self.at(c.armed_at)} ; close : {self.at(c.closed_at)}"
            + (f" ({c.closing_reason})" if c.closing_reason else "")
            + ".",
            f"- Points de situation validés : {len(self.points)}.",
            "- Fonctions tenues :",
        ]
        for function, person_id, since, until in self.functions:
            label = FUNCTION_LABELS_FR.get(Function(function), function)
            lines.append(
                f"  - {label} : {self.name(person_id)} "
                f"({self.at(since)} → {self.at(until) if until else 'fin'})"
            )
        lines += ["", "## Chronologie", ""]
        lines += [f"- {self.at(when)} — {what}" for when, what in self.timeline()]
        people = {p for _, p, _ in self.answers}
        lines += [
            "",
            f"## RETEX à chaud — {len(people)} répondant(s) sur {self.asked} membre(s) interrogé(s)",
            "",
        ]
        for index, question in enumerate(self.questions, start=1):
            lines.append(f"### {index}. {question}")
            given = [(p, text) for q, p, text in self.answers if q == index]
            lines += [f"- {self.name(p)} : {text}" for p, text in given] or ["- (pas de réponse)"]
            lines.append("")
        for heading in ("Points forts", "Points faibles", "Enseignements"):
            lines += [f"## {heading}", "", "- À compléter", ""]
        lines += [
            "## Actions d'amélioration (responsable, échéance)",
            "",
            "- Action : … — Responsable : … — Échéance : …",
            "",
        ]
        return "\n".join(lines)

    def pdf(self) -> bytes:
        return text_pdf(f"RETEX {self.crisis.reference}", self.markdown())

    def as_dict(self) -> dict[str, object]:
        return {
            "reference": self.crisis.reference,
            "title": self.crisis.title,
            "timeline": [{"at": w.astimezone(self.zone).isoformat(), "event": e} for w, e in self.timeline()],  # type: ignore[arg-type]
            "questions": [
                {
                    "question": q,
                    "answers": [
                        {"person": p, "name": self.name(p), "text": x} for i, p, x in self.answers if i == n
                    ],
                }
                for n, q in enumerate(self.questions, start=1)
            ],
            "asked": self.asked,
            "markdown": self.markdown(),
        }
