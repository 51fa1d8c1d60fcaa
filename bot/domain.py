"""The desk's vocabulary (DOMAIN.md): statuses, severities, categories, functions, channels."""

from __future__ import annotations

from enum import StrEnum


class SignalStatus(StrEnum):
    RECU = "recu"  # received, nobody has taken it yet
    ACQUITTE = "acquitte"  # a referent has taken it
    ALERTE = "alerte"  # validated signal calling for a response
    SSE = "sse"  # situation sanitaire exceptionnelle
    CRISE = "crise"
    CLOS = "clos"

    @property
    def is_open(self) -> bool:
        return self is not SignalStatus.CLOS


STATUS_LABELS_FR = {
    SignalStatus.RECU: "reçu",
    SignalStatus.ACQUITTE: "acquitté",
    SignalStatus.ALERTE: "alerte",
    SignalStatus.SSE: "situation sanitaire exceptionnelle",
    SignalStatus.CRISE: "crise",
    SignalStatus.CLOS: "clos",
}


class Severity(StrEnum):
    """Gravité on the 5-level scale of seed 004."""

    MINEURE = "mineure"
    SIGNIFICATIVE = "significative"
    MAJEURE = "majeure"
    CRITIQUE = "critique"
    CATASTROPHIQUE = "catastrophique"

    @property
    def rank(self) -> int:
        return list(Severity).index(self) + 1


# English and monitoring spellings accepted on input (Alertmanager's "severity" label).
SEVERITY_ALIASES: dict[str, Severity] = {
    "minor": Severity.MINEURE,
    "info": Severity.MINEURE,
    "low": Severity.MINEURE,
    "significant": Severity.SIGNIFICATIVE,
    "warning": Severity.SIGNIFICATIVE,
    "medium": Severity.SIGNIFICATIVE,
    "major": Severity.MAJEURE,
    "high": Severity.MAJEURE,
    "error": Severity.MAJEURE,
    "critical": Severity.CRITIQUE,
    "page": Severity.CRITIQUE,
    "catastrophic": Severity.CATASTROPHIQUE,
    "disaster": Severity.CATASTROPHIQUE,
}


def parse_severity(value: str) -> Severity:
    key = value.strip().lower()
    try:
        return Severity(key)
    except ValueError:
        pass
    if key in SEVERITY_ALIASES:
        return SEVERITY_ALIASES[key]
    allowed = ", ".join(s.value for s in Severity)
    english = ", ".join(dict.fromkeys(SEVERITY_ALIASES))
    raise ValueError(
        f"gravité inconnue « {value} » (valeurs possibles : {allowed} ; en anglais aussi : {english})"
    )


class Category(StrEnum):
    """Signal categories a PFR receives (seed 000, annex 1)."""

    SURVEILLANCE_HUMAINE = "surveillance-humaine"  # MDO, SurSaUD
    VIGILANCES = "vigilances"  # regulated vigilances
    ENVIRONNEMENT = "environnement"  # air, water
    EVENEMENT = "evenement"  # accidents, natural or man-made events
    ETABLISSEMENT = "etablissement"  # IAS, EIG/EIGS in health establishments
    MEDICO_SOCIAL = "medico-social"  # EI/EIG in ESMS
    TENSION = "tension"  # tensions on the health system
    TECHNIQUE = "technique"  # monitoring of the desk's own systems (Alertmanager)
    MESSAGE_NATIONAL = "message-national"  # MINSANTE/CORRUSS, MARS, DGS-Urgent (to relay)
    AUTRE = "autre"


CATEGORY_LABELS_FR = {
    Category.SURVEILLANCE_HUMAINE: "surveillance humaine (MDO, SurSaUD)",
    Category.VIGILANCES: "vigilances réglementées",
    Category.ENVIRONNEMENT: "veille environnementale (air, eau)",
    Category.EVENEMENT: "événement à impact sanitaire",
    Category.ETABLISSEMENT: "signalement d'établissement (IAS, EIG/EIGS)",
    Category.MEDICO_SOCIAL: "signalement médico-social (EI/EIG en ESMS)",
    Category.TENSION: "tension sur le système de santé",
    Category.TECHNIQUE: "supervision technique",
    Category.MESSAGE_NATIONAL: "message national (MINSANTE/CORRUSS, MARS, DGS-Urgent)",
    Category.AUTRE: "autre",
}


class Function(StrEnum):
    """Crisis-cell functions (seed 001 §1.3) and the desk's own roles."""

    DECISION = "decision"
    PILOTAGE = "pilotage"
    ORGANISATION_MEDICALE = "organisation-medicale"
    ORGANISATION_PARAMEDICALE = "organisation-paramedicale"
    COMMUNICATION = "communication"
    SUPPORT = "support"
    SECRETARIAT = "secretariat"
    REFERENT = "referent"  # on-call referent (titulaire or suppléant)
    CADRE = "cadre"  # cadre d'astreinte
    RESPONSABLE = "responsable"  # desk manager (responsable PFR / CVAGS)


class Scope(StrEnum):
    """What an API token may do (``api_tokens[].scopes``)."""

    SIGNALS_WRITE = "signals:write"  # raise signals: POST /api/v1/signals, /api/v1/alertmanager
    PAGING_ACT = "paging:act"  # take, escalate, close, for the people of its act_as
    READ = "read"  # signals, outbox, on-call, roster calendars
    METRICS = "metrics"  # /metrics and /docs when they are behind a token


# The seven functions of a crisis cell (seed 001 §1.3), in the order of the seed.
CELL_FUNCTIONS: tuple[Function, ...] = (
    Function.DECISION,
    Function.PILOTAGE,
    Function.ORGANISATION_MEDICALE,
    Function.ORGANISATION_PARAMEDICALE,
    Function.COMMUNICATION,
    Function.SUPPORT,
    Function.SECRETARIAT,
)


FUNCTION_LABELS_FR = {
    Function.DECISION: "décision",
    Function.PILOTAGE: "pilotage",
    Function.ORGANISATION_MEDICALE: "organisation médicale",
    Function.ORGANISATION_PARAMEDICALE: "organisation paramédicale",
    Function.COMMUNICATION: "communication",
    Function.SUPPORT: "support",
    Function.SECRETARIAT: "secrétariat",
    Function.REFERENT: "référent d'astreinte",
    Function.CADRE: "cadre d'astreinte",
    Function.RESPONSABLE: "responsable PFR",
}


class ChannelKind(StrEnum):
    CONSOLE = "console"
    TELEGRAM = "telegram"
    SLACK = "slack"
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    MATRIX = "matrix"  # Tchap, or any Matrix homeserver


class OriginChannel(StrEnum):
    """How a signal came in; its receipt goes back the same way."""

    HTTP = "http"
    ALERTMANAGER = "alertmanager"
    CLI = "cli"
    TELEGRAM = "telegram"
    SLACK = "slack"
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    MATRIX = "matrix"
    WEB = "web"  # the duty console


class MessageState(StrEnum):
    """An outbox message's delivery state (stored as its value)."""

    PENDING = "pending"  # waiting for its time, its channel or its turn
    SENDING = "sending"  # claimed: handed to the provider outside any transaction
    SENT = "sent"  # the provider has it; its delivery report will say more
    DELIVERED = "delivered"
    FAILED = "failed"  # for good on this channel: the person's next channel is used
    UNCERTAIN = "uncertain"  # the process died mid-send: never re-sent on that channel
    EXPIRED = "expired"  # a page not delivered in time: failed over
    MERGED = "merged"  # joined into another message to the same contact (rate limit)
    CANCELLED = "cancelled"  # a page no longer needed (the signal was taken)


class RunState(StrEnum):
    """A ladder run's state."""

    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    EXHAUSTED = "exhausted"  # every step and repeat paged, nobody answered
    RESOLVED = "resolved"


class PageState(StrEnum):
    """One person paged at one step."""

    PAGING = "paging"
    UNREACHABLE = "unreachable"
    ACKNOWLEDGED = "acknowledged"  # this person took it
    ENDED = "ended"  # someone else took it


class TimerState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"
