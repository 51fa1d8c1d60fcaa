"""Who holds each level now and next, as data for the CLI, the API and the chat commands."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.config import LEVELS
from escalation.context import PagingContext
from escalation.rosters import OnCall


class UnknownRoster(LookupError):
    pass


def _levels(ctx: PagingContext, on_call: OnCall) -> dict[str, dict[str, str] | None]:
    return {
        level: ({"id": pid, "name": ctx.name(pid)} if pid else None) for level, pid in on_call.holders.items()
    }


def oncall_view(ctx: PagingContext, at: datetime, roster_id: str | None = None) -> list[dict[str, Any]]:
    rosters = ctx.config.rosters
    if roster_id is not None:
        rosters = [r for r in rosters if r.id == roster_id]
        if not rosters:
            raise UnknownRoster(roster_id)
    out = []
    for roster in rosters:
        schedule = ctx.schedules[roster.id]
        now = schedule.on_call(at)
        change = schedule.next_change(at)
        out.append(
            {
                "id": roster.id,
                "name": roster.name,
                "at": at.isoformat(),
                "off_hours": now.off_hours,
                "levels": _levels(ctx, now),
                "next": {"at": change.at.isoformat(), "levels": _levels(ctx, change)} if change else None,
            }
        )
    return out


def format_oncall(ctx: PagingContext, views: list[dict[str, Any]]) -> str:
    """Plain French text, the same for the CLI and the chat command /astreinte."""
    lines = []
    for view in views:
        period = " (hors heures ouvrées)" if view["off_hours"] else ""
        lines.append(f"{view['name']} [{view['id']}]{period}")
        for level in LEVELS:
            holder = view["levels"].get(level)
            if holder is not None or level != "cadre":
                lines.append(f"  {ctx.level_label(level):<18} {holder['name'] if holder else 'non pourvu'}")
        nxt = view["next"]
        if nxt:
            when = ctx.local_day(datetime.fromisoformat(nxt["at"]))
            who = ", ".join(
                f"{ctx.level_label(lv)} {h['name']}"
                for lv in LEVELS
                if (h := nxt["levels"].get(lv)) is not None
            )
            lines.append(f"  prochaine relève : {when} → {who}")
    return "\n".join(lines) if lines else "Aucun tableau d'astreinte configuré."


def roster_ics(ctx: PagingContext, roster_id: str, start: datetime, weeks: int) -> bytes:
    """iCalendar export: one event per level and per period somebody holds it."""
    from icalendar import Calendar, Event  # on first export: no share of every start

    roster = ctx.config.roster(roster_id)
    if roster is None:
        raise UnknownRoster(roster_id)
    schedule = ctx.schedules[roster_id]
    cal = Calendar()
    cal.add("prodid", "-//Vigie//astreinte//FR")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"Astreinte — {roster.name}")
    cal.add("x-wr-timezone", ctx.config.desk.timezone)
    end = start + timedelta(weeks=weeks)
    spans: dict[str, list[list[Any]]] = {level: [] for level in LEVELS}
    # Begin one rotation back, so the duty under way starts at its real hand-over, not "now".
    for seg_start, seg_end, on_call in schedule.segments(start - schedule.period, end):
        for level in LEVELS:
            pid = on_call.holders.get(level)
            runs = spans[level]
            if runs and runs[-1][2] == pid and runs[-1][1] == seg_start:
                runs[-1][1] = seg_end  # same person goes on holding the level: one event
            else:
                runs.append([seg_start, seg_end, pid])
    for level in LEVELS:
        for seg_start, seg_end, pid in spans[level]:
            if pid is None or seg_end <= start:
                continue
            event = Event()
            event.add("uid", f"{roster_id}-{level}-{int(seg_start.timestamp())}@vigie")
            event.add("summary", f"{ctx.level_label(level).capitalize()} : {ctx.name(pid)}")
            event.add("dtstart", seg_start.astimezone(ctx.zone))
            event.add("dtend", seg_end.astimezone(ctx.zone))
            event.add("dtstamp", start)
            event.add("categories", [roster.name])
            cal.add_component(event)
    return cal.to_ical()
