"""Intake: Alertmanager deduplication and the routes from a signal to its ladder."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
)

from bot.config.types import Duration, StrictModel
from bot.domain import Category, Severity, parse_severity


class AlertmanagerIntake(StrictModel):
    # group_key: one signal per Alertmanager group; fingerprint: one per alert.
    dedup_by: Literal["group_key", "fingerprint"] = "group_key"


class IntakeRoute(StrictModel):
    """Signals matching every given criterion go to ``ladder``; the first matching route wins."""

    token: str | None = None
    source: str | None = None
    category: Category | None = None
    min_severity: Annotated[Severity | None, BeforeValidator(lambda v: parse_severity(v) if v else v)] = None
    ladder: str


class FloodConfig(StrictModel):
    """An unknown SMS number or mail sender writing again and again: its messages within
    ``window`` of the last one join its first signal (history), paging nobody again and getting
    no further receipt (Vigie must not be a way to spam a number or run up the desk's bill)."""

    window: Duration = timedelta(minutes=10)


class StormConfig(StrictModel):
    """An API token sending a burst of distinct signals (a looping script, a misconfigured
    Alertmanager): beyond ``limit`` signals within ``per``, the next ones are stored and receipted
    but grouped into one alert for that source, sent after ``gather`` so that it counts the burst."""

    limit: int = Field(default=20, ge=1)
    per: Duration = timedelta(minutes=2)
    gather: Duration = timedelta(minutes=1)


class IntakeConfig(StrictModel):
    alertmanager: AlertmanagerIntake = Field(default_factory=AlertmanagerIntake)
    floods: FloodConfig = Field(default_factory=FloodConfig)
    storm: StormConfig = Field(default_factory=StormConfig)
    routes: list[IntakeRoute] = Field(default_factory=list)
    # Ladder for signals no route matches; default: the ladder named "default", else the first.
    default_ladder: str | None = None
