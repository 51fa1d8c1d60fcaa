"""Partners (organisations the desk relays national messages to, with their functional "alerte"
entry points) and how a diffusion reaches them (channel order, gaps, cycles)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import EmailStr, Field, model_validator

from bot.config.types import SLUG, Duration, PhoneNumber, StrictModel

PartnerKind = Literal["ES", "EMS", "SAMU-C15", "CPTS", "laboratoire", "pharmacie", "collectivite", "autre"]
PARTNER_KINDS: tuple[str, ...] = (
    "ES",
    "EMS",
    "SAMU-C15",
    "CPTS",
    "laboratoire",
    "pharmacie",
    "collectivite",
    "autre",
)
# FINESS: nine characters, the first two the department (2A, 2B for Corsica).
FINESS = r"^(?:\d{2}|2A|2B)[0-9]{7}$"
DEPARTMENT = r"^(?:\d{2,3}|2A|2B)$"


class Partner(StrictModel):
    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1, max_length=300)
    kind: PartnerKind = "autre"
    finess: str | None = Field(default=None, pattern=FINESS)
    department: str | None = Field(default=None, pattern=DEPARTMENT)
    email: EmailStr | None = None  # the functional « alerte » mailbox
    phone: PhoneNumber | None = None  # the on-call phone
    telegram_id: int | None = None
    slack_id: str | None = Field(default=None, pattern=r"^[UWC][A-Z0-9]{2,}$")
    groups: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _reachable(self) -> Partner:
        if self.email is None and self.phone is None:
            raise ValueError(
                "un partenaire a au moins une adresse e-mail « alerte » ou un téléphone d'astreinte"
            )
        for group in self.groups:
            import re

            if not re.match(SLUG, group):
                raise ValueError(f"groupe « {group} » : minuscules, chiffres, tirets (ex. ehpad-59)")
        return self


DiffusionChannel = Literal["email", "sms", "voice", "telegram", "slack"]


class DiffusionStep(StrictModel):
    channel: DiffusionChannel
    after: Duration = timedelta(0)  # from the start of the cycle


def _default_steps() -> list[DiffusionStep]:
    return [
        DiffusionStep(channel="email", after=timedelta(0)),
        DiffusionStep(channel="sms", after=timedelta(minutes=15)),
        DiffusionStep(channel="voice", after=timedelta(minutes=45)),
    ]


class DiffusionConfig(StrictModel):
    reference_prefix: str = Field(default="DIFF", pattern=r"^[A-Z][A-Z0-9]{1,11}$")
    # Each partner: these channels in order, each this long after the cycle started, until it confirms.
    steps: list[DiffusionStep] = Field(default_factory=_default_steps, min_length=1)
    cycles: int = Field(default=2, ge=1, le=10)
    # After a cycle's last step, wait this long before the next cycle (or: not confirmed).
    cycle_wait: Duration = timedelta(minutes=30)
    # Diffusion SMS and calls per second (Twilio: about 1 SMS/s per number); paced, never dropped.
    sms_per_second: float = Field(default=1.0, gt=0, le=100)
    # Diffusion mails per second: 2,000 in under a minute, with room left for the pages.
    mail_per_second: float = Field(default=40.0, gt=0, le=1000)
    # The desk's own contacts, in every message (partners answer the ARS, not the national level).
    contact: str = ""
    # Who receives the diffusion's report (vigie diffusion report --send-upward).
    upward: list[EmailStr] = Field(default_factory=list)
    # Not every partner settled this long after it left: the duty officers are told, once.
    deadline: Duration = timedelta(hours=2)
    # A national message POUR ACTION: done within this long unless its owner sets another time.
    action_due: Duration = timedelta(hours=24)
    # Signed download links for the attachments (in SMS) stay valid this long.
    link_ttl: Duration = timedelta(days=7)

    @model_validator(mode="after")
    def _ordered(self) -> DiffusionConfig:
        afters = [s.after for s in self.steps]
        if afters != sorted(afters):
            raise ValueError("diffusion.steps : les délais « after » vont croissant")
        return self
