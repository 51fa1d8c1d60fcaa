"""Delivery of outbox messages through their channels: retries, back-off, rate limits, failover.

- Local channels (console) deliver inside the claiming transaction: nothing can be half-done.
- External channels are claimed (state ``sending``) and committed first, then called outside
  any transaction, so a slow provider never holds the database. A message still ``sending``
  after the lease (the process died mid-call) is marked ``uncertain`` and failed over to the
  person's next channel: never sent twice on the same channel, never silently lost.
- Transient failures are retried in-process with tenacity, then backed off durably; after
  ``max_attempts`` they count as permanent. Permanent failures fail over at once.
- Per-contact rate limits delay a message, and merge messages that wait for the same contact;
  they never drop one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import case, col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt, wait_exponential

from bot import bulk
from bot.channels import Channel, DeliveryOutcome, DeliveryResult
from bot.clock import Clock, utc
from bot.config import DeliveryConfig
from bot.db import UNAVAILABLE_ERRORS, Database
from bot.domain import ChannelKind, Function, MessageState
from bot.history import add_event
from bot.logging_setup import slow
from bot.metrics import Metrics
from bot.models import OutboxMessageRow, table_of
from bot.texts import t
from escalation.context import PagingContext
from escalation.paging import notify

log = structlog.get_logger("vigie.delivery")

FailureHook = Callable[[AsyncSession, OutboxMessageRow, str, datetime], Awaitable[None]]

# Kinds whose attempt is recorded before the provider is called (see OutboxMessageRow.attempted_at).
ATTEMPT_MARKED = frozenset({"diffusion"})
DIFFUSION = "diffusion"  # the kind delivered in a lane of its own
# How often a message waiting for a degraded channel looks again.
DEGRADED_WAIT = timedelta(seconds=15)
MERGE_SEPARATOR = "\n\n———\n"
# An exercise message to someone a real message is reaching in the same round waits this long:
# the real page is seen first, and alone.
EXERCISE_YIELD = timedelta(seconds=30)
# How long an answer may wait for others to share its write (a crash meanwhile leaves the message
# uncertain, failed over to the person's next channel: never sent twice on the same one).
RECORD_WITHIN = 0.02
# What a provider's acceptance makes of a message.
_ACCEPTED = {DeliveryOutcome.DELIVERED: MessageState.DELIVERED, DeliveryOutcome.SENT: MessageState.SENT}


def _last_result(state: RetryCallState) -> DeliveryResult:
    """After the last quick retry: the last failure, for the durable back-off to handle."""
    assert state.outcome is not None
    result: DeliveryResult = state.outcome.result()
    return result


class OutboxDispatcher:
    def __init__(
        self,
        db: Database,
        ctx: PagingContext,
        channels: Mapping[str, Channel],
        on_failure: FailureHook | None = None,
        batch: int = 500,
        sweep_every: timedelta = timedelta(seconds=5),
        lane: str = "main",
        only: tuple[str, ...] | None = None,
        pace: Mapping[str, timedelta] | None = None,
        background: bool = False,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.ctx = ctx
        self.channels = dict(channels)
        self.on_failure = on_failure
        self.batch = batch
        self.sweep_every = sweep_every
        # Two lanes: « main » (pages, notices, replies…) and « diffusion » (a national message to
        # hundreds of partners), each its own loop, so that a big diffusion never delays a page.
        self.lane = lane
        # ``background``: this lane's writes give way to everyone else's (bot.db.WriteGate).
        self.background = background
        self.diffusion = lane != "main"
        self.only = only  # the channels this lane sends on (None: all)
        # One message per channel each ``pace`` on average (the diffusion SMS: Twilio takes
        # about one a second per number), counted over a sliding window of one second (or one
        # gap, if longer): a lane late by a few slots catches up, but never sends more in any
        # window than the rate allows.
        self.pace = dict(pace or {})  # channel -> the gap between two of its messages
        self._sent: dict[str, deque[datetime]] = {}
        self._wake_at: datetime | None = None  # when a full window frees a place, for run_forever
        self._last_sweep: datetime | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        # After a round: whether another may find something due at once (a full claim, a
        # failover, a local delivery); else the lane waits to be poked.
        self._again = True
        self._statements: dict[tuple[str, tuple[str, ...], int], Any] = {}

    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    @property
    def settings(self) -> DeliveryConfig:
        return self.ctx.config.delivery

    def poke(self) -> None:
        """Something was queued: deliver now rather than at the next poll."""
        self._wake.set()

    def stop_soon(self) -> None:
        """Shutting down: finish the message being sent, give the claimed rest back to the queue."""
        self._stopping = True
        self._wake.set()

    async def run_once(self) -> int:
        """Deliver what is due; returns how many messages were handled."""
        now = self.clock.now()
        started = time.perf_counter()
        swept = 0
        # Leases last minutes and timeouts are coarse: no need to take the write lock each round.
        sweeping = self.lane == "main"  # one sweeper for both lanes
        due = self._last_sweep is None or now - self._last_sweep >= self.sweep_every or now < self._last_sweep
        if sweeping and due:
            self._last_sweep = now
            swept = await self._sweep(now)
        self._again = bool(swept)  # a sweep's failovers may have made others due
        handled, claimed = await self._claim(now)
        slow(log, "delivery_claim", started, local=handled, external=len(claimed), swept=swept)
        if self.pace:
            for row in claimed:
                self._sent.setdefault(row.channel, deque()).append(self.clock.now())
            self._wake_at = min(
                (self._frees_at(c, now) for c in self._sent if self._frees_at(c, now) > now), default=None
            )
        await self._send_all(claimed)
        return swept + handled + len(claimed)

    async def _send_all(self, claimed: list[OutboxMessageRow]) -> None:
        """Send the claimed messages, several at once: one person's messages on one channel in
        the order they were queued (a page before the notice that it was taken), different
        people's side by side, so that a burst of pages is not sent one provider call after the
        other. The diffusion lanes keep one at a time (their pace, and at most one uncertain)."""
        queues: dict[tuple[str, str | None], list[OutboxMessageRow]] = {}
        for row in claimed:
            queues.setdefault((row.channel, row.recipient_address), []).append(row)
        slots = asyncio.Semaphore(1 if self.diffusion else self.settings.parallel)
        unsent: list[OutboxMessageRow] = []
        answers: list[tuple[int, DeliveryResult]] = []
        writing = asyncio.Lock()
        flusher: asyncio.Task[None] | None = None

        async def flush() -> None:
            # Group commit: whoever holds the lock writes every answer that came meanwhile.
            async with writing:
                if answers:
                    batch = answers[:]
                    answers.clear()
                    await self._record(batch)

        async def flush_soon() -> None:
            await asyncio.sleep(RECORD_WITHIN)
            await flush()

        async def record(message_id: int, result: DeliveryResult) -> None:
            nonlocal flusher
            answers.append((message_id, result))
            if self.diffusion:  # stored before the next is tried: at most one uncertain partner
                await flush()
            elif flusher is None or flusher.done():
                # An answer waits a moment for the others': a burst of pages makes one
                # transaction every RECORD_WITHIN, not one a page.
                flusher = asyncio.create_task(flush_soon())

        async def send_in_order(rows: list[OutboxMessageRow]) -> None:
            for index, row in enumerate(rows):
                async with slots:
                    if self._stopping:
                        unsent.extend(rows[index:])
                        return
                    assert row.id is not None
                    if row.kind in ATTEMPT_MARKED and self.batch > 1:  # marked when claimed if 1
                        await self._mark_attempt(row.id)
                    result = await self._deliver_with_retries(row)
                    await record(row.id, result)

        outcomes = await asyncio.gather(
            *(send_in_order(rows) for rows in queues.values()), return_exceptions=True
        )
        try:
            await flush()  # every answer is stored when the round ends
        finally:
            if flusher is not None:
                flusher.cancel()  # sleeping, or past its write (the lock above waited for it)
                with contextlib.suppress(asyncio.CancelledError):
                    await flusher
        if unsent:
            await self._release(unsent)
        for outcome in outcomes:  # the store went away mid-round: the caller's to handle
            if isinstance(outcome, BaseException):
                raise outcome

    async def _mark_attempt(self, message_id: int) -> None:
        """From here on, a crash leaves the message uncertain (it may have left)."""
        table = table_of(OutboxMessageRow)
        async with self.db.transaction(background=self.background) as session:
            await session.exec(
                sa.update(table).where(table.c.id == message_id).values(attempted_at=self.clock.now())
            )

    async def _release(self, rows: list[OutboxMessageRow]) -> None:
        """Claimed but not attempted: back to the queue, for this or another instance."""
        async with self.db.transaction(background=self.background) as session:
            for claimed in rows:
                row = await session.get(OutboxMessageRow, claimed.id)
                if row is not None and row.state == MessageState.SENDING:
                    row.state, row.claimed_at = MessageState.PENDING.value, None
                    row.attempts = max(0, row.attempts - 1)
                    session.add(row)
        log.info("delivery_released", count=len(rows))

    async def _next_slot(self) -> datetime | None:
        """When this lane's next queued message may leave (a paced SMS, a retry's back-off)."""
        if not self.pace:
            return None  # the others are woken when something is queued, and poll
        table = table_of(OutboxMessageRow)
        try:
            row = await self.db.read_first(
                sa.select(sa.func.min(table.c.not_before)).where(
                    table.c.state == MessageState.PENDING.value,
                    table.c.kind == DIFFUSION,
                    table.c.channel.in_(list(self.only or self.channels)),
                    table.c.not_before > self.clock.now(),  # due ones: the pace's
                )
            )
        except UNAVAILABLE_ERRORS:
            return None
        found = row[0] if row is not None else None
        return utc(found) if found is not None else None

    # --- claiming ----------------------------------------------------------------

    def _window(self, channel: str) -> tuple[timedelta, int]:
        """A paced channel's window and how many messages may leave within it."""
        gap = self.pace[channel]
        window = max(timedelta(seconds=1), gap)
        return window, max(1, round(window / gap))

    def _room(self, channel: str, now: datetime) -> int:
        """How many more messages a paced channel may send now."""
        window, allowed = self._window(channel)
        sent = self._sent.setdefault(channel, deque())
        while sent and sent[0] <= now - window:
            sent.popleft()
        return allowed - len(sent)

    def _frees_at(self, channel: str, now: datetime) -> datetime:
        """When a channel may send again: now, or when its window's oldest send ages out."""
        if channel not in self.pace or self._room(channel, now) > 0:
            return now
        return self._sent[channel][0] + self._window(channel)[0]

    def _open_channels(self, now: datetime) -> list[str]:
        """The channels this lane may send on now (a paced one: once its gap has passed)."""
        return [
            c
            for c in self.channels
            if (self.only is None or c in self.only)
            and self._frees_at(c, now) <= now
            # A channel one instance serves at a time (Matrix): the others leave its messages.
            and getattr(self.channels[c], "serving", True)
        ]

    def _due(self, open_channels: tuple[str, ...]) -> list[Any]:
        """What this lane may claim at the bound ``now``."""
        table = table_of(OutboxMessageRow)
        now = sa.bindparam("now", type_=table.c.not_before.type)
        return [
            table.c.state == MessageState.PENDING.value,
            table.c.channel.in_(open_channels),
            (table.c.kind == DIFFUSION) if self.diffusion else (table.c.kind != DIFFUSION),
            or_(table.c.not_before.is_(None), table.c.not_before <= now),
        ]

    def _probe_stmt(self, open_channels: tuple[str, ...]) -> sa.Select[Any]:
        """Built once per set of open channels: building a statement costs more than running it."""
        key = ("probe", open_channels, 1)
        if key not in self._statements:
            table = table_of(OutboxMessageRow)
            self._statements[key] = sa.select(table.c.id).where(*self._due(open_channels)).limit(1)
        return self._statements[key]

    def _claim_stmt(self, open_channels: tuple[str, ...], limit: int) -> Any:
        key = ("claim", open_channels, limit)
        if key not in self._statements:
            stmt = (
                select(OutboxMessageRow)
                .where(*self._due(open_channels))
                # Real pages go before everything else, then the rest of the real traffic, then
                # exercises; a diffusion to hundreds of partners goes last.
                .order_by(
                    case(
                        (OutboxMessageRow.kind == "diffusion", 3),
                        (col(OutboxMessageRow.is_exercise), 2),
                        (OutboxMessageRow.kind == "page", 0),
                        else_=1,
                    ),
                    col(OutboxMessageRow.id),
                )
                .limit(limit)
            )
            if self.db.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            if len(self._statements) > 64:  # paced lanes' limits vary: keep the cache small
                self._statements.clear()
            self._statements[key] = stmt
        return self._statements[key]

    async def _anything_due(self, open_channels: tuple[str, ...], now: datetime) -> bool:
        """On SQLite, look without the write lock (a reader never waits) before taking it: most
        rounds of an idle lane find nothing. PostgreSQL's claim skips locked rows and blocks
        nobody: no need to look first."""
        if self.db.is_postgres:
            return True
        return await self.db.read_first(self._probe_stmt(open_channels), {"now": now}) is not None

    async def _claim(self, now: datetime) -> tuple[int, list[OutboxMessageRow]]:
        external: list[OutboxMessageRow] = []
        delivered_here = 0
        open_channels = tuple(self._open_channels(now))
        if not await self._anything_due(open_channels, now):
            return 0, []
        async with self.db.transaction(background=self.background) as session:
            limit = min([self.batch, *(self._room(c, now) for c in open_channels if c in self.pace)])
            stmt = self._claim_stmt(open_channels, limit)
            found = (await session.exec(stmt, params={"now": now})).all()
            self._again = self._again or len(found) >= limit
            rows = await self._hold_degraded(session, list(found), now)
            local: list[tuple[OutboxMessageRow, DeliveryResult]] = []
            for row in await self._rate_limit(session, rows, now):
                if getattr(self.channels[row.channel], "local", False):
                    self._again = True
                    local.append((row, await self._safe_deliver(row)))
                    delivered_here += 1
                else:
                    external.append(row)
            await self._mark_sending(session, external, now)
            await self._record_local(session, local, now)
        return delivered_here, external

    async def _mark_sending(self, session: AsyncSession, rows: list[OutboxMessageRow], now: datetime) -> None:
        """Claimed: one Core update for them all (the loaded rows told so, without the ORM
        writing each back)."""
        if not rows:
            return
        table = table_of(OutboxMessageRow)
        conn = await session.connection()
        marked = [r.id for r in rows if r.kind in ATTEMPT_MARKED and self.batch == 1]  # sent right after
        for ids, attempted in ((marked, True), ([r.id for r in rows if r.id not in marked], False)):
            if not ids:
                continue
            values: dict[str, Any] = {
                "state": MessageState.SENDING.value,
                "claimed_at": now,
                "attempts": table.c.attempts + 1,
            }
            if attempted:
                values["attempted_at"] = now
            await conn.execute(sa.update(table).where(table.c.id.in_(ids)).values(**values))
        for row in rows:
            for name, value in (
                ("state", MessageState.SENDING.value),
                ("claimed_at", now),
                ("attempts", row.attempts + 1),
                ("attempted_at", now if row.id in marked else row.attempted_at),
            ):
                set_committed_value(row, name, value)

    async def _record_local(
        self, session: AsyncSession, results: list[tuple[OutboxMessageRow, DeliveryResult]], now: datetime
    ) -> None:
        """A local channel's answers (the console: stored is delivered), in the claim's own
        transaction: the accepted ones in bulk, the others on the full path."""
        accepted = [row for row, result in results if result.outcome in _ACCEPTED]
        if accepted:
            outcome: dict[int, DeliveryResult] = {}
            for row, result in results:
                assert row.id is not None
                outcome[row.id] = result
            conn = await session.connection()
            bulk.collect(session)
            await self._record_accepted(session, conn, accepted, outcome, now, attempt=True)
            await bulk.flush(session)
        for row, result in results:
            if result.outcome not in _ACCEPTED:
                row.attempts += 1
                await self._apply(session, row, result, now)

    async def _hold_degraded(
        self, session: AsyncSession, rows: list[OutboxMessageRow], now: datetime
    ) -> list[OutboxMessageRow]:
        """Rows whose channel is up. While a provider is unreachable, a page fails over to the
        person's next channel at once; anything else waits for the channel to come back."""
        down = self.ctx.health.unavailable()
        if not down:
            return rows
        ready = []
        for row in rows:
            if row.channel not in down:
                ready.append(row)
            elif row.page_id is not None:
                row.state = MessageState.FAILED.value
                row.last_error = f"canal {row.channel} indisponible (fournisseur injoignable)"
                session.add(row)
                self._again = True
                await self._failed(session, row, row.last_error, now)
            else:
                row.not_before = now + DEGRADED_WAIT
                session.add(row)
        return ready

    async def _rate_limit(
        self, session: AsyncSession, rows: list[OutboxMessageRow], now: datetime
    ) -> list[OutboxMessageRow]:
        """Rows to send now; the others are delayed or merged into one that is sent.

        Exercise messages have a budget of their own: real messages count only real sends (a
        drill never uses up a real page's budget), exercise ones count everything (a drill waits
        while the contact is busy); the two are never merged together."""
        limits, room_limits = self.settings.rate_limits, self.settings.room_rate_limits
        ready: list[OutboxMessageRow] = []
        real_contacts = {(r.channel, r.recipient_address) for r in rows if not r.is_exercise}
        # (channel, address, is a room post, is an exercise): a room's posts count per group,
        # whatever its topic.
        groups: dict[tuple[str, str | None, bool, bool], list[OutboxMessageRow]] = {}
        for row in rows:
            if row.is_exercise and (row.channel, row.recipient_address) in real_contacts:
                row.not_before = now + EXERCISE_YIELD  # a real message reaches them this round
                session.add(row)
            elif (
                row.kind == "diffusion"
            ):  # paced when queued (bot.diffusion), never merged: each has its code
                ready.append(row)
            elif row.kind == "room_post" and row.channel in room_limits:
                chat = str(row.recipient_address or "").partition(":")[0]
                groups.setdefault((row.channel, chat, True, row.is_exercise), []).append(row)
            elif row.channel in limits:
                groups.setdefault((row.channel, row.recipient_address, False, row.is_exercise), []).append(
                    row
                )
            else:
                ready.append(row)
        for (channel, address, is_room, exercise), group in groups.items():
            limit = (room_limits if is_room else limits)[ChannelKind(channel)]
            window_start = now - limit.per
            where: list[Any] = (
                [
                    col(OutboxMessageRow.recipient_address).startswith(f"{address}:"),
                    OutboxMessageRow.kind == "room_post",
                ]
                if is_room
                else [OutboxMessageRow.recipient_address == address]
            )
            if not exercise:
                where.append(sa.not_(col(OutboxMessageRow.is_exercise)))
            recent = (
                await session.exec(
                    select(func.count(), func.min(OutboxMessageRow.sent_at)).where(
                        OutboxMessageRow.channel == channel,
                        *where,
                        col(OutboxMessageRow.sent_at) > window_start,
                    )
                )
            ).one()
            count, oldest = recent
            if count >= limit.count and oldest is not None:
                for row in group:
                    row.not_before = oldest + limit.per
                    session.add(row)
                continue
            room = limit.count - count
            if len(group) <= room:
                ready.extend(group)  # room for all of them
                continue
            if not limit.merge:
                ready.extend(group[:room])
                for row in group[room:]:
                    row.not_before = now + limit.per
                    session.add(row)
                continue
            # Room for fewer messages than are waiting: merge the rest into the last one sent.
            keep, extra = group[: room - 1], group[room - 1 :]
            primary = extra[0]
            for other in extra[1:]:
                primary.text += MERGE_SEPARATOR + other.text
                other.state = MessageState.MERGED.value
                other.data = {**other.data, "merged_into": primary.id}
                session.add(other)
            session.add(primary)
            ready.extend([*keep, primary])
        return ready

    # --- delivering --------------------------------------------------------------

    async def _safe_deliver(self, row: OutboxMessageRow) -> DeliveryResult:
        try:
            return await self.channels[row.channel].deliver(row)
        except Exception as exc:  # an adapter bug must not stop the others' delivery
            log.exception("delivery_crashed", channel=row.channel, message_id=row.id)
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"{type(exc).__name__}: {exc}")

    def _wait(self, state: RetryCallState) -> float:
        result = state.outcome.result() if state.outcome and not state.outcome.failed else None
        if isinstance(result, DeliveryResult) and result.retry_after is not None:
            return result.retry_after
        return float(wait_exponential(multiplier=0.5, max=10)(state))

    async def _deliver_with_retries(self, row: OutboxMessageRow) -> DeliveryResult:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.retries),
            wait=self._wait,
            retry=retry_if_result(lambda r: r.outcome is DeliveryOutcome.TRANSIENT),
            sleep=self.clock.sleep,
            retry_error_callback=_last_result,
        )
        return await retrying(self._safe_deliver, row)

    async def _record(self, results: list[tuple[int, DeliveryResult]]) -> None:
        """The providers' answers, into the store in one transaction. Accepted messages (nearly
        all) are written with three Core statements whatever their number; a failure takes the
        full path (back-off, failover, warnings) on the loaded row."""
        outcome = dict(results)
        table = table_of(OutboxMessageRow)
        async with self.db.transaction(background=self.background) as session:
            conn = await session.connection()
            # Only messages still ours: the sweep may have called one uncertain meanwhile.
            still = sa.select(
                table.c.id, table.c.page_id, table.c.signal_id, table.c.recipient_person_id,
                table.c.channel, table.c.kind, table.c.is_exercise,
            ).where(table.c.id.in_(outcome), table.c.state == MessageState.SENDING.value)  # fmt: skip
            if self.db.is_postgres:
                still = still.with_for_update()
            live = (await conn.execute(still.order_by(table.c.id))).all()
            now = self.clock.now()
            accepted = [r for r in live if outcome[r.id].outcome in _ACCEPTED]
            if accepted:
                bulk.collect(session)  # their history: one insert
                await self._record_accepted(session, conn, accepted, outcome, now)
                await bulk.flush(session)
            failed = [r.id for r in live if outcome[r.id].outcome not in _ACCEPTED]
            if failed:
                self._again = True  # a failover makes the person's next channel due now
                rows = (
                    await session.exec(
                        select(OutboxMessageRow)
                        .where(col(OutboxMessageRow.id).in_(failed))
                        .order_by(col(OutboxMessageRow.id))
                    )
                ).all()
                for row in rows:
                    assert row.id is not None
                    await self._apply(session, row, outcome[row.id], now)

    async def _record_accepted(
        self,
        session: AsyncSession,
        conn: AsyncConnection,
        rows: list[Any],
        outcome: dict[int, DeliveryResult],
        now: datetime,
        *,
        attempt: bool = False,
    ) -> None:
        """What ``_apply`` does for a message the provider took, for many at once; ``attempt``:
        counting the attempt too (a local channel's messages are never marked sending)."""
        table = table_of(OutboxMessageRow)
        stamp = table.c.sent_at.type
        counted = {"attempts": table.c.attempts + 1} if attempt else {}
        await conn.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("message_id"))
            .values(
                **counted,
                state=sa.bindparam("new_state"),
                provider_id=sa.func.coalesce(
                    sa.bindparam("new_provider_id", type_=sa.String), table.c.provider_id
                ),
                claimed_at=None,
                sent_at=sa.func.coalesce(table.c.sent_at, sa.bindparam("now", type_=stamp)),
                delivered_at=sa.func.coalesce(sa.bindparam("delivered", type_=stamp), table.c.delivered_at),
            ),
            [
                {
                    "message_id": row.id,
                    "new_state": _ACCEPTED[outcome[row.id].outcome].value,
                    "new_provider_id": outcome[row.id].provider_id,
                    "now": now,
                    "delivered": now if outcome[row.id].outcome is DeliveryOutcome.DELIVERED else None,
                }
                for row in rows
            ],
        )
        for row in rows:
            result = outcome[row.id].outcome
            self._count_sent(row)
            log.info("delivery", message_id=row.id, channel=row.channel, kind=row.kind, outcome=result.value)
            if row.page_id is not None:
                kind = "delivered" if result is DeliveryOutcome.DELIVERED else "sent"
                self._record_delivery(session, row, kind, now)

    def _count_sent(self, row: OutboxMessageRow | sa.Row[Any]) -> None:
        if self.metrics is not None:
            self.metrics.messages_sent.labels(
                row.channel, row.kind, "true" if row.is_exercise else "false"
            ).inc()

    async def _apply(
        self, session: AsyncSession, row: OutboxMessageRow, result: DeliveryResult, now: datetime
    ) -> None:
        row.provider_id = result.provider_id or row.provider_id
        row.claimed_at = None
        outcome = result.outcome
        if outcome is DeliveryOutcome.TRANSIENT and row.attempts >= self.settings.max_attempts:
            outcome = DeliveryOutcome.PERMANENT
        if outcome in (DeliveryOutcome.DELIVERED, DeliveryOutcome.SENT):
            row.state = (
                MessageState.DELIVERED.value
                if outcome is DeliveryOutcome.DELIVERED
                else MessageState.SENT.value
            )
            row.sent_at = row.sent_at or now
            self._count_sent(row)
            if outcome is DeliveryOutcome.DELIVERED:
                row.delivered_at = now
            session.add(row)
            if row.page_id is not None and row.signal_id is not None:
                self._record_delivery(session, row, "delivered" if row.delivered_at else "sent", now)
        elif outcome is DeliveryOutcome.TRANSIENT:
            row.state = MessageState.PENDING.value
            row.last_error = result.error
            # Durable back-off (bounded) so a failing provider is not hammered.
            delay = result.retry_after or min(300.0, 2.0 ** min(row.attempts, 8))
            row.not_before = now + timedelta(seconds=delay)
            session.add(row)
            if row.page_id is not None and row.signal_id is not None:
                add_event(
                    session,
                    row.signal_id,
                    "delivery_retry",
                    t(
                        "event.delivery_failed",
                        self.ctx.lang,
                        name=self.ctx.name(row.recipient_person_id),
                        channel=row.channel,
                        reason=f"{result.error} (nouvel essai)",
                    ),
                    now,
                    actor=row.recipient_person_id,
                    channel=row.channel,
                )
        else:
            row.state = MessageState.FAILED.value
            row.last_error = result.error
            session.add(row)
            await self._failed(session, row, result.error or "échec définitif", now)
            if result.desk_warning:
                self._warn_desk(session, row, result.desk_warning, now)
        log.info("delivery", message_id=row.id, channel=row.channel, kind=row.kind, outcome=outcome.value)

    def _record_delivery(
        self, session: AsyncSession, row: OutboxMessageRow | sa.Row[Any], kind: str, now: datetime
    ) -> None:
        """A page reached (or was handed over for) its person: into the signal's history."""
        if row.signal_id is None:
            return
        add_event(
            session,
            row.signal_id,
            kind,
            t(
                "event.delivered",
                self.ctx.lang,
                name=self.ctx.name(row.recipient_person_id),
                channel=row.channel,
            ),
            now,
            actor=row.recipient_person_id,
            channel=row.channel,
            data={"message_id": row.id},
        )

    def _warn_desk(self, session: AsyncSession, row: OutboxMessageRow, warning: str, now: datetime) -> None:
        """Tell the desk managers (function responsable) about a contact that needs fixing."""
        # A person of the directory, or a partner (a diffusion's message names it).
        who = self.ctx.name(row.recipient_person_id) if row.recipient_person_id else None
        who = who or str(row.data.get("partner_name") or row.data.get("partner") or row.recipient_address)
        text = f"Annuaire à corriger — {who} ({row.channel}) : {warning}"
        for person in self.ctx.config.people:
            if Function.RESPONSABLE in person.functions:
                notify(
                    session,
                    self.ctx,
                    person.id,
                    text,
                    kind="desk_warning",
                    signal_id=row.signal_id,
                    key=f"warning:{row.id}",
                    now=now,
                )

    async def provider_status(
        self, channel: str, provider_id: str, status: str, error: str | None = None
    ) -> bool:
        """A provider's delivery report (Twilio status callback…); False if the message is unknown."""
        now = self.clock.now()
        async with self.db.transaction(background=self.background) as session:
            stmt = select(OutboxMessageRow).where(
                OutboxMessageRow.channel == channel, OutboxMessageRow.provider_id == provider_id
            )
            if self.db.is_postgres:
                stmt = stmt.with_for_update()
            row = (await session.exec(stmt)).first()
            if row is None:
                return False
            if status == "delivered" and row.state in (MessageState.SENT, MessageState.EXPIRED):
                row.state, row.delivered_at = MessageState.DELIVERED.value, now
                session.add(row)
                if row.page_id is not None and row.signal_id is not None:
                    self._record_delivery(session, row, "delivered", now)
            elif status in ("undelivered", "failed") and row.state in ("sent", "delivered"):
                row.state = MessageState.FAILED.value
                row.last_error = f"{status}{f' ({error})' if error else ''}"
                session.add(row)
                await self._failed(session, row, f"non remis ({row.last_error})", now)
        self.poke()
        return True

    async def _failed(self, session: AsyncSession, row: OutboxMessageRow, reason: str, now: datetime) -> None:
        if self.on_failure is not None:
            await self.on_failure(session, row, reason, now)

    # --- sweeping ----------------------------------------------------------------

    async def _sweep(self, now: datetime) -> int:
        """Stale claims (crash mid-send) and pages not delivered in time fail over."""
        async with self.db.transaction() as session:
            stale = select(OutboxMessageRow).where(
                OutboxMessageRow.state == MessageState.SENDING,
                col(OutboxMessageRow.claimed_at) < now - self.settings.claim_lease,
            )
            late = select(OutboxMessageRow).where(
                OutboxMessageRow.state == MessageState.SENT.value,
                OutboxMessageRow.kind == "page",
                col(OutboxMessageRow.sent_at) < now - self.settings.timeout,
            )
            if self.db.is_postgres:
                stale = stale.with_for_update(skip_locked=True)
                late = late.with_for_update(skip_locked=True)
            count = 0
            for row in (await session.exec(stale)).all():
                if row.kind in ATTEMPT_MARKED and row.attempted_at is None:
                    # Claimed by a process that died before trying it: it never left.
                    row.state, row.claimed_at = MessageState.PENDING.value, None
                    session.add(row)
                    count += 1
                    continue
                row.state, row.claimed_at = MessageState.UNCERTAIN.value, None
                row.last_error = "envoi interrompu (arrêt du service) : non renvoyé pour éviter un doublon"
                session.add(row)
                await self._failed(session, row, row.last_error, now)
                count += 1
            for row in (await session.exec(late)).all():
                row.state = MessageState.EXPIRED.value
                row.last_error = "non remis dans le délai"
                session.add(row)
                await self._failed(session, row, row.last_error, now)
                count += 1
        return count

    async def run_forever(self, poll_seconds: float = 1.0) -> None:
        while not self._stopping:
            # Cleared before the round: a message queued meanwhile pokes the wait below.
            self._wake.clear()
            try:
                handled = await self.run_once()
            except UNAVAILABLE_ERRORS:
                log.warning("delivery_store_unavailable")
                handled = 0
            except Exception:  # a bug in one round must not stop every delivery for good
                log.exception("delivery_round_failed")
                handled = 0
            if handled and self._again:
                continue
            timeout = poll_seconds
            soonest = [at for at in (self._wake_at, await self._next_slot()) if at is not None]
            if soonest:  # a message due (or a paced channel open) before the next poll
                timeout = min(timeout, max(0.0, (min(soonest) - self.clock.now()).total_seconds()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            except TimeoutError:
                pass
