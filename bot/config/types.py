"""Shared pieces of the configuration schema: strict models, durations, phone numbers, levels, days."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Literal

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
)

from bot.durations import parse_duration

SLUG = r"^[a-z0-9][a-z0-9_-]*$"
# A Matrix user id (@localpart:server[:port]); Tchap: @prenom.nom-ars.sante.fr:agent.tchap.gouv.fr
MATRIX_ID = r"^@[a-z0-9._=/+-]+:[A-Za-z0-9.-]+(:[0-9]{1,5})?$"


def to_e164(value: str) -> str:
    """Validate a phone number (French numbers may omit +33) and return it in E.164."""
    try:
        number = phonenumbers.parse(str(value), "FR")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"numéro de téléphone illisible « {value} »") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"numéro de téléphone invalide « {value} »")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


PhoneNumber = Annotated[str, AfterValidator(to_e164)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

# Roster levels, in paging order.
LEVELS = ("titulaire", "suppleant", "cadre")
LEVEL_LABELS_FR = {"titulaire": "titulaire", "suppleant": "suppléant", "cadre": "cadre d'astreinte"}
Level = Literal["titulaire", "suppleant", "cadre"]

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_WEEKDAY_ALIASES = {
    **{name: i for i, name in enumerate(WEEKDAYS)},
    **{
        name: i
        for i, name in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
}


def parse_weekday(value: object) -> int:
    if isinstance(value, int) and 0 <= value <= 6:
        return value
    key = str(value).strip().lower()
    if key in _WEEKDAY_ALIASES:
        return _WEEKDAY_ALIASES[key]
    raise ValueError(f"jour inconnu « {value} » (lundi … dimanche)")


def parse_clock_time(value: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int):  # YAML 1.1 reads 09:00 as a sexagesimal number
        return time(value // 60 % 24, value % 60)
    match = re.fullmatch(r"(\d{1,2})[:h](\d{2})", str(value).strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"heure illisible « {value} » (format HH:MM, ex. 09:00)")
    return time(int(match.group(1)), int(match.group(2)))


Weekday = Annotated[int, BeforeValidator(parse_weekday)]
ClockTime = Annotated[time, BeforeValidator(parse_clock_time)]


class StrictModel(BaseModel):
    # Unknown keys are errors: a typo must not silently disable a setting.
    model_config = ConfigDict(extra="forbid", frozen=True)
