"""Escalation ladders: who is paged at each step, how long to wait, how often to repeat."""

from __future__ import annotations

from pydantic import (
    Field,
)

from bot.config.types import SLUG, Duration, StrictModel
from bot.domain import ChannelKind


class LadderStep(StrictModel):
    # Roster levels (titulaire, suppleant, cadre) and/or person ids.
    page: list[str] = Field(min_length=1)
    wait: Duration
    # Channels to use instead of each person's preferences.
    channels: list[ChannelKind] | None = None


class Ladder(StrictModel):
    id: str = Field(pattern=SLUG)
    name: str | None = None
    roster: str | None = None
    steps: list[LadderStep] = Field(min_length=1)
    # How many more times the whole ladder is walked when nobody answered.
    repeat: int = Field(default=0, ge=0, le=20)
