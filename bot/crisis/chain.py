"""The main courante's hash chain: each entry's hash covers a canonical form of the entry and
the previous entry's hash, so that changing, removing or reordering any entry breaks every hash
after it. The head hash (the last entry's) summarises the whole record: whoever holds a copy of
it (a point de situation sent upward, a printed export) can tell later whether history was
rewritten, even by someone with write access to the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.clock import utc
from bot.crisis.models import EntryRow

GENESIS = "0" * 64
_FIELDS = (
    "number",
    "author_id",
    "author_label",
    "external",
    "origin",
    "kind",
    "text",
    "attachments",
    "recipient",
    "owner",
    "refers_to",
    "platform_key",
)


def _instant(value: datetime | None) -> str | None:
    return utc(value).isoformat(timespec="microseconds") if value is not None else None


def canonical(crisis_reference: str, entry: EntryRow) -> bytes:
    """The bytes an entry's hash covers: every field that says what happened, sorted, UTC."""
    data: dict[str, Any] = {name: getattr(entry, name) for name in _FIELDS}
    data.update(crisis=crisis_reference, at=_instant(entry.at), due_at=_instant(entry.due_at))
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(crisis_reference: str, entry: EntryRow, prev_hash: str) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical(crisis_reference, entry)).hexdigest()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    count: int
    head: str  # the last sound hash
    problem: str | None = None  # in French, naming the first bad entry
    bad_number: int | None = None


def verify(crisis_reference: str, entries: Iterable[EntryRow]) -> Verdict:
    """Recompute the chain in number order; stop at the first entry that is missing, out of
    place, altered, or whose link to the previous one is broken."""
    previous, count = GENESIS, 0
    for expected, entry in enumerate(entries, start=1):
        if entry.number != expected:
            return Verdict(
                False,
                count,
                previous,
                f"entrée n° {expected} manquante ou déplacée (trouvé n° {entry.number} à sa place)",
                expected,
            )
        if entry.prev_hash != previous:
            return Verdict(
                False,
                count,
                previous,
                f"entrée n° {entry.number} : lien rompu avec l'entrée précédente",
                entry.number,
            )
        if entry_hash(crisis_reference, entry, previous) != entry.hash:
            return Verdict(
                False,
                count,
                previous,
                f"entrée n° {entry.number} modifiée après son enregistrement",
                entry.number,
            )
        previous, count = entry.hash, count + 1
    return Verdict(True, count, previous)
