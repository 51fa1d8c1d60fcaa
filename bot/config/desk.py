"""The desk itself: name, time zone, language, references, public address."""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    field_validator,
)

from bot.config.types import StrictModel


class DeskConfig(StrictModel):
    name: str = Field(min_length=1)
    timezone: str = "Europe/Paris"
    language: Literal["fr", "en"] = "fr"
    reference_prefix: str = Field(default="PFR", pattern=r"^[A-Z][A-Z0-9]{1,9}$")
    public_url: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"fuseau horaire inconnu « {value} » (exemple : Europe/Paris)") from exc
        return value

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("adresse publique invalide : attendu http(s)://hôte[:port]")
        return value.rstrip("/") if value else value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
