"""User-facing texts, French by default, English available."""

from __future__ import annotations

import re
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
    "exercise.prefix": {"fr": "EXERCICE EXERCICE EXERCICE\n", "en": "EXERCISE EXERCISE EXERCISE\n"},
    "page.text": {
        "fr": "{prefix}Signal {reference} — {title}\n{details}Vous êtes appelé(e) en tant que {role} "
        "(étape {step}/{steps}{pass_note}).{body}",
        "en": "{prefix}Signal {reference} — {title}\n{details}You are paged as {role} "
        "(step {step}/{steps}{pass_note}).{body}",
    },
    "page.pass": {"fr": ", passage {number}", "en": ", round {number}"},
    "page.details": {
        "fr": "Gravité : {severity} · Catégorie : {category} · Reçu le {received}\n",
        "en": "Severity: {severity} · Category: {category} · Received {received}\n",
    },
    "page.role.person": {"fr": "personne désignée", "en": "named person"},
    "action.ack": {"fr": "Je prends", "en": "I take it"},
    "action.escalate": {"fr": "Escalader", "en": "Escalate"},
    "notice.acknowledged": {
        "fr": "Pris en charge par {name} à {time} — {reference} « {title} »",
        "en": "Taken by {name} at {time} — {reference} “{title}”",
    },
    "notice.resolved": {
        "fr": "Signal clos par {name} à {time} — {reference} « {title} »",
        "en": "Closed by {name} at {time} — {reference} “{title}”",
    },
    "notice.exhausted": {
        "fr": "{prefix}ALERTE SANS RÉPONSE — {reference} « {title} » : personne n'a pris en charge "
        "après {steps} étape(s) et {passes} passage(s) de l'échelle. Le signal reste ouvert et non acquitté.",
        "en": "{prefix}UNANSWERED ALERT — {reference} “{title}”: nobody took it after {steps} step(s) "
        "and {passes} round(s) of the ladder. The signal stays open and unacknowledged.",
    },
    "notice.handover": {
        "fr": "Relève d'astreinte « {roster} » : vous êtes {role} à partir du {start}{until}.",
        "en": "On-call hand-over “{roster}”: you are {role} from {start}{until}.",
    },
    "notice.handover.until": {"fr": " jusqu'au {end}", "en": " until {end}"},
    "event.ladder_started": {"fr": "Échelle « {ladder} » démarrée", "en": "Ladder “{ladder}” started"},
    "event.no_ladder": {
        "fr": "Aucune échelle configurée : personne n'est appelé",
        "en": "No ladder configured: nobody is paged",
    },
    "event.step": {
        "fr": "Étape {step}/{steps}{pass_note} : appel de {names}",
        "en": "Step {step}/{steps}{pass_note}: paging {names}",
    },
    "event.step_empty": {
        "fr": "Étape {step}/{steps} : personne à appeler ({detail}), passage à l'étape suivante",
        "en": "Step {step}/{steps}: nobody to page ({detail}), moving on",
    },
    "event.level_vacant": {"fr": "niveau {level} non pourvu", "en": "level {level} not staffed"},
    "event.unreachable": {
        "fr": "{name} injoignable : {reason}",
        "en": "{name} unreachable: {reason}",
    },
    "event.no_usable_channel": {
        "fr": "aucun canal utilisable (préférences : {channels})",
        "en": "no usable channel (preferences: {channels})",
    },
    "event.all_unreachable": {
        "fr": "Personne de l'étape {step} n'est joignable : escalade immédiate",
        "en": "Nobody at step {step} can be reached: escalating now",
    },
    "event.repeat": {
        "fr": "Aucune réponse : l'échelle reprend (passage {number})",
        "en": "No answer: ladder repeats (round {number})",
    },
    "event.exhausted": {
        "fr": "Échelle terminée sans réponse : cadres prévenus ({names})",
        "en": "Ladder ended unanswered: duty officers told ({names})",
    },
    "event.acknowledged": {
        "fr": "Pris en charge par {name} ({channel})",
        "en": "Taken by {name} ({channel})",
    },
    "event.escalated": {
        "fr": "Escalade immédiate demandée par {name}",
        "en": "Immediate escalation requested by {name}",
    },
    "event.resolved": {"fr": "Signal clos par {name}{note}", "en": "Signal closed by {name}{note}"},
    "event.delivered": {
        "fr": "Message remis à {name} par {channel}",
        "en": "Message delivered to {name} by {channel}",
    },
    "event.delivery_failed": {
        "fr": "Échec de remise à {name} par {channel} : {reason}",
        "en": "Delivery to {name} by {channel} failed: {reason}",
    },
    "event.failover": {
        "fr": "Bascule vers {channel} pour {name}",
        "en": "Failing over to {channel} for {name}",
    },
    "event.mail_reply": {"fr": "Courriel de {sender} : {subject}", "en": "E-mail from {sender}: {subject}"},
    "notice.channel_down": {
        "fr": "Vigie : le canal {channel} est indisponible depuis {time} ({error}). Les alertes passent "
        "par les autres canaux de chacun ; Vigie réessaie et vous préviendra de son rétablissement.",
        "en": "Vigie: the {channel} channel has been unavailable since {time} ({error}). Alerts go "
        "through everyone's other channels; Vigie keeps retrying and will tell you when it is back.",
    },
    "notice.channel_up": {
        "fr": "Vigie : le canal {channel} est rétabli depuis {time} (indisponible depuis {since}).",
        "en": "Vigie: the {channel} channel is back since {time} (unavailable since {since}).",
    },
    "event.internal_error": {
        "fr": "Erreur interne lors de l'échelle, nouvel essai dans {seconds} s : {error}",
        "en": "Internal error in the ladder, retrying in {seconds} s: {error}",
    },
}


# « de » / « le » / « que » before a placeholder: elided when the value starts with a vowel sound
# (« appel d'Alice Martin »). Only at placeholders, never inside what people wrote.
_ELIDABLE = re.compile(r"\b(de|le|que) \{(\w+)\}")
_VOWEL = re.compile(r"^[AEIOUYÀÂÄÉÈÊËÎÏÔÖÙÛÜaeiouyàâäéèêëîïôöùûü]")


def elide(template: str, values: dict[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        word, name = match.group(1), match.group(2)
        if _VOWEL.match(str(values.get(name, ""))):
            return f"{word[:-1]}'{{{name}}}"
        return match.group(0)

    return _ELIDABLE.sub(one, template)


def t(key: str, lang: str = "fr", **values: Any) -> str:
    entry = TEXTS[key]
    template = entry.get(lang, entry["fr"])
    if lang == "fr" or lang not in entry:
        template = elide(template, values)
    return template.format(**values)
