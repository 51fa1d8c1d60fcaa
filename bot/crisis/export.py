"""The main courante, exported: CSV (one line an entry), JSON (everything), PDF (a cover with the
crisis, its members and functions and the chain's verification, then the main courante, the
decisions and the actions). Times are the desk's, with their offset."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.crisis import store
from bot.crisis.chain import Verdict, verify
from bot.crisis.models import (
    ENTRY_KIND_LABELS_FR,
    CrisisFunctionRow,
    CrisisMemberRow,
    CrisisRow,
    EntryKind,
    EntryRow,
)
from bot.domain import FUNCTION_LABELS_FR, Function
from bot.models import SignalRow

FORMATS = ("pdf", "csv", "json")
CSV_COLUMNS = (
    "numero",
    "heure",
    "auteur",
    "hors_annuaire",
    "origine",
    "type",
    "texte",
    "destinataire",
    "responsable",
    "echeance",
    "se_rapporte_a",
    "pieces_jointes",
    "empreinte",
)


@dataclass(frozen=True)
class CrisisRecord:
    crisis: CrisisRow
    signals: list[SignalRow]
    members: list[CrisisMemberRow]
    functions: list[CrisisFunctionRow]  # the whole history
    entries: list[EntryRow]
    verdict: Verdict
    names: dict[str, str]  # person id → name
    zone: ZoneInfo

    def local(self, when: datetime | None) -> str:
        return when.astimezone(self.zone).isoformat(timespec="seconds") if when else ""

    def short(self, when: datetime | None) -> str:
        return when.astimezone(self.zone).strftime("%d/%m %H:%M") if when else ""

    def name(self, person_id: str | None) -> str:
        return self.names.get(person_id or "", person_id or "")

    def action_state(self, action: EntryRow, now: datetime) -> str:
        if any(e.kind == EntryKind.FAIT.value and e.refers_to == action.number for e in self.entries):
            return "faite"
        if action.due_at is not None and action.due_at < now:
            return "en retard"
        return "en cours"


async def load_record(
    session: AsyncSession, reference: str, names: dict[str, str], zone: ZoneInfo
) -> CrisisRecord | None:
    crisis = await store.get_crisis(session, reference)
    if crisis is None:
        return None
    assert crisis.id is not None
    entries = await store.entry_rows(session, crisis.id)
    return CrisisRecord(
        crisis=crisis,
        signals=await store.signals_of(session, crisis.id),
        members=await store.members(session, crisis.id),
        functions=await store.functions(session, crisis.id, current=False),
        entries=entries,
        verdict=verify(crisis.reference, entries),
        names=names,
        zone=zone,
    )


def entry_dict(e: EntryRow, zone: ZoneInfo) -> dict[str, Any]:
    """An entry as the JSON export and the HTTP API give it (times in the desk's zone)."""

    def local(when: datetime | None) -> str | None:
        return when.astimezone(zone).isoformat(timespec="seconds") if when else None

    return {
        "number": e.number,
        "at": local(e.at),
        "author": e.author_label,
        "author_id": e.author_id,
        "external": e.external,
        "origin": e.origin,
        "kind": e.kind,
        "text": e.text,
        "attachments": e.attachments,
        "recipient": e.recipient,
        "owner": e.owner,
        "due_at": local(e.due_at),
        "refers_to": e.refers_to,
        "hash": e.hash,
    }


def _kind(entry: EntryRow) -> str:
    return ENTRY_KIND_LABELS_FR.get(EntryKind(entry.kind), entry.kind)


def to_csv(record: CrisisRecord) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")  # what a French spreadsheet opens without asking
    writer.writerow(CSV_COLUMNS)
    for e in record.entries:
        writer.writerow(
            (
                e.number,
                record.local(e.at),
                e.author_label,
                "oui" if e.external else "non",
                e.origin,
                _kind(e),
                e.text,
                e.recipient or "",
                e.owner or "",
                record.local(e.due_at),
                e.refers_to or "",
                ", ".join(a.get("name", "") for a in e.attachments),
                e.hash,
            )
        )
    return ("\ufeff" + out.getvalue()).encode()  # BOM: Excel reads the accents as UTF-8


def to_json(record: CrisisRecord) -> bytes:
    c = record.crisis
    data: dict[str, Any] = {
        "reference": c.reference,
        "title": c.title,
        "plan": c.plan,
        "phase": c.phase,
        "composition": c.composition,
        "state": c.state,
        "exercise": c.is_exercise,
        "opened_at": record.local(c.opened_at),
        "opened_by": c.opened_by,
        "armed_at": record.local(c.armed_at) or None,
        "closed_at": record.local(c.closed_at) or None,
        "signals": [s.reference for s in record.signals],
        "members": [
            {
                "person": m.person_id,
                "name": record.name(m.person_id),
                "called_at": record.local(m.called_at),
                "joined_at": record.local(m.joined_at) or None,
                "joined_via": m.joined_via,
            }
            for m in record.members
        ],
        "functions": [
            {
                "function": f.function,
                "person": f.person_id,
                "since": record.local(f.since),
                "until": record.local(f.until) or None,
                "assigned_by": f.assigned_by,
            }
            for f in record.functions
        ],
        "verification": {
            "ok": record.verdict.ok,
            "entries": record.verdict.count,
            "head": record.verdict.head,
            "problem": record.verdict.problem,
        },
        "entries": [entry_dict(e, record.zone) for e in record.entries],
    }
    return json.dumps(data, ensure_ascii=False, indent=1).encode()


def latin(text: str) -> str:
    """The standard PDF fonts hold Windows-1252: French, « », œ, € — anything else becomes ?"""
    return text.encode("cp1252", "replace").decode("cp1252")


def to_pdf(record: CrisisRecord, now: datetime) -> bytes:
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        LongTable,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7.5, leading=9)
    body = styles["BodyText"]

    def p(text: str, style: Any = small) -> Paragraph:
        return Paragraph(escape(latin(text)).replace("\n", "<br/>"), style)

    def cell(text: str, fits: int) -> Any:
        """A plain string when it fits on one line (drawn directly: a hundred thousand rows stay
        fast), a wrapping paragraph otherwise."""
        return latin(text) if len(text) <= fits and "\n" not in text else p(text)

    c = record.crisis
    v = record.verdict
    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("FONTNAME", (0, 0), (-1, -1), "Helvetica"),
            ("FONTSIZE", (0, 0), (-1, -1), 7.5),
            ("LEADING", (0, 0), (-1, -1), 9),
        ]
    )
    story: list[Any] = [
        p(
            f"{'EXERCICE EXERCICE EXERCICE — ' if c.is_exercise else ''}Main courante {c.reference}",
            styles["Title"],
        ),
        p(c.title, styles["Heading2"]),
        p(
            f"Plan ORSAN : {c.plan or '—'} · Phase : {c.phase} · Composition : {c.composition} · "
            f"État : {c.state}",
            body,
        ),
        p(
            f"Ouverte le {record.short(c.opened_at)} par {record.name(c.opened_by)} · "
            f"armée : {record.short(c.armed_at) or '—'} · close : {record.short(c.closed_at) or '—'} "
            f"(heures de {record.zone.key})",
            body,
        ),
        p(
            f"Signaux : {', '.join(s.reference + ' « ' + s.title + ' »' for s in record.signals) or 'aucun'}",
            body,
        ),
        Spacer(1, 4 * mm),
        p(
            ("Chaîne d'empreintes vérifiée : " if v.ok else "CHAÎNE D'EMPREINTES ROMPUE : ")
            + (f"{v.count} entrées, empreinte de tête {v.head}" if v.ok else f"{v.problem}"),
            body,
        ),
        Spacer(1, 4 * mm),
        p("Membres", styles["Heading3"]),
    ]
    rows = [[p("Membre"), p("Appelé"), p("A rejoint"), p("Par")]]
    rows += [
        [
            p(record.name(m.person_id)),
            p(record.short(m.called_at)),
            p(record.short(m.joined_at) or "—"),
            p(m.joined_via or ""),
        ]
        for m in record.members
    ]
    story += [Table(rows, colWidths=[70 * mm, 40 * mm, 40 * mm, 30 * mm], style=grid, repeatRows=1)]
    story += [Spacer(1, 4 * mm), p("Fonctions (historique)", styles["Heading3"])]
    rows = [[p("Fonction"), p("Tenue par"), p("Depuis"), p("Jusqu'à"), p("Attribuée par")]]
    for f in record.functions:
        label = FUNCTION_LABELS_FR.get(Function(f.function), f.function)
        by = "configuration" if f.assigned_by == "config" else record.name(f.assigned_by)
        rows.append(
            [
                p(label),
                p(record.name(f.person_id)),
                p(record.short(f.since)),
                p(record.short(f.until) or "—"),
                p(by),
            ]
        )
    story += [Table(rows, colWidths=[45 * mm, 50 * mm, 28 * mm, 28 * mm, 45 * mm], style=grid, repeatRows=1)]

    story += [PageBreak(), p("Main courante", styles["Heading2"])]
    head = [p("N°"), p("Heure"), p("Auteur"), p("Origine"), p("Type"), p("Texte")]
    widths = [12 * mm, 30 * mm, 40 * mm, 18 * mm, 24 * mm, 143 * mm]
    chunk = 400  # several tables rather than one: reportlab splits a huge table slowly
    for start in range(0, max(len(record.entries), 1), chunk):
        rows = [head]
        for e in record.entries[start : start + chunk]:
            details = []
            if e.recipient:
                details.append(f"destinataire : {e.recipient}")
            if e.owner:
                details.append(f"responsable : {e.owner}")
            if e.due_at:
                details.append(f"échéance : {record.short(e.due_at)}")
            if e.refers_to:
                details.append(f"se rapporte à l'entrée n° {e.refers_to}")
            if e.attachments:
                details.append("pièces jointes : " + ", ".join(a.get("name", "?") for a in e.attachments))
            text = e.text + (f"\n({' ; '.join(details)})" if details else "")
            author = e.author_label + (" (hors annuaire)" if e.external else "")
            rows.append(
                [str(e.number), record.local(e.at), cell(author, 26), e.origin, _kind(e), cell(text, 100)]
            )
        story.append(LongTable(rows, colWidths=widths, style=grid, repeatRows=1))

    decisions = [e for e in record.entries if e.kind == EntryKind.DECISION.value]
    story += [PageBreak(), p("Décisions", styles["Heading2"])]
    rows = [[p("N°"), p("Heure"), p("Par"), p("Décision")]]
    rows += [[p(str(e.number)), p(record.short(e.at)), p(e.author_label), p(e.text)] for e in decisions]
    story.append(LongTable(rows, colWidths=[12 * mm, 25 * mm, 45 * mm, 185 * mm], style=grid, repeatRows=1))
    actions = [e for e in record.entries if e.kind == EntryKind.ACTION.value]
    story += [Spacer(1, 6 * mm), p("Actions", styles["Heading2"])]
    rows = [[p("N°"), p("Action"), p("Responsable"), p("Échéance"), p("État")]]
    rows += [
        [
            p(str(e.number)),
            p(e.text),
            p(e.owner or "—"),
            p(record.short(e.due_at) or "—"),
            p(record.action_state(e, now)),
        ]
        for e in actions
    ]
    story.append(
        LongTable(rows, colWidths=[12 * mm, 145 * mm, 50 * mm, 30 * mm, 30 * mm], style=grid, repeatRows=1)
    )

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(
            12 * mm, 7 * mm, latin(f"{c.reference} — page {doc.page} — tête de chaîne {v.head}")
        )
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"Main courante {c.reference}",
        author="Vigie",
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
