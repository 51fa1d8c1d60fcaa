"""Exercise drills: when Vigie tries the real ladder by itself (seed 001: regular exercises,
prepared or unannounced, evenings and weekends included) and who reads the reports."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any

from pydantic import EmailStr, Field, model_validator

from bot.config.types import SLUG, Duration, StrictModel

WEEKDAYS = {
    "lundi": 0, "mardi": 1, "mercredi": 2, "jeudi": 3, "vendredi": 4, "samedi": 5, "dimanche": 6,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
}  # fmt: skip
_WINDOW = re.compile(r"^\s*(\w+)\s+(\d{1,2})[:h](\d{2})\s*[-–]\s*(\d{1,2})[:h](\d{2})\s*$")


def parse_window(text: str) -> tuple[int, time, time]:
    """« mardi 09:00–17:00 » → (weekday, start, end)."""
    found = _WINDOW.match(text)
    day = WEEKDAYS.get(found[1].lower()) if found else None
    if found is None or day is None:
        raise ValueError(f"fenêtre « {text} » illisible (exemple : « mardi 09:00-17:00 »)")
    start, end = time(int(found[2]), int(found[3])), time(int(found[4]), int(found[5]))
    if end <= start:
        raise ValueError(f"fenêtre « {text} » : la fin vient après le début")
    return day, start, end


class DrillSchedule(StrictModel):
    id: str = Field(pattern=SLUG)
    ladder: str | None = None  # the default ladder unless named
    # Either a weekly window in which Vigie picks a random time, or a cron expression.
    window: str | None = None
    cron: str | None = None
    # Unannounced: the random time may fall at night, on a weekend or a holiday (the whole week).
    inopine: bool = False
    with_crisis: bool = False  # once acknowledged, an exercise crisis cell is opened and timed
    title: str = Field(default="Exercice d'alerte : essai de la chaîne d'astreinte", max_length=200)

    @model_validator(mode="after")
    def _one_way(self) -> DrillSchedule:
        if (self.window is None) == (self.cron is None):
            raise ValueError("un exercice planifié a soit une fenêtre (window), soit une expression cron")
        if self.window is not None:
            parse_window(self.window)
        _cron(self.cron)
        return self


def _cron(text: str | None) -> str | None:
    if text is not None:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(text)
        except ValueError as exc:
            raise ValueError(f"cron « {text} » illisible : {exc}") from None
    return text


class ContactChecksConfig(StrictModel):
    """The test de joignabilité: every contact of the directory asked to confirm (seed 001 and
    GDPR: the directory is kept current, a dead number found before an alert, not during one)."""

    # When: a cron expression, e.g. « 0 10 1-7 * tue » (the first Tuesday of the month, 10:00);
    # none: only by hand (vigie drill contacts, /exercice contacts).
    cron: str | None = None
    # Contacts not confirmed after this long are listed for the desk manager.
    confirm_within: Duration = timedelta(hours=24)

    @model_validator(mode="after")
    def _readable(self) -> ContactChecksConfig:
        _cron(self.cron)
        return self


class PartnerCheck(StrictModel):
    """A scheduled exercise diffusion to partner groups: the periodic check that each partner's
    alerte mailbox and on-call phone still answer (seed 003), like ``vigie diffusion send
    --exercice`` at set times."""

    id: str = Field(pattern=SLUG)
    cron: str
    groups: list[str] = Field(min_length=1)
    title: str = Field(default="Test de joignabilité des points d'entrée « alerte »", max_length=200)
    text: str = Field(
        default="Message de test de l'ARS : merci de confirmer sa réception, pour vérifier que votre "
        "boîte « alerte » et votre téléphone d'astreinte nous joignent bien.",
        max_length=2000,
    )

    @model_validator(mode="after")
    def _readable(self) -> PartnerCheck:
        _cron(self.cron)
        return self


class DrillsConfig(StrictModel):
    schedules: list[DrillSchedule] = Field(default_factory=list)
    contacts: ContactChecksConfig = Field(default_factory=ContactChecksConfig)
    partners: list[PartnerCheck] = Field(default_factory=list)  # scheduled exercise diffusions
    # The desk manager(s): each drill's report, with the trend chart, by e-mail.
    report_to: list[EmailStr] = Field(default_factory=list)
    # A drill nobody acknowledged ends after this long (« sans réponse »).
    timeout: Duration = timedelta(hours=1)
    # A scheduled drill found past its window (the service was down) is reported as missed.

    @model_validator(mode="before")
    @classmethod
    def _list(cls, data: Any) -> Any:
        return {"schedules": data} if isinstance(data, list) else data
