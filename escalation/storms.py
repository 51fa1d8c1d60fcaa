"""Storms: an API token sending a burst of distinct signals (a looping script, a misconfigured
Alertmanager). Beyond ``intake.storm.limit`` signals from one token within ``intake.storm.per``,
the next ones are stored and receipted as always but start no ladder of their own: they join one
« Tempête » signal for that source, whose single ladder pages once, ``gather`` after the storm
began so that its page counts the burst (« 37 nouveaux signaux de la source X en 2 min »). The
duty officers are told once. Nothing accepted is dropped, and the delivery queue is not flooded,
so a storm never delays a different, real signal's page.

Runs inside the intake transaction (the engine's hook), like the ladders it replaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.domain import Severity, SignalStatus
from bot.durations import human
from bot.history import add_event
from bot.intake import allocate_sequence, format_reference
from bot.models import SignalRow
from escalation.context import PagingContext
from escalation.paging import notify_officers
from escalation.routing import choose_ladder

MEMBERS_SHOWN = 8  # the latest grouped titles in the storm signal's body
# Built once (asked for every HTTP batch): a new statement each time costs its cache key.
_RECENT = select(func.count()).where(
    SignalRow.origin_address == sa.bindparam("address"), col(SignalRow.received_at) > sa.bindparam("since")
)


def storm_key(origin_address: str) -> str:
    return f"storm:{origin_address}"


@dataclass
class StormSorting:
    """What the engine does with a batch: page these as usual; these new storm signals page
    ``gather`` later; the others are grouped (no ladder)."""

    page: list[SignalRow] = field(default_factory=list)
    gathering: list[SignalRow] = field(default_factory=list)
    grouped: list[SignalRow] = field(default_factory=list)


async def sort_storms(
    session: AsyncSession, ctx: PagingContext, signals: list[SignalRow], now: datetime
) -> StormSorting:
    cfg = ctx.config.intake.storm
    out = StormSorting()
    by_token: dict[str, list[SignalRow]] = {}
    for signal in signals:
        address = signal.origin_address or ""
        # Only what would page counts: a signal no ladder takes wakes nobody anyway.
        pages = choose_ladder(ctx.config, signal) is not None
        if address.startswith("token:") and not signal.is_exercise and pages:
            by_token.setdefault(address, []).append(signal)
        else:
            out.page.append(signal)
    for address, batch in by_token.items():
        recent = (
            await session.exec(_RECENT, params={"address": address, "since": now - cfg.per})
        ).one()  # this batch included (flushed by the intake)
        before = recent - len(batch)
        over = [s for i, s in enumerate(batch) if before + i + 1 > cfg.limit]
        out.page.extend(s for s in batch if s not in over)
        if not over:
            continue
        storm = (
            await session.exec(select(SignalRow).where(SignalRow.open_dedup_key == storm_key(address)))
        ).first()
        if storm is None:
            storm = await _open_storm(session, ctx, address, over[0], now)
            out.gathering.append(storm)
        for signal in over:
            await _group(session, ctx, storm, signal, now)
            out.grouped.append(signal)
    return out


async def _open_storm(
    session: AsyncSession, ctx: PagingContext, address: str, first: SignalRow, now: datetime
) -> SignalRow:
    cfg = ctx.config.intake.storm
    year = now.astimezone(ctx.zone).year
    seq = await allocate_sequence(session, year)
    source = first.source or address.removeprefix("token:")
    storm = SignalRow(
        reference=format_reference(ctx.config.desk.reference_prefix, year, seq),
        year=year,
        seq=seq,
        title=f"Tempête de signaux de la source {source}",
        body=None,
        severity=first.severity,
        category=first.category,
        source=first.source,
        reporter="Vigie (tempête de signaux)",
        origin_channel=first.origin_channel,
        origin_address=f"storm:{address}",
        dedup_key=storm_key(address),
        open_dedup_key=storm_key(address),
        status=SignalStatus.RECU.value,
        attributes={"storm": address, "members": []},
        received_at=now,
        last_seen_at=now,
    )
    session.add(storm)
    await session.flush()
    assert storm.id is not None
    add_event(
        session,
        storm.id,
        "received",
        f"Tempête : plus de {cfg.limit} signaux de la source {source} en {human(cfg.per)} ; les suivants "
        "sont regroupés ici (un seul appel)",
        now,
        actor="vigie",
    )
    text = (
        f"Tempête de signaux : la source « {source} » a envoyé plus de {cfg.limit} signaux en "
        f"{human(cfg.per)}. Les suivants sont enregistrés et accusés, mais regroupés dans "
        f"{storm.reference} (un seul appel, dans {human(cfg.gather)}) au lieu d'une échelle chacun. "
        "Vérifiez la source (script en boucle, "
        "règle d'alerte mal réglée)."
    )
    notify_officers(session, ctx, text, kind="storm", signal_id=storm.id, key=f"storm:{storm.id}", now=now)
    return storm


async def _group(
    session: AsyncSession, ctx: PagingContext, storm: SignalRow, signal: SignalRow, now: datetime
) -> None:
    assert storm.id is not None and signal.id is not None
    cfg = ctx.config.intake.storm
    source = storm.source or "?"
    add_event(
        session,
        signal.id,
        "storm",
        f"Regroupé dans {storm.reference} : tempête de la source {source} (plus de {cfg.limit} signaux en "
        f"{human(cfg.per)}), pas d'appel séparé",
        now,
        data={"storm": storm.reference},
    )
    add_event(
        session, storm.id, "storm_member", f"{signal.reference} « {signal.title[:120]} »", now,
        data={"reference": signal.reference},
    )  # fmt: skip
    members = [*(storm.attributes or {}).get("members", []), f"{signal.reference} « {signal.title[:80]} »"]
    members = members[-MEMBERS_SHOWN:]
    count = storm.duplicate_count + 1
    span = human(max(now - storm.received_at, cfg.per))
    storm.title = f"Tempête : {count} nouveaux signaux de la source {source} en {span}"
    storm.body = "Derniers regroupés :\n" + "\n".join(members)
    if signal.severity and (
        storm.severity is None or Severity(signal.severity).rank > Severity(storm.severity).rank
    ):
        storm.severity = signal.severity  # the storm's page is as severe as its worst member
    storm.attributes = {**(storm.attributes or {}), "members": members}
    storm.duplicate_count, storm.last_seen_at = count, now
    session.add(storm)
