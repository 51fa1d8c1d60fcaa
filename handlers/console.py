"""The built-in console channel: the outbox row is the delivery; it is also logged."""

from __future__ import annotations

import structlog

from bot.channels import DeliveryOutcome, DeliveryResult
from bot.models import OutboxMessageRow

log = structlog.get_logger("vigie.console")


class ConsoleChannel:
    name = "console"
    local = True

    async def deliver(self, message: OutboxMessageRow) -> DeliveryResult:
        log.info(
            "console_message",
            to=message.recipient_person_id or message.recipient_address,
            kind=message.kind,
            text=message.text,
        )
        return DeliveryResult(DeliveryOutcome.DELIVERED, provider_id=f"console-{message.id}")
