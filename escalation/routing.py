"""Which ladder pages for a signal: a drill's or a heartbeat monitor's own, the first matching
intake route, else the default ladder."""

from __future__ import annotations

from bot.config import IntakeRoute, Ladder, VigieConfig
from bot.domain import Severity
from bot.models import SignalRow


def _matches(route: IntakeRoute, signal: SignalRow) -> bool:
    if route.token is not None and signal.origin_address != f"token:{route.token}":
        return False
    if route.source is not None and signal.source != route.source:
        return False
    if route.category is not None and signal.category != route.category.value:
        return False
    if route.min_severity is not None:
        if signal.severity is None or Severity(signal.severity).rank < route.min_severity.rank:
            return False
    return True


def choose_ladder(config: VigieConfig, signal: SignalRow) -> Ladder | None:
    # A drill tries the ladder it was given; a silent source's monitor names its own. (Only Vigie
    # itself sets this attribute: what comes from outside is kept under ``extra``.)
    attributes = signal.attributes or {}
    named = attributes.get("ladder")
    internal = signal.is_exercise or "heartbeat" in attributes
    if internal and isinstance(named, str) and config.ladder(named) is not None:
        return config.ladder(named)
    for route in config.intake.routes:
        if _matches(route, signal):
            return config.ladder(route.ladder)
    return config.default_ladder()
