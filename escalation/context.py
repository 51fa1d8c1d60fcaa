"""What the paging modules share: configuration, clock, and the roster schedules built from it."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from bot.channel_health import ChannelHealth
from bot.clock import Clock
from bot.config import LEVEL_LABELS_FR, WEEKDAYS, VigieConfig
from escalation.rosters import ExtraOverride, RosterSchedule


class PagingContext:
    def __init__(self, config: VigieConfig, clock: Clock, health: ChannelHealth | None = None) -> None:
        self.config = config
        self.clock = clock
        self.health = health or ChannelHealth()
        self._extra: dict[str, list[ExtraOverride]] = {}

    @property
    def lang(self) -> str:
        return self.config.desk.language

    @property
    def zone(self) -> ZoneInfo:
        return self.config.desk.zone

    @cached_property
    def schedules(self) -> dict[str, RosterSchedule]:
        return {r.id: RosterSchedule(r, self.zone, self._extra.get(r.id, ())) for r in self.config.rosters}

    def use_overrides(self, extra: dict[str, list[ExtraOverride]]) -> None:
        """Run-time overrides (from the store) to apply on top of the configured ones."""
        if extra != self._extra:
            self._extra = extra
            self.__dict__.pop("schedules", None)

    def name(self, person_id: str | None) -> str:
        person = self.config.person(person_id) if person_id else None
        return person.name if person else (person_id or "?")

    def local(self, when: datetime, fmt: str = "%H:%M") -> str:
        return when.astimezone(self.zone).strftime(fmt)

    def local_day(self, when: datetime) -> str:
        """« lundi 30/11 09:00 » in the desk's zone and language."""
        local = when.astimezone(self.zone)
        day = WEEKDAYS[local.weekday()] if self.lang == "fr" else local.strftime("%A")
        return f"{day} {local:%d/%m %H:%M}"

    def level_label(self, level: str | None) -> str:
        if level is None:
            return "personne désignée" if self.lang == "fr" else "named person"
        return LEVEL_LABELS_FR[level] if self.lang == "fr" else level
