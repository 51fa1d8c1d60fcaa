"""The YAML configuration: schema, validation and located, plain-French error messages.

Secrets never live in this file: channels name the environment variables that hold them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.domain import ChannelKind, Function
from bot.validation import format_location, french_message

SLUG = r"^[a-z0-9][a-z0-9_-]*$"


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


class StrictModel(BaseModel):
    # Unknown keys are errors: a typo must not silently disable a setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class Contacts(StrictModel):
    phone: PhoneNumber | None = None
    email: EmailStr | None = None
    telegram_id: int | None = None
    slack_id: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,}$")


class Person(StrictModel):
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1)
    functions: list[Function] = Field(default_factory=list)
    contacts: Contacts = Field(default_factory=Contacts)
    # Ordered channel preferences for pages.
    notify: list[ChannelKind] = Field(default_factory=lambda: [ChannelKind.CONSOLE], min_length=1)


class ConsoleChannel(StrictModel):
    enabled: bool = True


class ChannelsConfig(StrictModel):
    console: ConsoleChannel = Field(default_factory=ConsoleChannel)

    def enabled(self) -> list[ChannelKind]:
        kinds = []
        if self.console.enabled:
            kinds.append(ChannelKind.CONSOLE)
        return kinds


class AlertmanagerIntake(StrictModel):
    # group_key: one signal per Alertmanager group; fingerprint: one per alert.
    dedup_by: Literal["group_key", "fingerprint"] = "group_key"


class IntakeConfig(StrictModel):
    alertmanager: AlertmanagerIntake = Field(default_factory=AlertmanagerIntake)


class VigieConfig(StrictModel):
    version: Literal[1] = 1
    desk: DeskConfig
    people: list[Person] = Field(default_factory=list)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)

    @model_validator(mode="after")
    def _unique_people(self) -> VigieConfig:
        seen: set[str] = set()
        for person in self.people:
            if person.id in seen:
                raise ValueError(f"identifiant de personne en double : « {person.id} »")
            seen.add(person.id)
        return self

    def person(self, person_id: str) -> Person | None:
        return next((p for p in self.people if p.id == person_id), None)

    def warnings(self) -> list[str]:
        """Problems that do not stop the service but that a desk manager must see."""
        found: list[str] = []
        enabled = set(self.channels.enabled())
        for index, person in enumerate(self.people):
            usable = [kind for kind in person.notify if kind in enabled and _has_contact(person, kind)]
            if not usable:
                found.append(
                    f"people[{index}] ({person.id}) : aucun canal de notification utilisable "
                    f"(préférences : {', '.join(person.notify)} ; canaux activés : "
                    f"{', '.join(sorted(enabled)) or 'aucun'})"
                )
        return found


def _has_contact(person: Person, kind: ChannelKind) -> bool:
    contacts = person.contacts
    return {
        ChannelKind.CONSOLE: True,
        ChannelKind.TELEGRAM: contacts.telegram_id is not None,
        ChannelKind.SLACK: contacts.slack_id is not None,
        ChannelKind.SMS: contacts.phone is not None,
        ChannelKind.VOICE: contacts.phone is not None,
        ChannelKind.EMAIL: contacts.email is not None,
    }[kind]


# --- loading and error reporting -------------------------------------------------


@dataclass(frozen=True)
class ConfigProblem:
    location: str  # path inside the document, e.g. people[3].contacts.phone
    line: int | None
    message: str


class ConfigError(Exception):
    def __init__(self, path: Path, problems: list[ConfigProblem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"Configuration invalide : {self.path} ({len(self.problems)} erreur(s))"]
        for problem in self.problems:
            where = f"{self.path}:{problem.line}" if problem.line else str(self.path)
            loc = f"{problem.location} : " if problem.location else ""
            lines.append(f"  {where}: {loc}{problem.message}")
        return "\n".join(lines)


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Line (1-based) of the deepest node of ``loc`` present in the YAML document."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def parse_config(text: str, path: Path) -> VigieConfig:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [ConfigProblem("", line, f"YAML illisible : {reason}")]) from exc
    if not isinstance(data, dict):
        raise ConfigError(path, [ConfigProblem("", 1, "le document doit être une section (clé: valeur)")])
    try:
        return VigieConfig.model_validate(data)
    except ValidationError as exc:
        problems = [
            ConfigProblem(
                location=format_location(tuple(err["loc"])),
                line=_line_of(root, tuple(err["loc"])),
                message=french_message(dict(err)),
            )
            for err in exc.errors()
        ]
        raise ConfigError(path, problems) from None


def load_config(path: Path) -> VigieConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [ConfigProblem("", None, "fichier introuvable")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [ConfigProblem("", None, f"fichier illisible : {exc}")]) from None
    return parse_config(text, path)
