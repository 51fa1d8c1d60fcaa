"""User-facing texts, French by default, English available."""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    "receipt.created": {
        "fr": "Signal reçu, référence {reference}. Il est enregistré et transmis à l'astreinte.",
        "en": "Signal received, reference {reference}. It is stored and passed to the on-call team.",
    },
    "receipt.duplicate": {
        "fr": "Signal déjà reçu : rattaché à la référence {reference}, toujours en cours de traitement.",
        "en": "Signal already received: attached to reference {reference}, still being handled.",
    },
    "event.received": {
        "fr": "Signal reçu par {channel}",
        "en": "Signal received by {channel}",
    },
    "event.duplicate": {
        "fr": "Nouvelle occurrence reçue par {channel} (doublon n°{count})",
        "en": "New occurrence received by {channel} (duplicate #{count})",
    },
    "event.source_resolved": {
        "fr": "La source signale la fin de l'alerte ({detail})",
        "en": "The source reports the alert as resolved ({detail})",
    },
}


def t(key: str, lang: str = "fr", **values: Any) -> str:
    entry = TEXTS[key]
    return entry.get(lang, entry["fr"]).format(**values)
