"""Appending to a signal's history (append-only: there is no function to change an entry)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import bulk
from bot.models import SignalEventRow


def add_event(
    session: AsyncSession,
    signal_id: int,
    kind: str,
    message: str,
    at: datetime,
    *,
    actor: str | None = None,
    channel: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    values: dict[str, Any] = {
        "signal_id": signal_id,
        "at": at,
        "kind": kind,
        "actor": actor,
        "channel": channel,
        "message": message,
        "data": data or {},
    }
    if not bulk.add(session, SignalEventRow, values):
        session.add(SignalEventRow(**values))
