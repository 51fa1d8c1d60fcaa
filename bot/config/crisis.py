"""The crisis cell: compositions (who is called, to hold which function), phases, rooms."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

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


class CrisisConfig(StrictModel):
    reference_prefix: str = Field(default="CRISE", pattern=r"^[A-Z][A-Z0-9]{1,11}$")
    # Phases in order; a crisis opens in the first.
    phases: list[str] = Field(default_factory=lambda: ["alerte", "aigue", "suivi"], min_length=1)
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

    @field_validator("phases")
    @classmethod
    def _slugs(cls, value: list[str]) -> list[str]:
        import re

        for phase in value:
            if not re.match(SLUG, phase):
                raise ValueError(f"phase « {phase} » : minuscules, chiffres, tirets (ex. aigue)")
        return value

    def composition_for(self, plan: str | None) -> Composition:
        if plan is not None and plan in self.plans:
            return self.plans[plan]
        return "restreinte"
