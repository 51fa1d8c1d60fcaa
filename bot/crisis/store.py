"""Reading and writing crises: references, members, functions, rooms, and the main courante.

Entries are appended under a lock on their crisis (``FOR UPDATE`` on PostgreSQL; SQLite has one
writer), so that numbers follow each other without gaps and each hash links to the one before,
whatever the number of instances. A platform message id (``platform_key``) gives one entry at
most: a retried Slack event or a Telegram update delivered twice finds the entry already there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.crisis import timers
from bot.crisis.chain import GENESIS, entry_hash
from bot.crisis.models import (
    CrisisCounter,
    CrisisFunctionRow,
    CrisisMemberRow,
    CrisisPointRow,
    CrisisRoomRow,
    CrisisRow,
    CrisisSignalRow,
    CrisisState,
    EntryKind,
    EntryRow,
)
from bot.db import Database
from bot.intake import allocate_sequence
from bot.models import SignalRow, table_of
from bot.validation import printable


@dataclass(frozen=True)
class EntryDraft:
    text: str
    origin: str  # slack, telegram, sms, email, voice, web, cli, system
    author_label: str
    author_id: str | None = None
    external: bool = False
    kind: EntryKind = EntryKind.INFORMATION
    attachments: list[dict[str, Any]] = field(default_factory=list)
    recipient: str | None = None
    owner: str | None = None
    due_at: datetime | None = None
    refers_to: int | None = None
    platform_key: str | None = None


def format_crisis_reference(prefix: str, year: int, seq: int) -> str:
    return f"{prefix}-{year}-{seq:04d}"


def parse_crisis_reference(text: str, prefix: str) -> str | None:
    import re

    found = re.search(rf"\b{re.escape(prefix)}-(\d{{4}})-(\d{{1,6}})\b", text.upper())
    return format_crisis_reference(prefix, int(found[1]), int(found[2])) if found else None


async def new_reference(session: AsyncSession, prefix: str, year: int) -> tuple[str, int]:
    seq = await allocate_sequence(session, year, counter=CrisisCounter)
    return format_crisis_reference(prefix, year, seq), seq


async def lock_crisis(session: AsyncSession, db: Database, reference: str) -> CrisisRow | None:
    """The crisis, locked until the transaction ends (appends to it wait in line)."""
    stmt = select(CrisisRow).where(CrisisRow.reference == reference.strip().upper())
    if db.is_postgres:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def lock_crisis_by_id(session: AsyncSession, db: Database, crisis_id: int) -> CrisisRow | None:
    stmt = select(CrisisRow).where(CrisisRow.id == crisis_id)
    if db.is_postgres:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def append(
    session: AsyncSession, crisis: CrisisRow, draft: EntryDraft, now: datetime
) -> tuple[EntryRow, bool]:
    """Append an entry to a crisis the caller holds locked; (the entry, whether it is new)."""
    [result] = await append_many(session, crisis, [draft], now)
    return result


async def append_many(
    session: AsyncSession, crisis: CrisisRow, drafts: list[EntryDraft], now: datetime
) -> list[tuple[EntryRow, bool]]:
    """Append entries in order to a crisis the caller holds locked: one query for the chain's
    head, one for the platform keys already logged, one flush."""
    assert crisis.id is not None
    keys = [d.platform_key for d in drafts if d.platform_key is not None]
    known: dict[str, EntryRow] = {}
    if keys:
        rows = await session.exec(select(EntryRow).where(col(EntryRow.platform_key).in_(keys)))
        known = {str(e.platform_key): e for e in rows.all()}
    last = (
        await session.exec(
            select(EntryRow)
            .where(EntryRow.crisis_id == crisis.id)
            .order_by(col(EntryRow.number).desc())
            .limit(1)
        )
    ).first()
    number, prev = (last.number, last.hash) if last is not None else (0, GENESIS)
    results: list[tuple[EntryRow, bool]] = []
    for draft in drafts:
        if draft.platform_key is not None and draft.platform_key in known:
            results.append((known[draft.platform_key], False))  # a retried event, or twice in one batch
            continue
        number += 1
        entry = EntryRow(
            crisis_id=crisis.id,
            number=number,
            at=now,
            author_id=draft.author_id,
            author_label=printable(draft.author_label)[:200],
            external=draft.external,
            origin=draft.origin,
            kind=draft.kind.value,
            text=printable(draft.text),
            attachments=printable(draft.attachments),
            recipient=draft.recipient,
            owner=draft.owner,
            due_at=draft.due_at,
            refers_to=draft.refers_to,
            platform_key=draft.platform_key,
            prev_hash=prev,
            hash="",
        )
        entry.hash = entry_hash(crisis.reference, entry, prev)
        prev = entry.hash
        session.add(entry)
        if draft.platform_key is not None:
            known[draft.platform_key] = entry
        if draft.kind is EntryKind.ACTION and draft.due_at is not None:
            # In the entry's transaction: an action logged is an action followed up.
            timers.schedule(session, crisis.id, timers.ACTION_DUE, draft.due_at, now, entry=number)
        results.append((entry, True))
    await session.flush()
    return results


async def get_crisis(session: AsyncSession, reference: str) -> CrisisRow | None:
    return (
        await session.exec(select(CrisisRow).where(CrisisRow.reference == reference.strip().upper()))
    ).first()


async def entries(session: AsyncSession, crisis_id: int, after: int = 0) -> list[EntryRow]:
    return list(
        (
            await session.exec(
                select(EntryRow)
                .where(EntryRow.crisis_id == crisis_id, EntryRow.number > after)
                .order_by(col(EntryRow.number))
            )
        ).all()
    )


async def entry_rows(session: AsyncSession, crisis_id: int) -> list[EntryRow]:
    """Every entry of a crisis, for verifying and exporting: plain rows rather than tracked
    objects (a hundred thousand of them load in a fraction of the time). They read like
    ``EntryRow`` (same attribute names) and must not be modified."""
    table = table_of(EntryRow)
    # The connection, not the ORM session: rows come back as plain named tuples.
    connection = await session.connection()
    result = await connection.execute(
        sa.select(table).where(table.c.crisis_id == crisis_id).order_by(table.c.number)
    )
    return cast(list[EntryRow], list(result.all()))


async def entry(session: AsyncSession, crisis_id: int, number: int) -> EntryRow | None:
    return (
        await session.exec(select(EntryRow).where(EntryRow.crisis_id == crisis_id, EntryRow.number == number))
    ).first()


async def entry_by_key(session: AsyncSession, platform_key: str) -> EntryRow | None:
    return (await session.exec(select(EntryRow).where(EntryRow.platform_key == platform_key))).first()


async def members(session: AsyncSession, crisis_id: int) -> list[CrisisMemberRow]:
    return list(
        (
            await session.exec(
                select(CrisisMemberRow)
                .where(CrisisMemberRow.crisis_id == crisis_id)
                .order_by(col(CrisisMemberRow.id))
            )
        ).all()
    )


async def functions(
    session: AsyncSession, crisis_id: int, *, current: bool = True
) -> list[CrisisFunctionRow]:
    stmt = select(CrisisFunctionRow).where(CrisisFunctionRow.crisis_id == crisis_id)
    if current:
        stmt = stmt.where(col(CrisisFunctionRow.until).is_(None))
    return list((await session.exec(stmt.order_by(col(CrisisFunctionRow.id)))).all())


async def rooms(session: AsyncSession, crisis_id: int) -> list[CrisisRoomRow]:
    return list((await session.exec(select(CrisisRoomRow).where(CrisisRoomRow.crisis_id == crisis_id))).all())


async def crisis_of_room(session: AsyncSession, platform: str, room_id: str) -> CrisisRow | None:
    return (
        await session.exec(
            select(CrisisRow)
            .join(CrisisRoomRow, col(CrisisRoomRow.crisis_id) == col(CrisisRow.id))
            .where(CrisisRoomRow.platform == platform, CrisisRoomRow.room_id == room_id)
        )
    ).first()


async def open_crises_of(session: AsyncSession, person_id: str) -> list[CrisisRow]:
    """Open crises this person was called to, newest first."""
    return list(
        (
            await session.exec(
                select(CrisisRow)
                .join(CrisisMemberRow, col(CrisisMemberRow.crisis_id) == col(CrisisRow.id))
                .where(CrisisMemberRow.person_id == person_id, CrisisRow.state == CrisisState.OPEN.value)
                .order_by(col(CrisisRow.id).desc())
            )
        ).all()
    )


async def list_crises(session: AsyncSession, state: str | None = None, limit: int = 100) -> list[CrisisRow]:
    stmt = select(CrisisRow).order_by(col(CrisisRow.id).desc()).limit(limit)
    if state is not None:
        stmt = stmt.where(CrisisRow.state == state)
    return list((await session.exec(stmt)).all())


async def signals_of(session: AsyncSession, crisis_id: int) -> list[SignalRow]:
    return list(
        (
            await session.exec(
                select(SignalRow)
                .join(CrisisSignalRow, col(CrisisSignalRow.signal_id) == col(SignalRow.id))
                .where(CrisisSignalRow.crisis_id == crisis_id)
                .order_by(col(SignalRow.id))
            )
        ).all()
    )


async def points(session: AsyncSession, crisis_id: int) -> list[CrisisPointRow]:
    return list(
        (
            await session.exec(
                select(CrisisPointRow)
                .where(CrisisPointRow.crisis_id == crisis_id)
                .order_by(col(CrisisPointRow.number))
            )
        ).all()
    )
