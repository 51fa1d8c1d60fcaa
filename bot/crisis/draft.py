"""A point de situation's text, drafted from the main courante (DOMAIN.md's template):
Situation · Bilan · Actions en cours · Décisions · Difficultés / besoins · Prévisions · Prochain
point. Actions, decisions and open demandes come from the typed entries; what Vigie cannot know
(the situation, the toll, the outlook) starts from the previous point's text, for the cell to
amend. Pure functions: the caller loads the entries and holds the clock.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.crisis.models import CrisisPointRow, CrisisRow, EntryKind, EntryRow

SECTIONS: tuple[str, ...] = (
    "situation",
    "bilan",
    "actions",
    "decisions",
    "besoins",
    "previsions",
    "prochain",
)
LABELS = {
    "fr": {
        "situation": "Situation",
        "bilan": "Bilan",
        "actions": "Actions en cours",
        "decisions": "Décisions",
        "besoins": "Difficultés / besoins",
        "previsions": "Prévisions",
        "prochain": "Prochain point",
    },
    "en": {
        "situation": "Situation",
        "bilan": "Toll",
        "actions": "Actions under way",
        "decisions": "Decisions",
        "besoins": "Difficulties / needs",
        "previsions": "Outlook",
        "prochain": "Next report",
    },
}
_ALIASES = {
    "difficultes": "besoins",
    "difficulte": "besoins",
    "besoin": "besoins",
    "needs": "besoins",
    "decision": "decisions",
    "action": "actions",
    "prevision": "previsions",
    "outlook": "previsions",
    "toll": "bilan",
    "next": "prochain",
    "suivant": "prochain",
}
# Sections Vigie writes from typed entries: the cell may still replace them.
FROM_ENTRIES = ("actions", "decisions", "besoins")
NEWS = {"fr": "Informations depuis le dernier point :", "en": "News since the last report:"}
PHASE_LABELS = {"aigue": "aiguë"}  # phases are slugs in the configuration


def phase_label(phase: str) -> str:
    return PHASE_LABELS.get(phase, phase)


TO_FILL = {"fr": "À compléter (/point {section} <texte>).", "en": "To fill in (/point {section} <text>)."}


def section_named(word: str) -> str | None:
    folded = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode().lower()
    plain = re.sub(r"[^a-z]", "", folded)
    return plain if plain in SECTIONS else _ALIASES.get(plain)


@dataclass(frozen=True)
class Drafting:
    """What a draft is made of."""

    crisis: CrisisRow
    point: CrisisPointRow
    previous: CrisisPointRow | None  # the last validated point
    entries: Sequence[EntryRow]  # the whole main courante, in order
    now: datetime
    next_at: datetime | None  # the point it announces (None: the last one)
    zone: Any
    lang: str = "fr"
    names: dict[str, str] | None = None

    def hm(self, when: datetime) -> str:
        local = when.astimezone(self.zone)
        same_day = local.date() == self.now.astimezone(self.zone).date()
        return local.strftime("%H:%M") if same_day else local.strftime("%d/%m %H:%M")


def answered(entries: Iterable[EntryRow]) -> set[int]:
    """Numbers of the actions done and the demandes answered (a « fait » refers to them)."""
    return {e.refers_to for e in entries if e.kind == EntryKind.FAIT.value and e.refers_to is not None}


def open_entries(entries: Sequence[EntryRow], kind: EntryKind) -> list[EntryRow]:
    done = answered(entries)
    return [e for e in entries if e.kind == kind.value and e.number not in done]


def action_line(d: Drafting, action: EntryRow) -> str:
    parts = [f"n° {action.number} {action.text}"]
    parts.append(action.owner or action.author_label)
    if action.due_at is not None:
        due = f"échéance {d.hm(action.due_at)}" if d.lang == "fr" else f"due {d.hm(action.due_at)}"
        if action.due_at <= d.now:
            due += " — EN RETARD" if d.lang == "fr" else " — LATE"
        parts.append(due)
    return " — ".join(parts)


def since_last(d: Drafting) -> list[EntryRow]:
    after = (d.previous.entry_number or 0) if d.previous is not None else 0
    return [e for e in d.entries if e.number > after]


def automatic(d: Drafting) -> dict[str, str]:
    """Every section as Vigie drafts it, before the cell's amendments."""
    fr = d.lang == "fr"
    recent = since_last(d)
    previous = d.previous.sections if d.previous is not None else {}
    actions = [action_line(d, a) for a in open_entries(d.entries, EntryKind.ACTION)]
    decisions = [
        f"n° {e.number} {d.hm(e.at)} {e.text} ({e.author_label})"
        for e in recent
        if e.kind == EntryKind.DECISION.value
    ]
    needs = [
        f"n° {e.number} {d.hm(e.at)} {e.text}"
        + (f" → {e.recipient}" if e.recipient else "")
        + (" — sans réponse" if fr else " — unanswered")
        for e in open_entries(d.entries, EntryKind.DEMANDE)
    ]
    news = [
        f"n° {e.number} {d.hm(e.at)} {e.author_label} : {e.text}"
        for e in recent
        if e.kind == EntryKind.INFORMATION.value
    ][-10:]
    # The previous point's situation, without the news it listed (they were news then).
    situation = str(previous.get("situation") or "").split(f"\n{NEWS[d.lang if d.lang in NEWS else 'fr']}")[0]
    if not situation:
        signals = d.crisis.title + (f" (plan ORSAN {d.crisis.plan})" if d.crisis.plan else "")
        situation = (
            f"{signals}. Phase : {phase_label(d.crisis.phase)}."
            if fr
            else f"{signals}. Phase: {d.crisis.phase}."
        )
    if news:
        heading = NEWS[d.lang if d.lang in NEWS else "fr"]
        situation += "\n" + heading + "\n" + "\n".join(f"• {n}" for n in news)
    none = "aucune" if fr else "none"
    sections = {
        "situation": situation,
        "bilan": str(previous.get("bilan") or ""),
        "actions": "\n".join(f"• {a}" for a in actions) or none,
        "decisions": "\n".join(f"• {x}" for x in decisions) or none,
        "besoins": "\n".join(f"• {n}" for n in needs) or none,
        "previsions": str(previous.get("previsions") or ""),
    }
    if d.next_at is None:
        sections["prochain"] = (
            "Sortie de crise : pas de point suivant." if fr else "End of crisis: no further report."
        )
    else:
        sections["prochain"] = d.hm(d.next_at)
    for name, text in sections.items():
        if not text:
            sections[name] = TO_FILL[d.lang if d.lang in TO_FILL else "fr"].format(section=name)
    return sections


def compose(d: Drafting) -> dict[str, str]:
    """The draft: Vigie's sections, with those the cell wrote in their place."""
    sections = automatic(d)
    for name, text in (d.point.sections or {}).items():
        if name in sections and name != "prochain" and text:
            sections[name] = str(text)
    return sections


def render(d: Drafting, sections: dict[str, str], *, draft: bool) -> str:
    fr = d.lang == "fr"
    labels = LABELS.get(d.lang, LABELS["fr"])
    kind = ("POINT DE SORTIE DE CRISE" if fr else "FINAL SITUATION REPORT") if d.point.final else None
    head = kind or ("POINT DE SITUATION" if fr else "SITUATION REPORT")
    banner = (
        ("EXERCICE EXERCICE EXERCICE\n" if fr else "EXERCISE EXERCISE EXERCISE\n")
        if d.crisis.is_exercise
        else ""
    )
    state = ("projet, non validé" if fr else "draft, not validated") if draft else ""
    lines = [
        f"{banner}{head} n° {d.point.number} — {d.crisis.reference} « {d.crisis.title} »",
        (
            f"Phase : {phase_label(d.crisis.phase)} · prévu à {d.hm(d.point.due_at)}"
            if fr
            else f"Phase: {d.crisis.phase} · due at {d.hm(d.point.due_at)}"
        )
        + (f" · {state}" if state else ""),
    ]
    for name in SECTIONS:
        lines.append("")
        lines.append(labels[name].upper())
        lines.append(sections[name])
    return "\n".join(lines)
