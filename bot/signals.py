"""Reading signals and their history."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, or_, select

from bot.db import Database
from bot.domain import SignalStatus
from bot.models import LadderRunRow, SignalEventRow, SignalRow

REFERENCE = re.compile(r"\b([A-Z][A-Z0-9]{1,9}-\d{4}-\d{6})\b", re.IGNORECASE)


def find_reference(text: str) -> str | None:
    """The first signal reference (PFR-2026-000042) in a text, upper-cased."""
    match = REFERENCE.search(text)
    return match.group(1).upper() if match else None


async def get_signal(db: Database, reference: str) -> tuple[SignalRow, list[SignalEventRow]] | None:
    async with db.read_session() as session:
        signal = (
            await session.exec(select(SignalRow).where(SignalRow.reference == reference.strip().upper()))
        ).first()
        if signal is None:
            return None
        events = (
            await session.exec(
                select(SignalEventRow)
                .where(SignalEventRow.signal_id == signal.id)
                .order_by(col(SignalEventRow.at), col(SignalEventRow.id))
            )
        ).all()
        return signal, list(events)


async def list_signals(
    db: Database,
    status: str | None = None,
    limit: int = 200,
    run_states: list[str | None] | None = None,
    exercise: str = "exclude",
) -> list[SignalRow]:
    """Newest first. ``status`` is a status code, or ``open`` / ``closed``; ``run_states`` keeps
    the signals whose ladder run is in one of those states (``None``: no ladder run);
    ``exercise``: drills and exercises are hidden (``exclude``) unless asked (``include``, ``only``)."""
    stmt = select(SignalRow)
    if exercise == "exclude":
        stmt = stmt.where(sa.not_(col(SignalRow.is_exercise)))
    elif exercise == "only":
        stmt = stmt.where(col(SignalRow.is_exercise))
    if run_states is not None:
        stmt = stmt.join(LadderRunRow, col(LadderRunRow.signal_id) == col(SignalRow.id), isouter=True)
        wanted = [s for s in run_states if s is not None]
        condition = col(LadderRunRow.state).in_(wanted)
        stmt = stmt.where(or_(condition, col(LadderRunRow.id).is_(None)) if None in run_states else condition)
    if status == "open":
        stmt = stmt.where(SignalRow.status != SignalStatus.CLOS.value)
    elif status == "closed":
        stmt = stmt.where(SignalRow.status == SignalStatus.CLOS.value)
    elif status:
        stmt = stmt.where(SignalRow.status == SignalStatus(status).value)
    stmt = stmt.order_by(col(SignalRow.received_at).desc(), col(SignalRow.id).desc()).limit(limit)
    async with db.read_session() as session:
        return list((await session.exec(stmt)).all())


def signal_to_dict(signal: SignalRow, events: list[SignalEventRow] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "reference": signal.reference,
        "title": signal.title,
        "body": signal.body,
        "status": signal.status,
        "severity": signal.severity,
        "category": signal.category,
        "source": signal.source,
        "reporter": signal.reporter,
        "reporter_person": signal.reporter_person_id,
        "origin": {"channel": signal.origin_channel, "address": signal.origin_address},
        "dedup_key": signal.dedup_key,
        "duplicates": signal.duplicate_count,
        "exercise": signal.is_exercise,
        "attributes": signal.attributes,
        "received_at": signal.received_at.isoformat(),
        "last_seen_at": signal.last_seen_at.isoformat(),
        "acknowledged_at": signal.acknowledged_at.isoformat() if signal.acknowledged_at else None,
        "acknowledged_by": signal.acknowledged_by,
        "closed_at": signal.closed_at.isoformat() if signal.closed_at else None,
    }
    if events is not None:
        out["history"] = [
            {
                "at": e.at.isoformat(),
                "kind": e.kind,
                "actor": e.actor,
                "channel": e.channel,
                "message": e.message,
                "data": e.data,
            }
            for e in events
        ]
    return out
