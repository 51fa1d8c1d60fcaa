"""Maintenance windows: while a source is being worked on, its signals are stored and receipted as
always but their ladders wait for the window's end (a severe one pages anyway). Nothing is
dropped: a held ladder's first step is simply due at the end of the window (a durable timer like
any other), so a signal still open then is paged, and one closed meanwhile is not.

The duty officers are told when a window starts and when it ends, by hand or by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import VigieConfig
from bot.db import Database
from bot.domain import Severity, SignalStatus
from bot.durations import human, parse_duration
from bot.models import LadderRunRow, MaintenanceRow, SignalRow, TimerRow, table_of
from escalation.context import PagingContext
from escalation.paging import notify_officers
from escalation.timers import LADDER_STEP

MAX_SOURCE = 200


@dataclass(frozen=True)
class MaintenanceReply:
    text: str
    ok: bool = True
    changed: bool = False
    code: str | None = None


# Built once: every intake batch asks, and building the statement each time cost a third of
# the intake's CPU (SQLAlchemy's cache key of a new statement).
_ACTIVE = select(MaintenanceRow).where(
    col(MaintenanceRow.source).in_(sa.bindparam("sources", expanding=True)),
    col(MaintenanceRow.starts_at) <= sa.bindparam("now"),
    col(MaintenanceRow.ends_at) > sa.bindparam("now"),
    col(MaintenanceRow.ended_at).is_(None),
)


async def active_windows(
    session: AsyncSession, sources: set[str], now: datetime
) -> dict[str, MaintenanceRow]:
    """The windows open now for these sources (the intake transaction asks, for its batch)."""
    if not sources:
        return {}
    rows = (await session.exec(_ACTIVE, params={"sources": sorted(sources), "now": now})).all()
    return {r.source: r for r in rows}


def held(config: VigieConfig, signal: SignalRow) -> bool:
    """Whether a signal of a source in maintenance waits (below ``pages_anyway_from``)."""
    threshold = config.maintenance.pages_anyway_from
    return signal.severity is None or Severity(signal.severity).rank < threshold.rank


class Maintenance:
    def __init__(self, config: VigieConfig, db: Database, ctx: PagingContext) -> None:
        self.config, self.db, self.ctx = config, db, ctx

    # --- chat, CLI and HTTP ------------------------------------------------------------

    async def command(self, person_id: str, args: str) -> MaintenanceReply:
        """``/maintenance`` (the windows open now), ``/maintenance <source> <durée> [motif]``,
        ``/maintenance fin <source>``."""
        words = args.split()
        if not words:
            return await self.describe()
        if words[0].lower() in ("fin", "stop", "end") and len(words) == 2:
            return await self.stop(person_id, words[1])
        if len(words) < 2:
            return MaintenanceReply(
                "Usage : /maintenance <source> <durée> [motif] (ex. : /maintenance surveillance-eau 2h "
                "changement de sonde), /maintenance fin <source>, /maintenance (en cours).",
                ok=False,
                code="usage",
            )
        try:
            duration = parse_duration(words[1])
        except ValueError:
            return MaintenanceReply(
                f"Durée illisible « {words[1]} » (ex. : 2h, 30m).", ok=False, code="usage"
            )
        return await self.start(person_id, words[0], duration, " ".join(words[2:]) or None)

    async def start(self, by: str, source: str, duration: timedelta, motif: str | None) -> MaintenanceReply:
        source = source.strip()
        if not source or len(source) > MAX_SOURCE:
            return MaintenanceReply("Source vide ou trop longue.", ok=False, code="usage")
        longest = self.config.maintenance.longest
        if duration <= timedelta(0) or duration > longest:
            return MaintenanceReply(
                f"Durée refusée : entre 1 min et {human(longest)} (maintenance.longest).",
                ok=False,
                code="usage",
            )
        now = self.ctx.clock.now()
        ends = now + duration
        async with self.db.transaction() as session:
            await self.db.serialize(session, f"maintenance:{source}")
            current = (await active_windows(session, {source}, now)).get(source)
            if current is not None:  # prolonged: the held ladders follow the new end
                await self._move_held(session, current, ends)
                current.ends_at, current.motif = ends, motif or current.motif
                session.add(current)
                window = current
            else:
                window = MaintenanceRow(
                    source=source, starts_at=now, ends_at=ends, motif=motif, started_by=by
                )
                session.add(window)
                await session.flush()
            threshold = self.config.maintenance.pages_anyway_from.value
            text = (
                f"Maintenance de la source « {source} » jusqu'à {self.ctx.local(ends)}"
                + (f" ({motif})" if motif else "")
                + f", par {self.ctx.name(by)} : ses signaux sont enregistrés et accusés, sans appel "
                f"jusqu'à la fin ; un signal « {threshold} » ou plus grave appelle quand même."
            )
            self._tell(session, f"{text}", f"maintenance:{window.id}:start:{int(ends.timestamp())}", now)
        return MaintenanceReply(text, changed=True)

    async def stop(self, by: str, source: str) -> MaintenanceReply:
        now = self.ctx.clock.now()
        async with self.db.transaction() as session:
            await self.db.serialize(session, f"maintenance:{source}")
            window = (await active_windows(session, {source}, now)).get(source)
            if window is None:
                return MaintenanceReply(
                    f"Aucune maintenance en cours pour « {source} ».", ok=False, code="not_found"
                )
            await self._move_held(session, window, now)  # their ladders start now
            window.ended_at, window.ended_by = now, by
            session.add(window)
            text = self._ended(window, by)
            self._tell(session, text, f"maintenance:{window.id}:end", now)
        return MaintenanceReply(text, changed=True)

    async def describe(self) -> MaintenanceReply:
        windows = await self.open_windows()
        if not windows:
            return MaintenanceReply("Aucune source en maintenance.")
        lines = [f"Sources en maintenance ({len(windows)}) :"]
        for w in windows:
            lines.append(
                f"- {w.source} jusqu'à {self.ctx.local(w.ends_at)}"
                + (f" ({w.motif})" if w.motif else "")
                + f", par {self.ctx.name(w.started_by)}"
            )
        return MaintenanceReply("\n".join(lines))

    async def open_windows(self) -> list[MaintenanceRow]:
        now = self.ctx.clock.now()
        async with self.db.read_session() as session:
            return list(
                (
                    await session.exec(
                        select(MaintenanceRow)
                        .where(col(MaintenanceRow.ended_at).is_(None), col(MaintenanceRow.ends_at) > now)
                        .order_by(col(MaintenanceRow.ends_at))
                    )
                ).all()
            )

    # --- the worker's round -------------------------------------------------------------

    async def run_due(self) -> int:
        """Windows whose time came end by themselves, and the duty officers are told (the held
        ladders need nothing: their first step falls due at the window's end)."""
        now = self.ctx.clock.now()
        expired_stmt = select(MaintenanceRow).where(
            col(MaintenanceRow.ended_at).is_(None), col(MaintenanceRow.ends_at) <= now
        )
        async with self.db.read_session() as session:
            if (await session.exec(expired_stmt.limit(1))).first() is None:
                return 0
        async with self.db.transaction() as session:
            if self.db.is_postgres:
                expired_stmt = expired_stmt.with_for_update(skip_locked=True)
            windows = list((await session.exec(expired_stmt)).all())
            for window in windows:
                window.ended_at = window.ends_at
                session.add(window)
                self._tell(session, self._ended(window, None), f"maintenance:{window.id}:end", now)
        return len(windows)

    # --- helpers -------------------------------------------------------------------------

    def _held_timers(self, window: MaintenanceRow) -> Any:
        """The first steps held for this window: pending, due at its end, of its source's signals."""
        return (
            select(TimerRow.id)
            .join(LadderRunRow, col(LadderRunRow.id) == col(TimerRow.run_id))
            .join(SignalRow, col(SignalRow.id) == col(LadderRunRow.signal_id))
            .where(
                TimerRow.kind == LADDER_STEP,
                TimerRow.state == "pending",
                TimerRow.due_at == window.ends_at,
                SignalRow.source == window.source,
                SignalRow.status != SignalStatus.CLOS.value,
            )
        )

    async def _move_held(self, session: AsyncSession, window: MaintenanceRow, due: datetime) -> int:
        ids = list((await session.exec(self._held_timers(window))).all())
        if ids:
            table = table_of(TimerRow)
            await session.exec(sa.update(table).where(table.c.id.in_(ids)).values(due_at=due))
        return len(ids)

    def _ended(self, window: MaintenanceRow, by: str | None) -> str:
        who = f" par {self.ctx.name(by)}" if by else ""
        paged = (
            f" ; {window.held} signal(aux) retenu(s) pendant la fenêtre : ceux encore ouverts sont appelés "
            "maintenant."
            if window.held
            else " ; aucun signal retenu."
        )
        at = self.ctx.local(self.ctx.clock.now())
        return f"Fin de la maintenance de la source « {window.source} »{who} à {at}{paged}"

    def _tell(self, session: AsyncSession, text: str, key: str, now: datetime) -> None:
        notify_officers(session, self.ctx, text, kind="maintenance", key=key, now=now)
