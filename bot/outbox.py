"""The outbox: every outgoing message is a row before any channel carries it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import bulk
from bot.db import Database
from bot.domain import MessageState
from bot.models import OutboxMessageRow, SignalRow


@dataclass
class OutgoingMessage:
    channel: str
    kind: str
    text: str
    recipient_person_id: str | None = None
    recipient_address: str | None = None
    signal_id: int | None = None
    subject: str | None = None
    idempotency_key: str | None = None
    not_before: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)
    page_id: int | None = None  # a page notification: which page, and its rank among
    sequence: int = 0  # the person's channels (failover goes to the next rank)


def _values(message: OutgoingMessage, now: datetime) -> dict[str, Any]:
    return {
        "created_at": now,
        "channel": message.channel,
        "kind": message.kind,
        "recipient_person_id": message.recipient_person_id,
        "recipient_address": message.recipient_address,
        "signal_id": message.signal_id,
        "subject": message.subject,
        "text": message.text,
        "state": MessageState.PENDING.value,
        "idempotency_key": message.idempotency_key,
        "not_before": message.not_before,
        "data": message.data,
        "page_id": message.page_id,
        "sequence": message.sequence,
        "is_exercise": bool(message.data.get("exercise")),
    }


def enqueue(session: AsyncSession, message: OutgoingMessage, *, now: datetime) -> OutboxMessageRow:
    """Add the message to the caller's transaction: it exists exactly when the caller commits."""
    row = OutboxMessageRow(**_values(message, now))
    session.add(row)
    return row


def queue(session: AsyncSession, message: OutgoingMessage, *, now: datetime) -> None:
    """``enqueue`` for a caller that does not need the row: inserted in bulk when the session
    collects (bot.bulk)."""
    if not bulk.add(session, OutboxMessageRow, _values(message, now)):
        enqueue(session, message, now=now)


@dataclass(frozen=True)
class OutboxFilter:
    recipient: str | None = None  # person id or address
    channel: str | None = None
    state: str | None = None
    kind: str | None = None
    signal_reference: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


async def list_messages(db: Database, flt: OutboxFilter) -> list[tuple[OutboxMessageRow, str | None]]:
    """Messages (oldest first) with the reference of their signal, if any."""
    stmt = select(OutboxMessageRow, SignalRow.reference).join(
        SignalRow, col(SignalRow.id) == col(OutboxMessageRow.signal_id), isouter=True
    )
    if flt.recipient:
        stmt = stmt.where(
            (col(OutboxMessageRow.recipient_person_id) == flt.recipient)
            | (col(OutboxMessageRow.recipient_address) == flt.recipient)
        )
    if flt.channel:
        stmt = stmt.where(OutboxMessageRow.channel == flt.channel)
    if flt.state:
        stmt = stmt.where(OutboxMessageRow.state == flt.state)
    if flt.kind:
        stmt = stmt.where(OutboxMessageRow.kind == flt.kind)
    if flt.signal_reference:
        stmt = stmt.where(SignalRow.reference == flt.signal_reference)
    if flt.since:
        stmt = stmt.where(col(OutboxMessageRow.created_at) >= flt.since)
    if flt.until:
        stmt = stmt.where(col(OutboxMessageRow.created_at) < flt.until)
    stmt = stmt.order_by(col(OutboxMessageRow.created_at), col(OutboxMessageRow.id)).limit(flt.limit)
    async with db.read_session() as session:
        rows = (await session.exec(stmt)).all()
    return [(row, ref) for row, ref in rows]


def message_to_dict(row: OutboxMessageRow, reference: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": row.created_at.isoformat(),
        "channel": row.channel,
        "kind": row.kind,
        "recipient": row.recipient_person_id,
        "address": row.recipient_address,
        "signal": reference,
        "subject": row.subject,
        "text": row.text,
        "state": row.state,
        "attempts": row.attempts,
        "sent_at": row.sent_at.isoformat() if row.sent_at else None,
        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
        "error": row.last_error,
    }


async def find_by_provider_id(db: Database, channel: str, provider_id: str) -> OutboxMessageRow | None:
    """The message a provider knows by this id (a chat reply points at the page it answers)."""
    async with db.read_session() as session:
        stmt = select(OutboxMessageRow).where(
            OutboxMessageRow.channel == channel, OutboxMessageRow.provider_id == provider_id
        )
        return (await session.exec(stmt)).first()


async def latest_page_in(db: Database, channel: str, prefix: str) -> OutboxMessageRow | None:
    """The last page delivered under this provider-id prefix (a Matrix direct room): what a bare
    « ok » typed in that room answers."""
    async with db.read_session() as session:
        stmt = (
            select(OutboxMessageRow)
            .where(OutboxMessageRow.channel == channel, OutboxMessageRow.kind == "page")
            .where(col(OutboxMessageRow.provider_id).startswith(prefix, autoescape=True))
            .order_by(col(OutboxMessageRow.id).desc())
            .limit(1)
        )
        return (await session.exec(stmt)).first()


async def send_reply(
    db: Database, now: datetime, channel: str, address: str, text: str, person_id: str | None = None
) -> None:
    """Answer someone on the channel they wrote from (through the outbox: retried, never lost)."""
    async with db.transaction() as session:
        enqueue(
            session,
            OutgoingMessage(
                channel=channel,
                kind="reply",
                text=text,
                recipient_person_id=person_id,
                recipient_address=address,
            ),
            now=now,
        )
