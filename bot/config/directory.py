"""The directory: people, their contacts and their channel preferences."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    EmailStr,
    Field,
)

from bot.config.types import MATRIX_ID, SLUG, Duration, PhoneNumber, StrictModel
from bot.domain import ChannelKind, Function


class Contacts(StrictModel):
    phone: PhoneNumber | None = None
    email: EmailStr | None = None
    telegram_id: int | None = None
    slack_id: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,}$")
    # Tchap: @prenom.nom-ars.sante.fr:agent.tchap.gouv.fr
    matrix_id: str | None = Field(default=None, pattern=MATRIX_ID)


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
            ChannelKind.MATRIX: c.matrix_id,
        }[channel]
