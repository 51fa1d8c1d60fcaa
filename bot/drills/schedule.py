"""When a scheduled drill falls: its next window, and a random time inside it."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import DrillSchedule
from bot.config.drills import parse_window


def next_window(
    schedule: DrillSchedule, now: datetime, zone: ZoneInfo, grace: timedelta
) -> tuple[datetime, datetime]:
    """The first window that ends after ``now``: a weekly window (the whole week if unannounced,
    nights, weekends and holidays included), or a cron time and ``grace`` after it."""
    local = now.astimezone(zone)
    if schedule.cron is not None:
        from apscheduler.triggers.cron import CronTrigger

        trigger = CronTrigger.from_crontab(schedule.cron, timezone=zone)
        fire = trigger.get_next_fire_time(None, local - grace)
        assert fire is not None
        return fire, fire + grace
    assert schedule.window is not None
    day, start, end = parse_window(schedule.window)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    for week in (0, 1):
        base = monday + timedelta(weeks=week)
        if schedule.inopine:
            opens, closes = base, base + timedelta(weeks=1)
        else:
            date = base + timedelta(days=day)
            opens = date.replace(hour=start.hour, minute=start.minute)
            closes = date.replace(hour=end.hour, minute=end.minute)
        if closes > local:
            return opens, closes
    raise AssertionError("a weekly window ends within two weeks")


def pick_time(opens: datetime, closes: datetime, now: datetime, rng: random.Random) -> datetime:
    """A time nobody can guess inside the window (and not in the past)."""
    start = max(opens, now)
    return start + timedelta(seconds=rng.uniform(0, max(0.0, (closes - start).total_seconds())))
