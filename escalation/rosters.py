"""Who is on duty when: rotations, working-hours / off-hours splits, holidays and overrides.

All arithmetic is done on local wall-clock time in the desk's zone, so a Monday 09:00 hand-over
stays at 09:00 on both sides of a daylight-saving change; instants are converted to UTC only at
the edges.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.config import LEVELS, Override, Roster, RosterSlot

if TYPE_CHECKING:
    import holidays


@dataclass(frozen=True)
class OnCall:
    """The holders of each level at one instant."""

    roster_id: str
    at: datetime
    holders: dict[str, str | None]  # level -> person id
    off_hours: bool
    slot_index: int

    @property
    def titulaire(self) -> str | None:
        return self.holders.get("titulaire")

    @property
    def suppleant(self) -> str | None:
        return self.holders.get("suppleant")

    @property
    def cadre(self) -> str | None:
        return self.holders.get("cadre")

    def same_holders(self, other: OnCall) -> bool:
        return self.holders == other.holders


@dataclass(frozen=True)
class ExtraOverride:
    """An override decided at run time (e.g. a duty officer taking the duty with /relais)."""

    start: datetime  # aware
    end: datetime  # aware
    by: str
    replace: str | None = None
    level: str | None = None


@cache
def _holiday_calendar(subdivision: str | None) -> holidays.HolidayBase:
    # Imported on first use: the package loads every country's calendar (a tenth of a second
    # of every start), and only rosters with off-hours need it.
    import holidays

    return holidays.country_holidays("FR", subdiv=subdivision)


def _aware(naive: datetime, zone: ZoneInfo) -> datetime:
    return naive.replace(tzinfo=zone).astimezone(UTC)


class RosterSchedule:
    def __init__(self, roster: Roster, zone: ZoneInfo, extra: Sequence[ExtraOverride] = ()) -> None:
        self.roster = roster
        self.zone = zone
        self.anchor = datetime.combine(roster.start, roster.handover.time)  # naive local
        self.period = roster.period
        self.overrides: list[ExtraOverride] = [self._from_config(o) for o in roster.overrides] + list(extra)

    def _from_config(self, override: Override) -> ExtraOverride:
        def aware(value: datetime) -> datetime:
            return value.astimezone(UTC) if value.tzinfo else _aware(value, self.zone)

        return ExtraOverride(
            aware(override.start), aware(override.end), override.by, override.replace, override.level
        )

    def _local(self, at: datetime) -> datetime:
        return at.astimezone(self.zone).replace(tzinfo=None)

    def is_off_hours(self, local: datetime) -> bool:
        if self.roster.off_hours is None:
            return False
        hours = self.roster.off_hours.working_hours
        day = local.date()
        if local.weekday() not in hours.days:
            return True
        if hours.holidays and day in _holiday_calendar(hours.holidays_subdivision):
            return True
        return not (hours.start <= local.time() < hours.end)

    def _rotation_index(self, local: datetime) -> int:
        return (local - self.anchor) // self.period

    def on_call(self, at: datetime) -> OnCall:
        local = self._local(at)
        index = self._rotation_index(local)
        off = self.is_off_hours(local)
        slots: list[RosterSlot] = (
            self.roster.off_hours.slots if off and self.roster.off_hours else self.roster.slots
        )
        slot = slots[index % len(slots)]
        holders: dict[str, str | None] = {level: getattr(slot, level) for level in LEVELS}
        for override in self.overrides:
            if override.start <= at < override.end:
                if override.level is not None:
                    holders[override.level] = override.by
                else:
                    holders = {
                        lv: (override.by if pid == override.replace else pid) for lv, pid in holders.items()
                    }
        return OnCall(self.roster.id, at, holders, off, index % len(slots))

    def boundaries(self, start: datetime, end: datetime) -> list[datetime]:
        """Every instant in (start, end] where the holders may change, in order."""
        local_start, local_end = self._local(start), self._local(end)
        candidates: set[datetime] = set()
        n = self._rotation_index(local_start) + 1
        while (handover := self.anchor + n * self.period) <= local_end:
            candidates.add(handover)
            n += 1
        if self.roster.off_hours is not None:
            hours = self.roster.off_hours.working_hours
            day: date = local_start.date()
            while day <= local_end.date() + timedelta(days=1):
                for moment in (time(0, 0), hours.start, hours.end):
                    candidates.add(datetime.combine(day, moment))
                day += timedelta(days=1)
        instants = {_aware(c, self.zone) for c in candidates}
        for override in self.overrides:
            instants.update((override.start, override.end))
        return sorted(i for i in instants if start < i <= end)

    def next_change(self, at: datetime, horizon: timedelta = timedelta(days=62)) -> OnCall | None:
        """The first instant after ``at`` when someone else holds a level."""
        current = self.on_call(at)
        for instant in self.boundaries(at, at + horizon):
            candidate = self.on_call(instant)
            if not candidate.same_holders(current):
                return candidate
        return None

    def segments(self, start: datetime, end: datetime) -> Iterable[tuple[datetime, datetime, OnCall]]:
        """Consecutive periods of unchanged holders between start and end."""
        current_start, current = start, self.on_call(start)
        for instant in self.boundaries(start, end):
            candidate = self.on_call(instant)
            if not candidate.same_holders(current):
                yield current_start, instant, current
                current_start, current = instant, candidate
        if current_start < end:
            yield current_start, end, current

    def handovers(self, start: datetime, end: datetime) -> list[OnCall]:
        """Rotation hand-overs (not working-hours switches) in (start, end]."""
        local_start, local_end = self._local(start), self._local(end)
        out = []
        n = self._rotation_index(local_start) + 1
        while (handover := self.anchor + n * self.period) <= local_end:
            instant = _aware(handover, self.zone)
            if start < instant <= end:
                out.append(self.on_call(instant))
            n += 1
        return out
