"""The delivery interface every channel adapter implements (console now; chat, SMS, voice, email next)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.models import OutboxMessageRow


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"  # the recipient's device has it (console: recorded)
    SENT = "sent"  # handed to the provider; a status callback will say more
    TRANSIENT = "transient"  # network error, 5xx, rate limit: try again later
    PERMANENT = "permanent"  # blocked bot, invalid number…: fail over to another channel


@dataclass(frozen=True)
class DeliveryResult:
    outcome: DeliveryOutcome
    provider_id: str | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, when the provider said so
    # A permanent failure the desk manager must fix (invalid number, STOP…): told at once.
    desk_warning: str | None = None


class Channel(Protocol):
    name: str
    # True when delivering is a database write (console): done inside the claim transaction.
    local: bool

    async def deliver(self, message: OutboxMessageRow) -> DeliveryResult: ...
