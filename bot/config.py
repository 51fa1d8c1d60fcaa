"""The YAML configuration: schema, validation and located, plain-French error messages.

Secrets never live in this file: channels name the environment variables that hold them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.domain import Category, ChannelKind, Function, Severity, parse_severity
from bot.durations import parse_duration
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


class NotifyRule(StrictModel):
    """One channel of a person's preferences, used ``after`` the page started (0: at once)."""

    channel: ChannelKind
    after: Duration = timedelta(0)


def _notify_rule(value: Any) -> Any:
    return {"channel": value} if isinstance(value, str) else value


class Person(StrictModel):
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1)
    functions: list[Function] = Field(default_factory=list)
    contacts: Contacts = Field(default_factory=Contacts)
    # Ordered channel preferences for pages: `sms` or `{channel: sms, after: 2m}`.
    notify: list[Annotated[NotifyRule, BeforeValidator(_notify_rule)]] = Field(
        default_factory=lambda: [NotifyRule(channel=ChannelKind.CONSOLE)], min_length=1
    )

    @property
    def channels(self) -> list[ChannelKind]:
        return [rule.channel for rule in self.notify]

    def address(self, channel: ChannelKind) -> str | None:
        """This person's address on a channel kind, or None when they have none there."""
        c = self.contacts
        return {
            ChannelKind.CONSOLE: self.id,
            ChannelKind.TELEGRAM: str(c.telegram_id) if c.telegram_id is not None else None,
            ChannelKind.SLACK: c.slack_id,
            ChannelKind.SMS: c.phone,
            ChannelKind.VOICE: c.phone,
            ChannelKind.EMAIL: str(c.email) if c.email else None,
        }[channel]


class RosterSlot(StrictModel):
    titulaire: str
    suppleant: str | None = None
    cadre: str | None = None


class Handover(StrictModel):
    weekday: Weekday = 0
    time: ClockTime = time(9, 0)


class WorkingHours(StrictModel):
    """Outside these hours (and on French public holidays) the off-hours rotation is on duty."""

    days: list[Weekday] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)
    start: ClockTime = time(8, 30)
    end: ClockTime = time(18, 30)
    holidays: bool = True
    # Subdivision for regional holidays (e.g. "57" for Moselle), as the `holidays` package names them.
    holidays_subdivision: str | None = None


class OffHours(StrictModel):
    working_hours: WorkingHours = Field(default_factory=WorkingHours)
    slots: list[RosterSlot] = Field(min_length=1)


class Override(StrictModel):
    """Leave or swap: from ``start`` to ``end`` (desk local time if no offset), ``by`` holds
    either every level of ``replace``, or the given ``level``."""

    start: datetime
    end: datetime
    by: str
    replace: str | None = None
    level: Level | None = None
    reason: str | None = None

    @model_validator(mode="after")
    def _what(self) -> Override:
        if (self.replace is None) == (self.level is None):
            raise ValueError("préciser soit « replace » (la personne remplacée), soit « level »")
        if self.end <= self.start:
            raise ValueError("la fin doit être après le début")
        return self


class Roster(StrictModel):
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1)
    # First hand-over: slots[0] is on duty from this date at handover.time.
    start: date
    handover: Handover = Field(default_factory=Handover)
    # Length of one slot of the rotation, in whole days (1w = weekly).
    period: Duration = timedelta(days=7)
    slots: list[RosterSlot] = Field(min_length=1)
    off_hours: OffHours | None = None
    overrides: list[Override] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shape(self) -> Roster:
        if self.period < timedelta(days=1) or self.period % timedelta(days=1):
            raise ValueError("period doit être un nombre entier de jours (ex. 1w, 7d, 1d)")
        if self.start.weekday() != self.handover.weekday and self.period % timedelta(days=7) == timedelta(0):
            raise ValueError(
                f"start ({self.start.isoformat()}) doit tomber un {WEEKDAYS[self.handover.weekday]}, "
                "jour de la relève"
            )
        return self


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


class ConsoleChannel(StrictModel):
    enabled: bool = True


class TelegramConfig(StrictModel):
    enabled: bool = False
    # Environment variable holding the bot token (from @BotFather). Never the token itself.
    token_env: str = "VIGIE_TELEGRAM_TOKEN"
    # Bot API base URL, the token is appended: tests and air-gapped sites point it elsewhere.
    base_url: str = "https://api.telegram.org/bot"
    # polling: works behind a firewall; webhook: Telegram calls desk.public_url/telegram/webhook.
    mode: Literal["polling", "webhook"] = "polling"
    # Long-poll wait of getUpdates; also how long stopping the service may wait for it.
    poll_timeout: Duration = timedelta(seconds=10)
    webhook_secret_env: str = "VIGIE_TELEGRAM_WEBHOOK_SECRET"
    # Forum supergroup where crisis rooms are opened as topics (the bot must be admin there).
    crisis_chat_id: int | None = None


class SlackConfig(StrictModel):
    enabled: bool = False
    token_env: str = "VIGIE_SLACK_BOT_TOKEN"  # xoxb-…
    signing_secret_env: str = "VIGIE_SLACK_SIGNING_SECRET"
    # Web API base URL: tests and air-gapped sites point it elsewhere.
    base_url: str = "https://slack.com/api/"
    # Socket Mode: no public URL needed; an app-level token (xapp-…) instead of HTTP events.
    socket_mode: bool = False
    app_token_env: str = "VIGIE_SLACK_APP_TOKEN"


class TwilioConfig(StrictModel):
    """SMS through Twilio. Webhooks (inbound SMS, delivery status) are called on
    desk.public_url: /twilio/sms and /twilio/status."""

    enabled: bool = False
    account_sid_env: str = "VIGIE_TWILIO_ACCOUNT_SID"
    auth_token_env: str = "VIGIE_TWILIO_AUTH_TOKEN"
    # REST API base URL: tests and air-gapped sites point it elsewhere.
    base_url: str = "https://api.twilio.com"
    # The desk's number: pages come from it, and SMS sent to it are signals or replies.
    sms_from: PhoneNumber | None = None
    # Voice pages (calls read in French, keys 1/2/9); from voice_from, else sms_from.
    voice: bool = True
    voice_from: PhoneNumber | None = None


class EmailConfig(StrictModel):
    """Pages and notices by e-mail (aiosmtplib), with signed links to take or escalate."""

    enabled: bool = False
    smtp_host: str = "localhost"
    smtp_port: int = 587
    # starttls (port 587), tls (implicit, port 465) or none (a local relay only).
    security: Literal["starttls", "tls", "none"] = "starttls"
    username_env: str | None = "VIGIE_SMTP_USERNAME"
    password_env: str | None = "VIGIE_SMTP_PASSWORD"
    from_address: EmailStr = "vigie@localhost.localdomain"  # type: ignore[assignment]
    # Secret that signs the links in e-mails (environment variable).
    link_secret_env: str = "VIGIE_LINK_SECRET"
    link_ttl: Duration = timedelta(hours=24)


class MailboxConfig(StrictModel):
    """The "alerte" mailbox: an SMTP receiver; each mail is a signal (or a reply to one)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2525
    addresses: list[EmailStr] = Field(default_factory=list)
    max_bytes: int = 10 * 1024 * 1024


class ChannelsConfig(StrictModel):
    console: ConsoleChannel = Field(default_factory=ConsoleChannel)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    twilio: TwilioConfig = Field(default_factory=TwilioConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    mailbox: MailboxConfig = Field(default_factory=MailboxConfig)
    # A provider unreachable at start leaves its channel degraded; it is tried again with
    # exponential back-off (random jitter), at most this long between two attempts.
    reconnect_max: Duration = timedelta(seconds=60)

    def enabled(self) -> list[ChannelKind]:
        kinds = []
        if self.console.enabled:
            kinds.append(ChannelKind.CONSOLE)
        if self.telegram.enabled:
            kinds.append(ChannelKind.TELEGRAM)
        if self.slack.enabled:
            kinds.append(ChannelKind.SLACK)
        if self.twilio.enabled:
            kinds.append(ChannelKind.SMS)
            if self.twilio.voice:
                kinds.append(ChannelKind.VOICE)
        if self.email.enabled:
            kinds.append(ChannelKind.EMAIL)
        return kinds


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


class RateLimit(StrictModel):
    count: int = Field(ge=1)
    per: Duration
    # Merge messages waiting for the same contact into one (SMS); false: only delay them
    # (chat, where a page keeps its own buttons).
    merge: bool = True


def _default_rate_limits() -> dict[ChannelKind, RateLimit]:
    # Telegram allows about one message per second to one chat.
    return {ChannelKind.TELEGRAM: RateLimit(count=1, per=timedelta(seconds=1), merge=False)}


class DeliveryConfig(StrictModel):
    # A page not delivered within this time fails over to the person's next channel.
    timeout: Duration = timedelta(minutes=2)
    # Quick in-process retries of a transient failure (tenacity), then durable back-off.
    retries: int = Field(default=3, ge=1, le=10)
    max_attempts: int = Field(default=6, ge=1, le=50)
    # Per contact and channel, e.g. sms: {count: 1, per: 1m}. Never drops: delays or merges.
    rate_limits: dict[ChannelKind, RateLimit] = Field(default_factory=_default_rate_limits)


def _default_permissions() -> dict[str, list[Function]]:
    return {
        "relais": [Function.REFERENT, Function.CADRE, Function.RESPONSABLE],
        "clore": [Function.CADRE, Function.RESPONSABLE, Function.PILOTAGE, Function.DECISION],
    }


class VigieConfig(StrictModel):
    version: Literal[1] = 1
    desk: DeskConfig
    people: list[Person] = Field(default_factory=list)
    # People told when a ladder ends with nobody answering; default: functions cadre and responsable.
    duty_officers: list[str] = Field(default_factory=list)
    rosters: list[Roster] = Field(default_factory=list)
    ladders: list[Ladder] = Field(default_factory=list)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    # Chat commands that change the desk, and the functions allowed to run them.
    permissions: dict[Literal["relais", "clore"], list[Function]] = Field(
        default_factory=_default_permissions
    )

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

    def allowed_functions(self, command: str) -> list[Function]:
        return self.permissions.get(command, _default_permissions().get(command, []))  # type: ignore[call-overload]

    def roster(self, roster_id: str) -> Roster | None:
        return next((r for r in self.rosters if r.id == roster_id), None)

    def ladder(self, ladder_id: str) -> Ladder | None:
        return next((ladder for ladder in self.ladders if ladder.id == ladder_id), None)

    def default_ladder(self) -> Ladder | None:
        if self.intake.default_ladder:
            return self.ladder(self.intake.default_ladder)
        return self.ladder("default") or (self.ladders[0] if self.ladders else None)

    def officers(self) -> list[str]:
        if self.duty_officers:
            return list(self.duty_officers)
        return [p.id for p in self.people if {Function.CADRE, Function.RESPONSABLE} & set(p.functions)]

    def cross_check(self) -> list[tuple[tuple[int | str, ...], str]]:
        """References between sections: every name must point at something that exists."""
        people = {p.id for p in self.people}
        found: list[tuple[tuple[int | str, ...], str]] = []

        def person(loc: tuple[int | str, ...], pid: str | None) -> None:
            if pid is not None and pid not in people:
                found.append((loc, f"personne inconnue « {pid} » (absente de people)"))

        for i, pid in enumerate(self.duty_officers):
            person(("duty_officers", i), pid)
        ids: set[str] = set()
        for r, roster in enumerate(self.rosters):
            if roster.id in ids:
                found.append(
                    (("rosters", r, "id"), f"identifiant de tableau d'astreinte en double « {roster.id} »")
                )
            ids.add(roster.id)
            groups = [("slots", roster.slots)]
            if roster.off_hours:
                groups.append(("off_hours", roster.off_hours.slots))
            for name, slots in groups:
                base: tuple[int | str, ...] = (
                    ("rosters", r, name) if name == "slots" else ("rosters", r, name, "slots")
                )
                for s, slot in enumerate(slots):
                    for level in LEVELS:
                        person((*base, s, level), getattr(slot, level))
            for o, override in enumerate(roster.overrides):
                person(("rosters", r, "overrides", o, "by"), override.by)
                person(("rosters", r, "overrides", o, "replace"), override.replace)
        ladder_ids: set[str] = set()
        for la, ladder in enumerate(self.ladders):
            if ladder.id in ladder_ids:
                found.append((("ladders", la, "id"), f"identifiant d'échelle en double « {ladder.id} »"))
            ladder_ids.add(ladder.id)
            if ladder.roster is not None and self.roster(ladder.roster) is None:
                found.append((("ladders", la, "roster"), f"tableau d'astreinte inconnu « {ladder.roster} »"))
            level_needs_roster = "est un niveau d'astreinte : préciser le roster de l'échelle"
            for st, step in enumerate(ladder.steps):
                for t, target in enumerate(step.page):
                    loc = ("ladders", la, "steps", st, "page", t)
                    if target in LEVELS:
                        if ladder.roster is None:
                            found.append(
                                (
                                    loc,
                                    f"« {target} » {level_needs_roster}",
                                )
                            )
                    elif target not in people:
                        found.append(
                            (
                                loc,
                                f"« {target} » n'est ni un niveau (titulaire, suppleant, cadre) "
                                "ni une personne connue",
                            )
                        )
        if self.channels.twilio.enabled:
            if self.channels.twilio.sms_from is None:
                found.append(
                    (("channels", "twilio", "sms_from"), "numéro d'envoi obligatoire quand Twilio est activé")
                )
            if self.desk.public_url is None:
                found.append(
                    (("desk", "public_url"), "adresse publique obligatoire pour les webhooks Twilio")
                )
        for i, route in enumerate(self.intake.routes):
            if route.ladder not in ladder_ids:
                found.append((("intake", "routes", i, "ladder"), f"échelle inconnue « {route.ladder} »"))
        if self.intake.default_ladder and self.intake.default_ladder not in ladder_ids:
            found.append((("intake", "default_ladder"), f"échelle inconnue « {self.intake.default_ladder} »"))
        return found

    def warnings(self) -> list[str]:
        """Problems that do not stop the service but that a desk manager must see."""
        found: list[str] = []
        enabled = set(self.channels.enabled())
        for index, person in enumerate(self.people):
            if not self.usable_channels(person):
                found.append(
                    f"people[{index}] ({person.id}) : aucun canal de notification utilisable "
                    f"(préférences : {', '.join(person.channels)} ; canaux activés : "
                    f"{', '.join(sorted(enabled)) or 'aucun'})"
                )
        for r, roster in enumerate(self.rosters):
            slots = [("slots", s, slot) for s, slot in enumerate(roster.slots)]
            if roster.off_hours:
                slots += [("off_hours.slots", s, slot) for s, slot in enumerate(roster.off_hours.slots)]
            for where, s, slot in slots:
                for level in LEVELS:
                    pid = getattr(slot, level)
                    member = self.person(pid) if pid else None
                    if member is not None and not self.usable_channels(member):
                        found.append(
                            f"rosters[{r}].{where}[{s}].{level} ({pid}) : cette personne n'a aucun contact "
                            "utilisable, elle ne pourra pas être appelée"
                        )
        if self.ladders and not self.officers():
            found.append(
                "aucun cadre ni responsable : personne ne sera prévenu si une échelle reste sans réponse"
            )
        if not self.ladders:
            found.append(
                "aucune échelle (ladders) : les signaux seront enregistrés mais personne ne sera appelé"
            )
        return found

    def usable_channels(self, person: Person) -> list[ChannelKind]:
        enabled = set(self.channels.enabled())
        return [kind for kind in person.channels if kind in enabled and person.address(kind)]


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
        config = VigieConfig.model_validate(data)
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
    crossed = config.cross_check()
    if crossed:
        raise ConfigError(
            path,
            [ConfigProblem(format_location(loc), _line_of(root, loc), message) for loc, message in crossed],
        )
    return config


def load_config(path: Path) -> VigieConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [ConfigProblem("", None, "fichier introuvable")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [ConfigProblem("", None, f"fichier illisible : {exc}")]) from None
    return parse_config(text, path)
