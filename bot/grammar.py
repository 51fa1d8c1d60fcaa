"""The one command grammar of every chat channel: French names, English aliases."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Canonical name -> accepted spellings (without the leading slash).
COMMANDS: dict[str, tuple[str, ...]] = {
    "signal": ("signal", "signaler", "alerte"),
    "ack": ("prendre", "ack", "pris"),
    "escalate": ("escalader", "escalate"),
    "status": ("statut", "status", "etat"),
    "oncall": ("astreinte", "oncall"),
    "relay": ("relais", "takeover", "relay"),
    "close": ("clore", "close", "resolve"),
    "help": ("aide", "help", "start"),
    # The crisis cell (bot/crisis/commands.py).
    "crisis": ("crise", "crisis"),
    "role": ("role", "fonction", "function"),
    "roles": ("roles", "fonctions", "functions"),
    "join": ("rejoindre", "rejoins", "join"),
    "decision": ("decision", "decide"),
    "action": ("action",),
    "demande": ("demande", "request", "ask"),
    "info": ("info", "information", "note"),
    "done": ("fait", "done"),
    # Points de situation, follow-up and debrief (bot/crisis/points.py, retex.py).
    "phase": ("phase",),
    "point": ("point", "sitrep"),
    "actions": ("actions",),
    "retex": ("retex", "debrief"),
    # Diffusion to the partners (bot/diffusion/service.py).
    "diffuse": ("diffuser", "diffuse"),
    "diffusion": ("diffusion",),
    # A national message POUR ACTION followed up (bot/diffusion/followup.py).
    "followup": ("suite", "followup"),
    # A drill on the real ladder (bot/drills/).
    "drill": ("exercice", "drill"),
    # A source's signals held back for a while (escalation/maintenance.py).
    "maintenance": ("maintenance",),
}
_ALIASES = {alias: name for name, aliases in COMMANDS.items() for alias in aliases}

# Short replies to a page that mean "I take it".
ACK_WORDS = {"ok", "oui", "je prends", "je la prends", "je le prends", "pris", "prise", "ack", "yes"}


# Replies to a crisis call that mean "I join the cell".
JOIN_WORDS = {"je rejoins", "rejoins", "je rejoins la cellule", "j arrive", "present", "presente"}


def is_join_reply(text: str) -> bool:
    return " ".join(_plain(text).split()) in JOIN_WORDS


@dataclass(frozen=True)
class ParsedCommand:
    name: str  # canonical: signal, ack, escalate, status, oncall, relay, close, help
    args: str
    spelled: str  # as the person typed it, for error messages


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9 ]+", " ", folded.lower()).strip()


def parse_command(text: str) -> ParsedCommand | None:
    """``/prendre PFR-2026-000042`` -> ack; ``/statut@vigie_bot`` works too. None if not a command."""
    match = re.match(r"^\s*/([^\s@]+)(?:@\S+)?\s*(.*)$", text, re.S)
    if match is None:
        return None
    spelled = match.group(1)
    name = _ALIASES.get(_plain(spelled).replace(" ", ""), "unknown")
    return ParsedCommand(name, match.group(2).strip(), spelled)


def is_ack_reply(text: str) -> bool:
    return " ".join(_plain(text).split()) in ACK_WORDS
