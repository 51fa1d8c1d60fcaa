"""Rosters: rotations, hand-overs, off-hours, leave and swaps."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pydantic import (
    Field,
    model_validator,
)

from bot.config.types import SLUG, WEEKDAYS, ClockTime, Duration, Level, StrictModel, Weekday


class RosterSlot(StrictModel):
    titulaire: str
    suppleant: str | None = None
    cadre: str | None = None


class Handover(StrictModel):
    weekday: Weekday = 0
    time: ClockTime = time(9, 0)


class WorkingHours(StrictModel):
    """Outside these hours (and on French public holidays) the off-hours rotation is on duty."""

    days: list[Weekday] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)
    start: ClockTime = time(8, 30)
    end: ClockTime = time(18, 30)
    holidays: bool = True
    # Subdivision for regional holidays (e.g. "57" for Moselle), as the `holidays` package names them.
    holidays_subdivision: str | None = None


class OffHours(StrictModel):
    working_hours: WorkingHours = Field(default_factory=WorkingHours)
    slots: list[RosterSlot] = Field(min_length=1)


class Override(StrictModel):
    """Leave or swap: from ``start`` to ``end`` (desk local time if no offset), ``by`` holds
    either every level of ``replace``, or the given ``level``."""

    start: datetime
    end: datetime
    by: str
    replace: str | None = None
    level: Level | None = None
    reason: str | None = None

    @model_validator(mode="after")
    def _what(self) -> Override:
        if (self.replace is None) == (self.level is None):
            raise ValueError("préciser soit « replace » (la personne remplacée), soit « level »")
        if self.end <= self.start:
            raise ValueError("la fin doit être après le début")
        return self


class Roster(StrictModel):
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1)
    # First hand-over: slots[0] is on duty from this date at handover.time.
    start: date
    handover: Handover = Field(default_factory=Handover)
    # Length of one slot of the rotation, in whole days (1w = weekly).
    period: Duration = timedelta(days=7)
    slots: list[RosterSlot] = Field(min_length=1)
    off_hours: OffHours | None = None
    overrides: list[Override] = Field(default_factory=list)

    def members(self) -> set[str]:
        """Everyone who may hold a level of this roster (slots, off-hours, overrides)."""
        slots = self.slots + (self.off_hours.slots if self.off_hours else [])
        found = {pid for slot in slots for pid in (slot.titulaire, slot.suppleant, slot.cadre) if pid}
        return found | {o.by for o in self.overrides}

    @model_validator(mode="after")
    def _shape(self) -> Roster:
        if self.period < timedelta(days=1) or self.period % timedelta(days=1):
            raise ValueError("period doit être un nombre entier de jours (ex. 1w, 7d, 1d)")
        if self.start.weekday() != self.handover.weekday and self.period % timedelta(days=7) == timedelta(0):
            raise ValueError(
                f"start ({self.start.isoformat()}) doit tomber un {WEEKDAYS[self.handover.weekday]}, "
                "jour de la relève"
            )
        return self
