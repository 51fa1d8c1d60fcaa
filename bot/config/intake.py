"""Intake: Alertmanager deduplication and the routes from a signal to its ladder."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
)

from bot.config.types import StrictModel
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


class IntakeConfig(StrictModel):
    alertmanager: AlertmanagerIntake = Field(default_factory=AlertmanagerIntake)
    routes: list[IntakeRoute] = Field(default_factory=list)
    # Ladder for signals no route matches; default: the ladder named "default", else the first.
    default_ladder: str | None = None
