"""Intake: normalise a signal, store it in one transaction, then hand back its receipt.

The receipt is only produced after the commit: a sender who holds a reference holds a
signal that is on disk.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import bulk
from bot.clock import Clock
from bot.config import DeskConfig
from bot.db import UNAVAILABLE_ERRORS, Database, dialect_insert
from bot.domain import Category, OriginChannel, Severity, SignalStatus
from bot.history import add_event
from bot.logging_setup import slow
from bot.models import ReferenceCounter, SignalRow, table_of
from bot.outbox import OutgoingMessage, queue
from bot.texts import t
from bot.validation import printable

# Called inside the intake transaction with the new signals (e.g. to start their ladders),
# so that what they write is committed together with the signals or not at all.
NewSignalsHook = Callable[[AsyncSession, list[SignalRow]], Awaitable[None]]
# Told of each accepted signal once its receipt exists (metrics).
AcceptedHook = Callable[["SignalDraft", "Receipt"], None]

_MAX_DEDUP_RETRIES = 5

log = structlog.get_logger("vigie.intake")


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
    # A flood key (an unknown sender): attached only within this long of the signal's last
    # message, quietly (no receipt); later, a new signal.
    dedup_window: timedelta | None = None


def _printable(draft: SignalDraft) -> SignalDraft:
    origin = draft.origin
    return replace(
        draft,
        title=printable(draft.title),
        body=printable(draft.body),
        source=printable(draft.source),
        dedup_key=printable(draft.dedup_key),
        reporter=printable(draft.reporter),
        attributes=printable(draft.attributes),
        origin=replace(origin, address=printable(origin.address)),
    )


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


async def allocate_sequence(
    session: AsyncSession, year: int, count: int = 1, counter: type[SQLModel] = ReferenceCounter
) -> int:
    """Reserve ``count`` numbers of the year in the caller's transaction; returns the last.

    One upsert statement: the counter row stays locked until commit, so numbers are
    unique and increasing across instances, and a rolled-back intake gives its numbers
    back instead of burning them.
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    table = table_of(counter)  # a table (year, last): signal numbers, crisis numbers
    stmt = (
        dialect_insert(dialect, table)
        .values(year=year, last=count)
        .on_conflict_do_update(index_elements=[table.c.year], set_={"last": table.c.last + count})
        .returning(table.c.last)
    )
    return int((await session.exec(stmt)).scalar_one())


class IntakeService:
    """Accepts signals with group commit: requests that arrive together are written in one
    transaction, in a few statements, and each caller gets its receipt once it is committed."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        desk: DeskConfig,
        hooks: list[NewSignalsHook] | None = None,
        max_batch: int = 200,
        on_accepted: AcceptedHook | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.desk = desk
        self.hooks: list[NewSignalsHook] = list(hooks or [])
        self.max_batch = max_batch
        self.on_accepted = on_accepted
        self._pending: list[tuple[SignalDraft, asyncio.Future[Receipt]]] = []
        self._batch_lock = asyncio.Lock()

    async def accept(self, draft: SignalDraft) -> Receipt:
        draft = _printable(draft)
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._pending.append((draft, future))
        # One turn of the loop first: requests already read by the server queue their drafts
        # too and share this transaction (SQLite's writes do not yield to the loop).
        await asyncio.sleep(0)
        while not future.done():
            async with self._batch_lock:
                # Whoever holds the lock writes everything queued meanwhile, ours included.
                if not future.done():
                    batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                    await self._process(batch)
        receipt = future.result()
        if self.on_accepted is not None:
            self.on_accepted(draft, receipt)
        return receipt

    async def _process(self, batch: list[tuple[SignalDraft, asyncio.Future[Receipt]]]) -> None:
        started = time.perf_counter()
        try:
            receipts = await self._write([draft for draft, _ in batch])
            slow(log, "intake_batch", started, signals=len(batch))
        except sa.exc.IntegrityError:
            pass  # a dedup race with another instance: settle it draft by draft below
        except UNAVAILABLE_ERRORS as exc:
            for _, future in batch:
                future.set_exception(exc)
            return
        except Exception:
            log.warning("intake_batch_failed_retrying_one_by_one", size=len(batch))
        else:
            for (_, future), receipt in zip(batch, receipts, strict=True):
                future.set_result(receipt)
            return
        for draft, future in batch:
            try:
                future.set_result(await self._accept_alone(draft))
            except Exception as exc:
                future.set_exception(exc)

    async def _accept_alone(self, draft: SignalDraft) -> Receipt:
        for _attempt in range(_MAX_DEDUP_RETRIES):
            try:
                return (await self._write([draft]))[0]
            except sa.exc.IntegrityError:
                # Another instance opened a signal with this dedup key between our
                # look-up and our insert: the retry will find it and attach to it.
                if draft.dedup_key is None:
                    raise
        raise RuntimeError(f"dedup key {draft.dedup_key!r} kept conflicting")

    async def _write(self, drafts: list[SignalDraft]) -> list[Receipt]:
        now = self.clock.now()
        receipts: list[Receipt | None] = [None] * len(drafts)
        async with self.db.transaction() as session:
            bulk.collect(session)  # the batch's history, receipts and first timers: one insert each
            keys = {d.dedup_key for d in drafts if d.dedup_key}
            open_by_key: dict[str, SignalRow] = {}
            if keys:
                found = await session.exec(select(SignalRow).where(col(SignalRow.open_dedup_key).in_(keys)))
                open_by_key = {row.open_dedup_key: row for row in found.all() if row.open_dedup_key}
                windows = {d.dedup_key: d.dedup_window for d in drafts if d.dedup_key and d.dedup_window}
                for flood_key, window in windows.items():
                    lapsed = open_by_key.get(flood_key)
                    if lapsed is not None and lapsed.last_seen_at < now - window:
                        # The flood is over: that signal stays open but a new message starts anew.
                        lapsed.open_dedup_key = None
                        session.add(lapsed)
                        del open_by_key[flood_key]
                if windows:
                    await session.flush()
            fresh: list[int] = []
            creating: set[str] = set()  # keys opened by an earlier draft of this batch
            for index, draft in enumerate(drafts):
                key = draft.dedup_key
                if key and (key in open_by_key or key in creating):
                    continue
                fresh.append(index)
                if key:
                    creating.add(key)
            year = now.astimezone(self.desk.zone).year
            created: dict[int, SignalRow] = {}
            if fresh:
                last = await allocate_sequence(session, year, len(fresh))
                for offset, index in enumerate(fresh):
                    created[index] = self._new_signal(
                        drafts[index], year, last - len(fresh) + 1 + offset, now
                    )
                    session.add(created[index])
                await session.flush()  # one multi-row insert
                for index, signal in created.items():
                    draft = drafts[index]
                    if draft.dedup_key:
                        open_by_key[draft.dedup_key] = signal
                    receipts[index] = self._received(session, signal, draft, now)
                for hook in self.hooks:
                    await hook(session, list(created.values()))
            for index, draft in enumerate(drafts):
                if receipts[index] is None and draft.dedup_key is not None:
                    receipts[index] = await self._attach(session, open_by_key[draft.dedup_key], draft)
            await bulk.flush(session)
        return [r for r in receipts if r is not None]

    def _new_signal(self, draft: SignalDraft, year: int, seq: int, now: datetime) -> SignalRow:
        return SignalRow(
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

    def _received(
        self, session: AsyncSession, signal: SignalRow, draft: SignalDraft, now: datetime
    ) -> Receipt:
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
        return receipt

    async def _attach(self, session: AsyncSession, signal: SignalRow, draft: SignalDraft) -> Receipt:
        now = self.clock.now()
        assert signal.id is not None
        # Incremented in SQL: concurrent duplicates on PostgreSQL must not lose a count.
        table = table_of(SignalRow)
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
        quiet = draft.dedup_window is not None  # a flood: one receipt per window, not one a message
        receipt = Receipt(
            signal.id,
            signal.reference,
            False,
            SignalStatus(signal.status),
            draft.origin.reply_channel is not None and not quiet,
        )
        if not quiet:
            self._queue_receipt(session, signal.id, draft.origin, receipt)
        return receipt

    def _queue_receipt(self, session: AsyncSession, signal_id: int, origin: Origin, receipt: Receipt) -> None:
        if origin.reply_channel is None:
            return
        queue(
            session,
            OutgoingMessage(
                channel=origin.reply_channel,
                kind="receipt",
                text=receipt.text(self.desk.language),
                recipient_person_id=origin.person_id,
                recipient_address=origin.address,
                signal_id=signal_id,
                subject=f"Vigie : accusé de réception {receipt.reference}",
            ),
            now=self.clock.now(),
        )

    async def add_message(
        self, reference: str, origin: Origin, message: str, data: dict[str, Any]
    ) -> Receipt | None:
        """Something more about a known signal (a mail replying to its receipt): into its history."""
        message, data = printable(message), printable(data)
        async with self.db.transaction() as session:
            signal = (await session.exec(select(SignalRow).where(SignalRow.reference == reference))).first()
            if signal is None:
                return None
            assert signal.id is not None
            add_event(
                session,
                signal.id,
                "message",
                message,
                self.clock.now(),
                actor=origin.person_id or origin.address,
                channel=origin.channel.value,
                data=data,
            )
            return Receipt(signal.id, signal.reference, False, SignalStatus(signal.status))

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
