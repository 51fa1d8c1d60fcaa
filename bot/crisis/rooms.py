"""Creating the crisis rooms on each platform: a worker that takes the rooms waiting to be made,
creates each (Slack channel, Telegram forum topic), invites the members, posts and pins the
brief, and logs it; retried with growing delays while the platform cannot be reached, the duty
officers told at the first failure. Posts that come later (joins, functions) go through the outbox.
The same worker sends the reminders of a vacant décision or pilotage (``CrisisCell.remind_vacancies``).

A room is claimed with a lease (its next attempt pushed back) before any network call, so that
no transaction waits on a platform and two instances never create the same room at once; a
crash between the creation and its record makes a second room with a suffixed name, which the
log shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.channels import RoomChannel, RoomRef
from bot.crisis import store
from bot.crisis.cell import CrisisCell, moderators
from bot.crisis.due import DueActions
from bot.crisis.models import CrisisRoomRow, CrisisRow
from bot.domain import ChannelKind, MessageState
from bot.models import OutboxMessageRow
from bot.texts import t
from escalation.paging import notify_officers

log = structlog.get_logger("vigie.crisis.rooms")

LEASE = timedelta(minutes=2)
RETRY_MAX = timedelta(minutes=10)


class RoomKeeper:
    def __init__(
        self,
        cell: CrisisCell,
        rooms: dict[str, RoomChannel],
        poke_delivery: object,
        due: DueActions | None = None,
    ) -> None:
        self.cell, self.rooms, self.due = cell, rooms, due
        self.db, self.ctx = cell.db, cell.ctx
        self._poke_delivery = poke_delivery
        self._wake = asyncio.Event()

    def poke(self) -> None:
        self._wake.set()

    async def run_forever(self, interval: float = 5.0) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # a store outage: try again at the next round
                log.exception("room_keeper_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()

    async def _any(self, stmt: Any) -> bool:
        """Whether ``stmt`` selects a room, looked without the write lock (SQLite has one writer,
        and nearly every round finds nothing)."""
        async with self.db.read_session() as session:
            return (await session.exec(stmt.limit(1))).first() is not None

    async def _locked(self, session: AsyncSession, stmt: Any) -> list[CrisisRoomRow]:
        stmt = stmt.order_by(col(CrisisRoomRow.id)).limit(10)
        if self.db.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        return list((await session.exec(stmt)).all())

    async def run_once(self) -> int:
        now = self.ctx.clock.now()
        claimed: list[CrisisRoomRow] = []
        to_make = (
            select(CrisisRoomRow)
            .where(col(CrisisRoomRow.room_id).is_(None), col(CrisisRoomRow.next_attempt_at) <= now)
            .where(col(CrisisRoomRow.platform).in_(list(self.rooms)))
        )
        if await self._any(to_make):
            async with self.db.transaction() as session:
                claimed = await self._locked(session, to_make)
                for row in claimed:
                    row.attempts += 1
                    row.next_attempt_at = now + LEASE
                    session.add(row)
        for row in claimed:
            await self._create(row)
        done = len(claimed) + await self.cell.remind_vacancies() + await self._close_rooms(now)
        if self.due is not None:
            timed = await self.due.run_due()
            if timed and callable(self._poke_delivery):
                self._poke_delivery()
            done += timed
        return done

    async def _close_rooms(self, now: datetime) -> int:
        """The rooms of closed crises, once nothing is left to post in them: archived (Slack,
        when ``crisis.slack.archive``) or closed (Telegram topic). Claimed with a lease."""
        to_close = (
            select(CrisisRoomRow)
            .where(col(CrisisRoomRow.close_at) <= now, col(CrisisRoomRow.closed_at).is_(None))
            .where(col(CrisisRoomRow.room_id).is_not(None), col(CrisisRoomRow.platform).in_(list(self.rooms)))
        )
        if not await self._any(to_close):
            return 0
        ready: list[CrisisRoomRow] = []
        async with self.db.transaction() as session:
            for row in await self._locked(session, to_close):
                waiting = await session.exec(
                    select(OutboxMessageRow.id).where(
                        OutboxMessageRow.recipient_address == row.room_id,
                        col(OutboxMessageRow.state).in_(
                            [MessageState.PENDING.value, MessageState.SENDING.value]
                        ),
                    )
                )
                if waiting.first() is not None:
                    continue  # the closing words first
                row.close_at = now + LEASE
                session.add(row)
                ready.append(row)
        for row in ready:
            room = RoomRef(row.platform, str(row.room_id), row.name)
            try:
                if row.platform != "slack" or self.cell.config.crisis.slack.archive:
                    await self.rooms[row.platform].archive(room)
            except Exception as exc:  # retried after the lease
                log.warning("crisis_room_close_failed", platform=row.platform, error=str(exc))
                continue
            async with self.db.transaction() as session:
                fresh = await session.get(CrisisRoomRow, row.id)
                if fresh is not None:
                    fresh.closed_at = now
                    session.add(fresh)
            log.info("crisis_room_closed", platform=row.platform, room=row.room_id)
        return len(ready)

    async def _create(self, row: CrisisRoomRow) -> None:
        adapter = self.rooms[row.platform]
        lang = self.cell.lang
        async with self.db.read_session() as session:
            crisis = await session.get(CrisisRow, row.crisis_id)
            if crisis is None:
                return
            members = await store.members(session, row.crisis_id)
            held = await store.functions(session, row.crisis_id)
            signals = await store.signals_of(session, row.crisis_id)
        functions = self.cell.functions_text(held)
        try:
            room = await adapter.create_room(
                row.name,
                topic=self.cell.topic_line(crisis, functions),
                private=self.cell.config.crisis.slack.private,
            )
        except Exception as exc:  # unreachable, refused: retried; the officers hear of it once
            await self._failed(row, crisis.reference, f"{type(exc).__name__}: {exc}")
            return
        # Recorded before anyone is invited: from the first message posted in it, the room is
        # known as this crisis's, and nothing said there is lost.
        await self._record(row, room)
        addresses = []
        for member in members:
            person = self.cell.config.person(member.person_id)
            address = person.address(ChannelKind(row.platform)) if person else None
            if address:
                addresses.append(str(address))
        brief = t(
            "crisis.brief",
            lang,
            banner=t("exercise.banner", lang) if crisis.is_exercise else "",
            reference=crisis.reference,
            title=crisis.title,
            opened=self.ctx.local(crisis.opened_at, "%d/%m/%Y %H:%M"),
            opener=self.ctx.name(crisis.opened_by),
            plan=f" Plan ORSAN : {crisis.plan}." if crisis.plan else "",
            signals=", ".join(f"{s.reference} « {s.title} »" for s in signals) or t("crisis.no_signal", lang),
            functions=functions or t("crisis.functions_none", lang),
        )
        failed: list[str] = []
        try:
            failed = await adapter.invite(
                room, addresses, banner=t("exercise.banner", lang) if crisis.is_exercise else ""
            )
            for person_id in moderators(crisis, held):
                person = self.cell.config.person(person_id)
                address = person.address(ChannelKind(row.platform)) if person else None
                if address:
                    await adapter.set_power(room, str(address), "moderator")
            posted = await adapter.post(room, brief)
            await adapter.pin(posted)
        except Exception as exc:  # the room exists: record it; invitations and brief are logged as missing
            log.warning("crisis_room_setup_incomplete", platform=row.platform, error=str(exc))
            failed = failed or addresses
        await self._created(row, room, failed)

    async def _record(self, row: CrisisRoomRow, room: RoomRef) -> None:
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            fresh = await session.get(CrisisRoomRow, row.id)
            if fresh is None:
                return
            fresh.room_id, fresh.name, fresh.created_at, fresh.error = room.room_id, room.name, now, None
            session.add(fresh)

    async def _created(self, row: CrisisRoomRow, room: RoomRef, failed: list[str]) -> None:
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            crisis = await store.lock_crisis_by_id(session, self.db, row.crisis_id)
            if crisis is None:
                return
            text = t("crisis.entry.room", self.cell.lang, platform=row.platform.capitalize(), name=room.name)
            if failed:
                text += " " + t("crisis.entry.room_failed", self.cell.lang, count=len(failed))
            await self.cell.system_entry(session, crisis, text, now, announce=False)
        log.info("crisis_room_created", platform=row.platform, room=room.room_id)

    async def _failed(self, row: CrisisRoomRow, reference: str, error: str) -> None:
        now = self.ctx.clock.now()
        delay = min(RETRY_MAX, timedelta(seconds=15 * 2 ** min(row.attempts - 1, 8)))
        async with self.db.transaction() as session:
            fresh = await session.get(CrisisRoomRow, row.id)
            if fresh is None:
                return
            fresh.next_attempt_at, fresh.error = now + delay, error[:500]
            session.add(fresh)
            if fresh.attempts == 1:
                text = t(
                    "crisis.room_unreachable",
                    self.cell.lang,
                    platform=row.platform.capitalize(),
                    reference=reference,
                    error=error[:200],
                )
                notify_officers(
                    session,
                    self.ctx,
                    text,
                    kind="crisis_room_failed",
                    key=f"crisis:{reference}:room:{row.platform}",
                    now=now,
                )
        log.warning("crisis_room_failed", platform=row.platform, attempts=row.attempts, error=error)
        if callable(self._poke_delivery):
            self._poke_delivery()
