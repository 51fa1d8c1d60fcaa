"""Delivery of outbox messages through their channels."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta

import structlog
from sqlmodel import col, or_, select

from bot.channels import Channel, DeliveryOutcome, DeliveryResult
from bot.clock import Clock
from bot.db import UNAVAILABLE_ERRORS, Database
from bot.domain import MessageState
from bot.models import OutboxMessageRow

log = structlog.get_logger("vigie.delivery")


class OutboxDispatcher:
    def __init__(self, db: Database, clock: Clock, channels: Mapping[str, Channel], batch: int = 50) -> None:
        self.db = db
        self.clock = clock
        self.channels = dict(channels)
        self.batch = batch
        self._wake = asyncio.Event()

    def poke(self) -> None:
        """Something was queued: deliver now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Deliver the messages that are due; returns how many were handled."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            stmt = (
                select(OutboxMessageRow)
                .where(OutboxMessageRow.state == MessageState.PENDING.value)
                .where(col(OutboxMessageRow.channel).in_(list(self.channels)))
                .where(
                    or_(col(OutboxMessageRow.not_before).is_(None), col(OutboxMessageRow.not_before) <= now)
                )
                .order_by(col(OutboxMessageRow.id))
                .limit(self.batch)
            )
            if self.db.is_postgres:
                # Several instances: each message is claimed by exactly one of them.
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list((await session.exec(stmt)).all())
            for row in rows:
                result = await self._deliver(row)
                self._apply(row, result)
                session.add(row)
        return len(rows)

    async def _deliver(self, row: OutboxMessageRow) -> DeliveryResult:
        channel = self.channels[row.channel]
        try:
            return await channel.deliver(row)
        except Exception as exc:  # an adapter bug must not stop the others' delivery
            log.exception("delivery_crashed", channel=row.channel, message_id=row.id)
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"{type(exc).__name__}: {exc}")

    def _apply(self, row: OutboxMessageRow, result: DeliveryResult) -> None:
        now = self.clock.now()
        row.attempts += 1
        row.provider_id = result.provider_id or row.provider_id
        if result.outcome is DeliveryOutcome.DELIVERED:
            row.state = MessageState.DELIVERED.value
            row.sent_at = row.sent_at or now
            row.delivered_at = now
        elif result.outcome is DeliveryOutcome.SENT:
            row.state = MessageState.SENT.value
            row.sent_at = now
        else:
            row.last_error = result.error
            if result.outcome is DeliveryOutcome.PERMANENT:
                row.state = MessageState.FAILED.value
            else:
                # Back off (bounded) so a failing provider is not hammered.
                delay = result.retry_after or min(300.0, 2.0 ** min(row.attempts, 8))
                row.not_before = now + timedelta(seconds=delay)
        log.info("delivery", message_id=row.id, channel=row.channel, outcome=result.outcome.value)

    async def run_forever(self, poll_seconds: float = 1.0) -> None:
        while True:
            try:
                handled = await self.run_once()
            except UNAVAILABLE_ERRORS:
                log.warning("delivery_store_unavailable")
                handled = 0
            if handled:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=poll_seconds)
            except TimeoutError:
                pass
