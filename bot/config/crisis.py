"""The crisis cell: compositions (who is called, to hold which function), phases, rooms."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import EmailStr, Field, field_validator

from bot.config.types import LEVELS, SLUG, Duration, StrictModel
from bot.domain import CELL_FUNCTIONS, Function

Composition = Literal["restreinte", "elargie"]
OrsanPlan = Literal["AMAVI", "EPI-CLIM", "REB", "NRC", "MEDICO-PSY"]
ORSAN_PLANS: tuple[str, ...] = ("AMAVI", "EPI-CLIM", "REB", "NRC", "MEDICO-PSY")


class CellConfig(StrictModel):
    """One composition of the cell: each function, held by people (ids) or by a roster level
    (``titulaire``, ``suppleant``, ``cadre``: whoever holds it when the crisis opens)."""

    roster: str | None = None  # the roster the levels refer to
    functions: dict[Function, list[str]] = Field(default_factory=dict)
    # Called to the cell without a function (experts, liaison officers).
    members: list[str] = Field(default_factory=list)

    @field_validator("functions")
    @classmethod
    def _cell_functions(cls, value: dict[Function, list[str]]) -> dict[Function, list[str]]:
        for function in value:
            if function not in CELL_FUNCTIONS:
                names = ", ".join(f.value for f in CELL_FUNCTIONS)
                raise ValueError(f"« {function.value} » n'est pas une fonction de la cellule ({names})")
        return value

    def uses_levels(self) -> bool:
        return any(who in LEVELS for people in self.functions.values() for who in people)


class SlackRooms(StrictModel):
    enabled: bool = True
    private: bool = False  # a private channel (groups:write) rather than a public one
    archive: bool = True  # archive the channel when the crisis is closed


# « Un point toutes les 2 heures en phase aiguë » (seed 004); the others are common practice.
DEFAULT_CADENCES = {"alerte": timedelta(hours=4), "aigue": timedelta(hours=2), "suivi": timedelta(hours=6)}


class PointsConfig(StrictModel):
    """The points de situation: when the draft is posted, who is reminded when."""

    prompt_before: Duration = timedelta(minutes=15)  # the draft, this long before the due time
    late_after: Duration = timedelta(minutes=15)  # not validated this long after: tell décision


DEFAULT_RETEX_QUESTIONS = [
    "Qu'est-ce qui a bien fonctionné ?",
    "Qu'est-ce qui n'a pas fonctionné ?",
    "Que faudrait-il changer en premier ?",
    "Autre chose à signaler ?",
]


class RetexConfig(StrictModel):
    """The debriefs (seed 001 §4): hot at closure, cold within the month."""

    questions: list[str] = Field(default_factory=lambda: list(DEFAULT_RETEX_QUESTIONS), min_length=1)
    hot_deadline: Duration = timedelta(hours=72)  # answers collected until then
    cold_after: Duration = timedelta(days=21)  # the desk manager reminded, with the document


class CrisisConfig(StrictModel):
    reference_prefix: str = Field(default="CRISE", pattern=r"^[A-Z][A-Z0-9]{1,11}$")
    # Phases in order, each with the cadence of its points de situation; a crisis opens in the
    # first. A plain list takes the usual cadences (alerte 4h, aigue 2h, suivi 6h; others 4h).
    phases: dict[str, Duration] = Field(default_factory=lambda: dict(DEFAULT_CADENCES), min_length=1)
    points: PointsConfig = Field(default_factory=PointsConfig)
    # Who receives each validated point by e-mail (the ARS CRAPS…), as text and PDF.
    upward: list[EmailStr] = Field(default_factory=list)
    retex: RetexConfig = Field(default_factory=RetexConfig)
    cells: dict[Composition, CellConfig] = Field(default_factory=dict)
    # The composition each ORSAN plan calls for (default: restreinte).
    plans: dict[OrsanPlan, Composition] = Field(default_factory=dict)
    # Told that the cell is armed (people ids).
    inform: list[str] = Field(default_factory=list)
    # Remind the opener and the duty officers while décision or pilotage is vacant, this often.
    vacant_reminder: Duration = timedelta(minutes=15)
    slack: SlackRooms = Field(default_factory=SlackRooms)
    # With a Slack channel and a Telegram topic: post each room's messages in the other, with
    # the author's name (each is still logged once).
    relay_rooms: bool = False

    @field_validator("phases", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        if isinstance(value, list):
            return {str(p): DEFAULT_CADENCES.get(str(p), timedelta(hours=4)) for p in value}
        return value

    @field_validator("phases")
    @classmethod
    def _slugs(cls, value: dict[str, timedelta]) -> dict[str, timedelta]:
        import re

        for phase, cadence in value.items():
            if cadence < timedelta(minutes=1):
                raise ValueError(f"phase « {phase} » : une cadence d'au moins une minute")
            if not re.match(SLUG, phase):
                raise ValueError(f"phase « {phase} » : minuscules, chiffres, tirets (ex. aigue)")
        return value

    def first_phase(self) -> str:
        return next(iter(self.phases))

    def cadence(self, phase: str) -> timedelta:
        return self.phases.get(phase, timedelta(hours=4))

    def composition_for(self, plan: str | None) -> Composition:
        if plan is not None and plan in self.plans:
            return self.plans[plan]
        return "restreinte"
