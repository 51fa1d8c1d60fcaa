"""Intake: normalise a signal, store it in one transaction, then hand back its receipt.

The receipt is only produced after the commit: a sender who holds a reference holds a
signal that is on disk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.clock import Clock
from bot.config import DeskConfig
from bot.db import Database
from bot.domain import Category, OriginChannel, Severity, SignalStatus
from bot.history import add_event
from bot.models import ReferenceCounter, SignalRow
from bot.outbox import OutgoingMessage, enqueue
from bot.texts import t

# Called inside the intake transaction for a new signal (e.g. to start its ladder),
# so that what they write is committed together with the signal or not at all.
NewSignalHook = Callable[[AsyncSession, SignalRow], Awaitable[None]]

_MAX_DEDUP_RETRIES = 5


@dataclass(frozen=True)
class Origin:
    """Where a signal came from, so its receipt can go back the same way."""

    channel: OriginChannel
    address: str | None = None  # chat id, phone number, mail address…
    person_id: str | None = None  # when the sender is someone of the directory
    # Channel and address to mail/SMS/chat the receipt to, when it is not the reply
    # of the request itself (HTTP answers in its response body).
    reply_channel: str | None = None


@dataclass
class SignalDraft:
    title: str
    origin: Origin
    body: str | None = None
    severity: Severity | None = None
    category: Category | None = None
    source: str | None = None
    dedup_key: str | None = None
    reporter: str | None = None
    is_exercise: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    signal_id: int
    reference: str
    created: bool  # False: attached to an open signal with the same dedup key
    status: SignalStatus
    queued_reply: bool = False  # the receipt also waits in the outbox for its channel

    def text(self, lang: str = "fr") -> str:
        key = "receipt.created" if self.created else "receipt.duplicate"
        return t(key, lang, reference=self.reference)


def format_reference(prefix: str, year: int, seq: int) -> str:
    return f"{prefix}-{year}-{seq:06d}"


async def allocate_sequence(session: AsyncSession, year: int) -> int:
    """Next number of the year, in the caller's transaction.

    One upsert statement: the counter row stays locked until commit, so numbers are
    unique and increasing across instances, and a rolled-back intake gives its number
    back instead of burning it.
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = ReferenceCounter.__table__  # type: ignore[attr-defined]
    stmt = (
        insert(table)
        .values(year=year, last=1)
        .on_conflict_do_update(index_elements=[table.c.year], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    return int((await session.exec(stmt)).scalar_one())


class IntakeService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        desk: DeskConfig,
        hooks: list[NewSignalHook] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.desk = desk
        self.hooks: list[NewSignalHook] = list(hooks or [])

    async def accept(self, draft: SignalDraft) -> Receipt:
        for _attempt in range(_MAX_DEDUP_RETRIES):
            try:
                return await self._accept_once(draft)
            except sa.exc.IntegrityError:
                # Another instance opened a signal with this dedup key between our
                # look-up and our insert: the retry will find it and attach to it.
                if draft.dedup_key is None:
                    raise
        raise RuntimeError(f"dedup key {draft.dedup_key!r} kept conflicting")

    async def _accept_once(self, draft: SignalDraft) -> Receipt:
        now = self.clock.now()
        async with self.db.transaction() as session:
            if draft.dedup_key:
                existing = (
                    await session.exec(select(SignalRow).where(SignalRow.open_dedup_key == draft.dedup_key))
                ).first()
                if existing is not None:
                    return await self._attach(session, existing, draft)

            year = now.astimezone(self.desk.zone).year
            seq = await allocate_sequence(session, year)
            signal = SignalRow(
                reference=format_reference(self.desk.reference_prefix, year, seq),
                year=year,
                seq=seq,
                title=draft.title,
                body=draft.body,
                severity=draft.severity.value if draft.severity else None,
                category=draft.category.value if draft.category else None,
                source=draft.source,
                reporter=draft.reporter,
                reporter_person_id=draft.origin.person_id,
                origin_channel=draft.origin.channel.value,
                origin_address=draft.origin.address,
                dedup_key=draft.dedup_key,
                open_dedup_key=draft.dedup_key,
                status=SignalStatus.RECU.value,
                is_exercise=draft.is_exercise,
                attributes=draft.attributes,
                received_at=now,
                last_seen_at=now,
            )
            session.add(signal)
            await session.flush()
            assert signal.id is not None
            add_event(
                session,
                signal.id,
                "received",
                t("event.received", self.desk.language, channel=draft.origin.channel.value),
                now,
                actor=draft.origin.person_id or draft.reporter or draft.source,
                channel=draft.origin.channel.value,
                data={"origin_address": draft.origin.address},
            )
            receipt = Receipt(
                signal.id, signal.reference, True, SignalStatus.RECU, draft.origin.reply_channel is not None
            )
            self._queue_receipt(session, signal.id, draft.origin, receipt)
            for hook in self.hooks:
                await hook(session, signal)
        return receipt

    async def _attach(self, session: AsyncSession, signal: SignalRow, draft: SignalDraft) -> Receipt:
        now = self.clock.now()
        assert signal.id is not None
        # Incremented in SQL: concurrent duplicates on PostgreSQL must not lose a count.
        table = SignalRow.__table__  # type: ignore[attr-defined]
        count = (
            await session.exec(
                sa.update(table)
                .where(table.c.id == signal.id)
                .values(duplicate_count=table.c.duplicate_count + 1, last_seen_at=now)
                .returning(table.c.duplicate_count)
            )
        ).scalar_one()
        add_event(
            session,
            signal.id,
            "duplicate",
            t("event.duplicate", self.desk.language, channel=draft.origin.channel.value, count=count),
            now,
            actor=draft.origin.person_id or draft.reporter or draft.source,
            channel=draft.origin.channel.value,
            data={"title": draft.title, "body": draft.body, "attributes": draft.attributes},
        )
        receipt = Receipt(
            signal.id,
            signal.reference,
            False,
            SignalStatus(signal.status),
            draft.origin.reply_channel is not None,
        )
        self._queue_receipt(session, signal.id, draft.origin, receipt)
        return receipt

    def _queue_receipt(self, session: AsyncSession, signal_id: int, origin: Origin, receipt: Receipt) -> None:
        if origin.reply_channel is None:
            return
        enqueue(
            session,
            OutgoingMessage(
                channel=origin.reply_channel,
                kind="receipt",
                text=receipt.text(self.desk.language),
                recipient_person_id=origin.person_id,
                recipient_address=origin.address,
                signal_id=signal_id,
            ),
            now=self.clock.now(),
        )

    async def record_source_resolved(
        self, dedup_key: str, origin: Origin, detail: str, data: dict[str, Any]
    ) -> Receipt | None:
        """A monitoring source says its alert is over: note it on the open signal, page nobody."""
        async with self.db.transaction() as session:
            stmt = select(SignalRow).where(SignalRow.open_dedup_key == dedup_key)
            signal = (await session.exec(stmt)).first()
            if signal is None:
                return None
            assert signal.id is not None
            add_event(
                session,
                signal.id,
                "source_resolved",
                t("event.source_resolved", self.desk.language, detail=detail),
                self.clock.now(),
                actor=origin.person_id,
                channel=origin.channel.value,
                data=data,
            )
            return Receipt(signal.id, signal.reference, False, SignalStatus(signal.status))
