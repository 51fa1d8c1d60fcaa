"""Telling the duty officers that a channel is down, or back: once per outage, even with several
instances (the notice's key names the channel and the hour the outage began)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.db import Database
from bot.models import OutboxMessageRow
from bot.texts import t
from escalation.context import PagingContext
from escalation.paging import notify_officers


async def tell_officers(
    db: Database,
    ctx: PagingContext,
    channel: str,
    *,
    back: bool,
    since: datetime,
    now: datetime,
    error: str | None = None,
) -> int:
    """Queue the notice for every duty officer; returns how many messages were queued."""
    key = f"channel-{'up' if back else 'down'}:{channel}:{since:%Y%m%dT%H}"
    if back:
        text = t("notice.channel_up", ctx.lang, channel=channel, time=ctx.local(now), since=ctx.local(since))
    else:
        text = t("notice.channel_down", ctx.lang, channel=channel, time=ctx.local(since), error=error or "?")
    try:
        async with db.transaction() as session:
            already = (
                await session.exec(
                    select(OutboxMessageRow.id).where(col(OutboxMessageRow.idempotency_key).startswith(key))
                )
            ).first()
            if already is not None:
                return 0
            return notify_officers(session, ctx, text, kind="channel", key=key, now=now)
    except IntegrityError:  # another instance queued it at the same moment
        return 0
