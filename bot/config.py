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
        return cross_check(self.model_dump())

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


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


def _section(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def cross_check(data: dict[str, Any], lang: str = "fr") -> list[tuple[tuple[int | str, ...], str]]:
    """References between sections, on the document as written (so that they are reported in the
    same run as the errors of form, whatever else is wrong): every name must exist."""
    people = {str(p.get("id")) for _, p in _items(data.get("people")) if p.get("id") is not None}
    found: list[tuple[tuple[int | str, ...], str]] = []

    def say(fr: str, en: str) -> str:
        return en if lang == "en" else fr

    def person(loc: tuple[int | str, ...], pid: Any) -> None:
        if isinstance(pid, str) and pid not in people:
            found.append(
                (
                    loc,
                    say(
                        f"personne inconnue « {pid} » (absente de people)",
                        f"unknown person “{pid}” (not in people)",
                    ),
                )
            )

    officers = data.get("duty_officers")
    for i, pid in enumerate(officers if isinstance(officers, list) else []):
        person(("duty_officers", i), pid)
    roster_ids: set[str] = set()
    for r, roster in _items(data.get("rosters")):
        rid = roster.get("id")
        if rid in roster_ids:
            found.append(
                (
                    ("rosters", r, "id"),
                    say(
                        f"identifiant de tableau d'astreinte en double « {rid} »",
                        f"duplicate roster id “{rid}”",
                    ),
                )
            )
        if isinstance(rid, str):
            roster_ids.add(rid)
        groups: list[tuple[tuple[int | str, ...], Any]] = [(("rosters", r, "slots"), roster.get("slots"))]
        off = _section(roster.get("off_hours"))
        if off:
            groups.append((("rosters", r, "off_hours", "slots"), off.get("slots")))
        for base, slots in groups:
            for s_index, slot in _items(slots):
                for level in LEVELS:
                    person((*base, s_index, level), slot.get(level))
        for o, override in _items(roster.get("overrides")):
            person(("rosters", r, "overrides", o, "by"), override.get("by"))
            person(("rosters", r, "overrides", o, "replace"), override.get("replace"))
    ladder_ids: set[str] = set()
    level_needs_roster = "est un niveau d'astreinte : préciser le roster de l'échelle"
    levels = ", ".join(LEVELS)
    for la, ladder in _items(data.get("ladders")):
        lid = ladder.get("id")
        if lid in ladder_ids:
            found.append(
                (
                    ("ladders", la, "id"),
                    say(f"identifiant d'échelle en double « {lid} »", f"duplicate ladder id “{lid}”"),
                )
            )
        if isinstance(lid, str):
            ladder_ids.add(lid)
        roster_ref = ladder.get("roster")
        if isinstance(roster_ref, str) and roster_ref not in roster_ids:
            found.append(
                (
                    ("ladders", la, "roster"),
                    say(f"tableau d'astreinte inconnu « {roster_ref} »", f"unknown roster “{roster_ref}”"),
                )
            )
        for st, step in _items(ladder.get("steps")):
            page = step.get("page")
            for t_index, target in enumerate(page if isinstance(page, list) else []):
                loc = ("ladders", la, "steps", st, "page", t_index)
                if not isinstance(target, str):
                    continue
                if target in LEVELS:
                    if roster_ref is None:
                        found.append(
                            (
                                loc,
                                say(
                                    f"« {target} » {level_needs_roster}",
                                    f"“{target}” is a level: give the ladder a roster",
                                ),
                            )
                        )
                elif target not in people:
                    found.append(
                        (
                            loc,
                            say(
                                f"« {target} » n'est ni un niveau ({levels}) ni une personne connue",
                                f"“{target}” is neither a level ({levels}) nor a known person",
                            ),
                        )
                    )
    twilio = _section(_section(data.get("channels")).get("twilio"))
    if twilio.get("enabled") is True:
        if not twilio.get("sms_from"):
            found.append(
                (
                    ("channels", "twilio", "sms_from"),
                    say(
                        "numéro d'envoi obligatoire quand Twilio est activé",
                        "sending number required when Twilio is enabled",
                    ),
                )
            )
        if not _section(data.get("desk")).get("public_url"):
            found.append(
                (
                    ("desk", "public_url"),
                    say(
                        "adresse publique obligatoire pour les webhooks Twilio",
                        "public URL required for Twilio's webhooks",
                    ),
                )
            )
    intake = _section(data.get("intake"))
    for i, route in _items(intake.get("routes")):
        ladder_ref = route.get("ladder")
        if isinstance(ladder_ref, str) and ladder_ref not in ladder_ids:
            found.append(
                (
                    ("intake", "routes", i, "ladder"),
                    say(f"échelle inconnue « {ladder_ref} »", f"unknown ladder “{ladder_ref}”"),
                )
            )
    default = intake.get("default_ladder")
    if isinstance(default, str) and default not in ladder_ids:
        found.append(
            (
                ("intake", "default_ladder"),
                say(f"échelle inconnue « {default} »", f"unknown ladder “{default}”"),
            )
        )
    return found


# --- loading and error reporting -------------------------------------------------


@dataclass(frozen=True)
class ConfigProblem:
    location: str  # path inside the document, e.g. people[3].contacts.phone
    line: int | None
    message: str
    column: int | None = None
    quoted: str | None = None  # the offending line, for syntax errors


class ConfigError(Exception):
    def __init__(self, path: Path, problems: list[ConfigProblem], lang: str = "fr") -> None:
        self.path = path
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.column or 0))
        self.lang = lang
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        if self.lang == "en":
            lines = [f"Invalid configuration: {self.path} ({count} error(s))"]
        else:
            lines = [f"Configuration invalide : {self.path} ({count} erreur(s))"]
        for problem in self.problems:
            where = str(self.path)
            if problem.line:
                where += f":{problem.line}" + (f":{problem.column}" if problem.column else "")
            loc = f"{problem.location} : " if problem.location else ""
            lines.append(f"  {where}: {loc}{problem.message}")
            if problem.quoted is not None:
                lines.append(f"      {problem.line} | {problem.quoted}")
        return "\n".join(lines)


def _mark_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> tuple[int | None, int | None]:
    """Line and column (1-based) of the deepest node of ``loc`` present in the YAML document."""
    node = root
    mark = node.start_mark if node is not None else None
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == part:
                    child, mark = value, key.start_mark
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            mark = child.start_mark
        if child is None:
            break
        node = child
    return (mark.line + 1, mark.column + 1) if mark is not None else (None, None)


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    return _mark_of(root, loc)[0]


# PyYAML's problems, as a desk manager editing the file would understand them.
_YAML_FR = (
    ("found character '\\t'", "tabulation interdite : indentez avec des espaces"),
    (
        "mapping values are not allowed",
        "« : » inattendu : une valeur qui contient « : » doit être entre guillemets",
    ),
    ("could not find expected ':'", "« : » manquant après la clé"),
    ("expected <block end>", "indentation incohérente, ou texte inattendu après une valeur"),
    ("expected ',' or ']'", "crochet « [ » non fermé"),
    ("expected ',' or '}'", "accolade « { » non fermée"),
    ("found unexpected end of stream", "fin du fichier inattendue : guillemet ou crochet non fermé ?"),
    ("found undefined alias", "alias (*nom) non défini"),
    ("found duplicate anchor", "ancre (&nom) en double"),
    ("did not find expected key", "clé attendue : indentation incohérente ?"),
    ("did not find expected '-' indicator", "élément de liste attendu (« - ») : indentation incohérente ?"),
)


def _unclosed_quote(lines: list[str], before: int) -> int | None:
    """The first line (0-based, before ``before``) that opens a quote it does not close."""
    for index, line in enumerate(lines[: before + 1]):
        text = line.split(" #", 1)[0]
        if text.lstrip().startswith("#"):
            continue
        doubles = len(re.findall(r'(?<!\\)"', text))
        if doubles % 2:
            return index
        if "'" in text and '"' not in text and text.count("'") % 2 and re.search(r"[:\-\[,]\s*'", text):
            return index
    return None


def _yaml_problem(exc: yaml.YAMLError, lines: list[str], lang: str) -> ConfigProblem:
    mark = getattr(exc, "problem_mark", None)
    reason = str(getattr(exc, "problem", None) or exc)
    line_index = mark.line if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    explained = next((fr for en, fr in _YAML_FR if en in reason), None)
    opened = _unclosed_quote(lines, line_index) if line_index is not None else None
    if opened is not None and opened < (line_index or 0):
        # The quote opened here swallowed the lines below: that is where the problem starts.
        line_index, column = opened, None
        explained = "guillemet ouvert sur cette ligne et jamais fermé"
    if lang == "en":
        message = f"unreadable YAML: {reason}"
    else:
        message = f"YAML illisible : {explained or reason}"
    quoted = lines[line_index] if line_index is not None and line_index < len(lines) else None
    return ConfigProblem(
        "", line_index + 1 if line_index is not None else None, message, column=column, quoted=quoted
    )


def _language(data: Any) -> str:
    desk = data.get("desk") if isinstance(data, dict) else None
    return "en" if isinstance(desk, dict) and desk.get("language") == "en" else "fr"


def parse_config(text: str, path: Path) -> VigieConfig:
    """The configuration, or every problem of the file at once (form and references), each with
    its line and column."""
    lines = text.splitlines()
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(path, [_yaml_problem(exc, lines, "fr")]) from exc
    lang = _language(data)
    if not isinstance(data, dict):
        message = (
            "the document must be a mapping (key: value)"
            if lang == "en"
            else ("le document doit être une section (clé: valeur)")
        )
        raise ConfigError(path, [ConfigProblem("", 1, message)], lang)

    def at(loc: tuple[int | str, ...], message: str) -> ConfigProblem:
        line, column = _mark_of(root, loc)
        return ConfigProblem(format_location(loc), line, message, column=column)

    problems: list[ConfigProblem] = []
    config: VigieConfig | None = None
    try:
        config = VigieConfig.model_validate(data)
    except ValidationError as exc:
        problems = [at(tuple(err["loc"]), french_message(dict(err), lang)) for err in exc.errors()]
    seen = {p.location for p in problems}
    crossed = cross_check(data, lang)
    problems += [at(loc, message) for loc, message in crossed if format_location(loc) not in seen]
    if problems:
        raise ConfigError(path, problems, lang)
    assert config is not None
    return config


def load_config(path: Path) -> VigieConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [ConfigProblem("", None, "fichier introuvable")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [ConfigProblem("", None, f"fichier illisible : {exc}")]) from None
    return parse_config(text, path)
