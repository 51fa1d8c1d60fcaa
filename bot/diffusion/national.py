"""National alert messages recognised as they arrive (seed 003): MINSANTE/CORRUSS with their
nature (POUR INFORMATION, POUR ACTION, POUR DIFFUSION), MARS, DGS-Urgent, by the subject or
the first lines of a mail to the alerte mailbox."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.diffusion.models import Nature

_FAMILY = re.compile(
    r"\b(MINSANTE|CORRUSS|MARS|DGS[\s-]?URGENT)\b(?:\s*(?:n[°o]|num[ée]ro)\s*([0-9][0-9/-]*))?", re.I
)
_NATURE = re.compile(r"\bPOUR\s+(INFORMATION|ACTION|DIFFUSION)\b", re.I)
_FAMILIES = {"MINSANTE": "MINSANTE", "CORRUSS": "CORRUSS", "MARS": "MARS"}


@dataclass(frozen=True)
class NationalMessage:
    family: str  # MINSANTE, CORRUSS, MARS, DGS-Urgent
    number: str | None  # « 2026-112 »
    nature: Nature

    @property
    def title(self) -> str:
        return f"{self.family} n° {self.number}" if self.number else self.family

    def as_dict(self) -> dict[str, str | None]:
        return {"family": self.family, "number": self.number, "nature": self.nature.value}


def recognise(subject: str, text: str, lines: int = 5) -> NationalMessage | None:
    """The message's family, number and nature, or None for an ordinary mail. MARS messages are
    to be relayed with confirmed receipt; a MINSANTE without a nature is taken for information."""
    head = "\n".join([subject, *text.strip().splitlines()[:lines]])
    matches = list(_FAMILY.finditer(head))
    if not matches:
        return None
    found = next((m for m in matches if m[2]), matches[0])  # the one with its number
    word = found[1].upper().replace(" ", "-")
    family = _FAMILIES.get(word, "DGS-Urgent")
    nature_found = _NATURE.search(head)
    if family == "MARS":
        nature = Nature.MARS
    elif nature_found is not None:
        nature = Nature(nature_found[1].lower())
    else:
        nature = Nature.INFORMATION
    return NationalMessage(family, found[2].strip("/-") if found[2] else None, nature)
