"""The whole configuration (``VigieConfig``) and the desk's permissions."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    model_validator,
)

from bot.config.access import ApiTokenConfig
from bot.config.channels import ChannelsConfig
from bot.config.crisis import CrisisConfig
from bot.config.delivery import DeliveryConfig
from bot.config.desk import DeskConfig
from bot.config.directory import Person
from bot.config.drills import DrillsConfig
from bot.config.heartbeats import Heartbeat, MaintenanceConfig, SelfCheckConfig, Watchdog
from bot.config.http import HttpConfig
from bot.config.intake import IntakeConfig
from bot.config.ladders import Ladder
from bot.config.partners import DiffusionConfig, Partner
from bot.config.references import cross_check
from bot.config.rosters import Roster
from bot.config.types import LEVELS, StrictModel
from bot.domain import ChannelKind, Function

Guarded = Literal[
    "relais", "clore", "crise", "diffusion", "exercice", "maintenance"
]  # the desk commands a permission rule can restrict


def _default_permissions() -> dict[Guarded, list[Function]]:
    return {
        "relais": [Function.REFERENT, Function.CADRE, Function.RESPONSABLE],
        "clore": [Function.CADRE, Function.RESPONSABLE, Function.PILOTAGE, Function.DECISION],
        "crise": [Function.CADRE, Function.RESPONSABLE, Function.DECISION, Function.PILOTAGE],
        "diffusion": [Function.CADRE, Function.RESPONSABLE],
        "exercice": [Function.CADRE, Function.RESPONSABLE],
        "maintenance": [Function.CADRE, Function.RESPONSABLE],
    }


class VigieConfig(StrictModel):
    version: Literal[1] = 1
    desk: DeskConfig
    people: list[Person] = Field(default_factory=list)
    # People told when a ladder ends with nobody answering; default: functions cadre and responsable.
    duty_officers: list[str] = Field(default_factory=list)
    rosters: list[Roster] = Field(default_factory=list)
    ladders: list[Ladder] = Field(default_factory=list)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    # Chat commands that change the desk, and the functions allowed to run them.
    permissions: dict[Guarded, list[Function]] = Field(default_factory=_default_permissions)
    crisis: CrisisConfig = Field(default_factory=CrisisConfig)
    # Partners the desk relays national messages to (more from CSV: vigie partners import).
    partners: list[Partner] = Field(default_factory=list)
    diffusion: DiffusionConfig = Field(default_factory=DiffusionConfig)
    # Exercise drills on the real ladder, scheduled or started by hand (bot/drills/).
    drills: DrillsConfig = Field(default_factory=DrillsConfig)
    # Who may use the HTTP API, to do what, for whom (secrets in the environment).
    api_tokens: list[ApiTokenConfig] = Field(default_factory=list)
    # Sources that must ping Vigie regularly: a silent one raises « Source muette » (bot/heartbeats/).
    heartbeats: list[Heartbeat] = Field(default_factory=list)
    # Vigie's own dead-man's switch: it pings this URL regularly (README: two sites).
    watchdog: Watchdog | None = None
    # Maintenance windows: a source's signals stored and receipted, their pages held until the end.
    maintenance: MaintenanceConfig = Field(default_factory=MaintenanceConfig)
    # Vigie's self-check of stalled work, told to the duty officers on another channel.
    selfcheck: SelfCheckConfig = Field(default_factory=SelfCheckConfig)

    @model_validator(mode="after")
    def _unique_names(self) -> VigieConfig:
        for what, names in (
            ("identifiant de personne", [p.id for p in self.people]),
            ("identifiant de partenaire", [p.id for p in self.partners]),
            ("nom de jeton d'API", [t.name for t in self.api_tokens]),
            ("identifiant de moniteur de pulsations", [h.id for h in self.heartbeats]),
            ("variable d'environnement de jeton d'API", [t.variable for t in self.api_tokens]),
        ):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"{what} en double : « {name} »")
                seen.add(name)
        return self

    def person(self, person_id: str) -> Person | None:
        return next((p for p in self.people if p.id == person_id), None)

    def allowed_functions(self, command: str) -> list[Function]:
        guarded: dict[str, Guarded] = {
            "relais": "relais",
            "clore": "clore",
            "crise": "crise",
            "diffusion": "diffusion",
            "exercice": "exercice",
            "maintenance": "maintenance",
        }
        key = guarded.get(command)
        if key is None:
            return []
        return self.permissions.get(key, _default_permissions()[key])

    def roster(self, roster_id: str) -> Roster | None:
        return next((r for r in self.rosters if r.id == roster_id), None)

    def ladder(self, ladder_id: str) -> Ladder | None:
        return next((ladder for ladder in self.ladders if ladder.id == ladder_id), None)

    def default_ladder(self) -> Ladder | None:
        if self.intake.default_ladder:
            return self.ladder(self.intake.default_ladder)
        return self.ladder("default") or (self.ladders[0] if self.ladders else None)

    def officers(self) -> list[str]:
        if self.duty_officers:
            return list(self.duty_officers)
        return [p.id for p in self.people if {Function.CADRE, Function.RESPONSABLE} & set(p.functions)]

    def cross_check(self) -> list[tuple[tuple[int | str, ...], str]]:
        """References between sections: every name must point at something that exists."""
        return cross_check(self.model_dump())

    def warnings(self) -> list[str]:
        """Problems that do not stop the service but that a desk manager must see."""
        found: list[str] = []
        enabled = set(self.channels.enabled())
        for index, person in enumerate(self.people):
            if not self.usable_channels(person):
                found.append(
                    f"people[{index}] ({person.id}) : aucun canal de notification utilisable "
                    f"(préférences : {', '.join(person.channels)} ; canaux activés : "
                    f"{', '.join(sorted(enabled)) or 'aucun'})"
                )
        for r, roster in enumerate(self.rosters):
            slots = [("slots", s, slot) for s, slot in enumerate(roster.slots)]
            if roster.off_hours:
                slots += [("off_hours.slots", s, slot) for s, slot in enumerate(roster.off_hours.slots)]
            for where, s, slot in slots:
                for level in LEVELS:
                    pid = getattr(slot, level)
                    member = self.person(pid) if pid else None
                    if member is not None and not self.usable_channels(member):
                        found.append(
                            f"rosters[{r}].{where}[{s}].{level} ({pid}) : cette personne n'a aucun contact "
                            "utilisable, elle ne pourra pas être appelée"
                        )
        if self.ladders and not self.officers():
            found.append(
                "aucun cadre ni responsable : personne ne sera prévenu si une échelle reste sans réponse"
            )
        if not self.ladders:
            found.append(
                "aucune échelle (ladders) : les signaux seront enregistrés mais personne ne sera appelé"
            )
        return found

    def usable_channels(self, person: Person) -> list[ChannelKind]:
        enabled = set(self.channels.enabled())
        return [kind for kind in person.channels if kind in enabled and person.address(kind)]
