"""The YAML configuration: one module per concept, and the loader with its located errors.

Secrets never live in the file: channels name the environment variables that hold them.
Everything is importable from ``bot.config``.
"""

from __future__ import annotations

from bot.config.access import (
    ANYONE as ANYONE,
)
from bot.config.access import (
    ApiTokenConfig as ApiTokenConfig,
)
from bot.config.channels import (
    ChannelsConfig as ChannelsConfig,
)
from bot.config.channels import (
    ConsoleChannel as ConsoleChannel,
)
from bot.config.channels import (
    EmailConfig as EmailConfig,
)
from bot.config.channels import (
    MailboxConfig as MailboxConfig,
)
from bot.config.channels import (
    MatrixConfig as MatrixConfig,
)
from bot.config.channels import (
    SlackConfig as SlackConfig,
)
from bot.config.channels import (
    TelegramConfig as TelegramConfig,
)
from bot.config.channels import (
    TwilioConfig as TwilioConfig,
)
from bot.config.crisis import (
    ORSAN_PLANS as ORSAN_PLANS,
)
from bot.config.crisis import (
    CellConfig as CellConfig,
)
from bot.config.crisis import (
    CrisisConfig as CrisisConfig,
)
from bot.config.delivery import (
    DeliveryConfig as DeliveryConfig,
)
from bot.config.delivery import (
    RateLimit as RateLimit,
)
from bot.config.delivery import (
    _default_rate_limits as _default_rate_limits,
)
from bot.config.desk import (
    DeskConfig as DeskConfig,
)
from bot.config.directory import (
    Contacts as Contacts,
)
from bot.config.directory import (
    NotifyRule as NotifyRule,
)
from bot.config.directory import (
    Person as Person,
)
from bot.config.directory import (
    _notify_rule as _notify_rule,
)
from bot.config.drills import (
    ContactChecksConfig as ContactChecksConfig,
)
from bot.config.drills import (
    DrillSchedule as DrillSchedule,
)
from bot.config.drills import (
    DrillsConfig as DrillsConfig,
)
from bot.config.heartbeats import (
    Heartbeat as Heartbeat,
)
from bot.config.heartbeats import (
    MaintenanceConfig as MaintenanceConfig,
)
from bot.config.heartbeats import (
    SelfCheckConfig as SelfCheckConfig,
)
from bot.config.heartbeats import (
    Watchdog as Watchdog,
)
from bot.config.http import (
    Exposure as Exposure,
)
from bot.config.http import (
    HttpConfig as HttpConfig,
)
from bot.config.intake import (
    AlertmanagerIntake as AlertmanagerIntake,
)
from bot.config.intake import (
    IntakeConfig as IntakeConfig,
)
from bot.config.intake import (
    IntakeRoute as IntakeRoute,
)
from bot.config.ladders import (
    Ladder as Ladder,
)
from bot.config.ladders import (
    LadderStep as LadderStep,
)
from bot.config.loader import (
    _YAML_FR as _YAML_FR,
)
from bot.config.loader import (
    ConfigError as ConfigError,
)
from bot.config.loader import (
    ConfigProblem as ConfigProblem,
)
from bot.config.loader import (
    _language as _language,
)
from bot.config.loader import (
    _line_of as _line_of,
)
from bot.config.loader import (
    _mark_of as _mark_of,
)
from bot.config.loader import (
    _unclosed_quote as _unclosed_quote,
)
from bot.config.loader import (
    _yaml_problem as _yaml_problem,
)
from bot.config.loader import (
    load_config as load_config,
)
from bot.config.loader import (
    parse_config as parse_config,
)
from bot.config.model import (
    Guarded as Guarded,
)
from bot.config.model import (
    VigieConfig as VigieConfig,
)
from bot.config.model import (
    _default_permissions as _default_permissions,
)
from bot.config.partners import (
    PARTNER_KINDS as PARTNER_KINDS,
)
from bot.config.partners import (
    DiffusionConfig as DiffusionConfig,
)
from bot.config.partners import (
    DiffusionStep as DiffusionStep,
)
from bot.config.partners import (
    Partner as Partner,
)
from bot.config.references import (
    _items as _items,
)
from bot.config.references import (
    _section as _section,
)
from bot.config.references import (
    cross_check as cross_check,
)
from bot.config.rosters import (
    Handover as Handover,
)
from bot.config.rosters import (
    OffHours as OffHours,
)
from bot.config.rosters import (
    Override as Override,
)
from bot.config.rosters import (
    Roster as Roster,
)
from bot.config.rosters import (
    RosterSlot as RosterSlot,
)
from bot.config.rosters import (
    WorkingHours as WorkingHours,
)
from bot.config.types import (
    _WEEKDAY_ALIASES as _WEEKDAY_ALIASES,
)
from bot.config.types import (
    LEVEL_LABELS_FR as LEVEL_LABELS_FR,
)
from bot.config.types import (
    LEVELS as LEVELS,
)
from bot.config.types import (
    SLUG as SLUG,
)
from bot.config.types import (
    WEEKDAYS as WEEKDAYS,
)
from bot.config.types import (
    ClockTime as ClockTime,
)
from bot.config.types import (
    Duration as Duration,
)
from bot.config.types import (
    Level as Level,
)
from bot.config.types import (
    PhoneNumber as PhoneNumber,
)
from bot.config.types import (
    StrictModel as StrictModel,
)
from bot.config.types import (
    Weekday as Weekday,
)
from bot.config.types import (
    parse_clock_time as parse_clock_time,
)
from bot.config.types import (
    parse_weekday as parse_weekday,
)
from bot.config.types import (
    to_e164 as to_e164,
)
