"""Human durations in configuration and commands: ``30s``, ``5m``, ``1h30m``, ``2d``, ``1w``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "j": 86400, "w": 604800}
_PART = re.compile(r"(\d+)\s*(min|s|m|h|d|j|w)")


def parse_duration(value: object) -> timedelta:
    """Parse ``1h30m``-style text (``j`` for jours accepted); a bare number is seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    text = str(value).strip().lower().replace(" ", "")
    if text.isdigit():
        return timedelta(seconds=int(text))
    pos, total = 0, 0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"durée illisible « {value} » (exemples : 30s, 5m, 1h30m, 2d)")
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    out = []
    for unit, size in (("j", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(out) or "0s"


def human(span: timedelta) -> str:
    """« 2 h », « 1 h 30 », « 45 min »."""
    minutes = int(span.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" + (f" {rest:02d}" if rest else "")


def parse_due(text: str, now: datetime, zone: object) -> tuple[str, datetime | None]:
    """``… échéance 16h30`` / ``… avant 16:30`` / ``due 16:30``: the text without it, and the due
    time (today, or tomorrow when that hour has passed)."""
    found = re.search(r"\b(?:[ée]ch[ée]ance|avant|due|by)\s+(\d{1,2})\s*[h:]\s*(\d{2})?\b", text, re.I)
    if found is None:
        return text, None
    hour, minute = int(found[1]), int(found[2] or 0)
    if hour > 23 or minute > 59:
        return text, None
    local = now.astimezone(zone)  # type: ignore[arg-type]
    due = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if due <= local:
        due += timedelta(days=1)
    return (text[: found.start()] + text[found.end() :]).strip(), due


def took(seconds: float | None) -> str:
    """« 4 min 12 s », « 38 s », « — »."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
