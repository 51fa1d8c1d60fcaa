"""Watching the sources: heartbeat monitors (a silent source is itself an alert), Vigie's own
dead-man's switch, and maintenance windows (a source's known noise held back)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from bot.config.types import SLUG, Duration, StrictModel
from bot.domain import Severity


class Heartbeat(StrictModel):
    id: str = Field(pattern=SLUG)
    name: str | None = Field(default=None, max_length=120)  # « Surveillance de l'eau potable »
    every: Duration  # the source pings at least this often
    grace: Duration = timedelta(minutes=5)  # … and is called silent this much later
    ladder: str | None = None  # who is paged when it falls silent (default: the intake routes)
    severity: Severity = Severity.MAJEURE
    # The API tokens allowed to ping it (by name); none: any token allowed to raise signals.
    tokens: list[str] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or self.id


class Watchdog(StrictModel):
    """Who watches Vigie? It pings a dead-man's switch (a second Vigie's heartbeat monitor at
    another site, or any healthchecks-style URL) every ``every``; silence there means this one
    is down."""

    url: str = Field(pattern=r"^https?://")
    every: Duration = timedelta(minutes=1)
    # The bearer token the other side expects (a second Vigie's API token), from the environment.
    token_env: str | None = "VIGIE_WATCHDOG_TOKEN"


class MaintenanceConfig(StrictModel):
    # A signal this severe or worse pages at once even from a source in maintenance.
    pages_anyway_from: Severity = Severity.CRITIQUE
    longest: Duration = timedelta(days=7)  # a window longer than this is refused (a typo in --for)


class SelfCheckConfig(StrictModel):
    """Vigie watching its own work (as Grafana OnCall's escalation auditor): overdue ladder
    steps, messages stuck in « sending », a channel whose last deliveries all failed."""

    every: Duration = timedelta(minutes=1)
    overdue: Duration = timedelta(minutes=2)  # a ladder step this late is stalled work
    stuck: Duration = timedelta(minutes=10)  # « sending » this long: the lease sweep is not running
    failed_streak: int = Field(default=5, ge=2)  # this many failures in a row: the channel is broken
    retell: Duration = timedelta(hours=1)  # a problem still there is told again after this long
