"""Heartbeat monitors (as GoAlert's and Grafana OnCall's): a declared source pings
``POST /api/v1/heartbeats/{id}``; when a ping is late by ``every`` + ``grace``, Vigie raises
« Source muette : … » through the normal intake and ladder, and closes it, with a history entry,
when the pings resume.

The last ping is a row per monitor (several instances share it). The silent signal has the dedup
key ``heartbeat:<id>``: two instances finding the source silent open one signal, not two. A
monitor never pinged counts from when Vigie first saw it configured, so a new monitor or a restart
after an outage does not raise an alarm at once, and a source that never starts is still found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlmodel import col, select

from bot.config import Heartbeat, VigieConfig
from bot.db import Database
from bot.domain import Category, OriginChannel
from bot.durations import human
from bot.heartbeats.models import HeartbeatRow
from bot.intake import IntakeService, Origin, SignalDraft
from bot.models import SignalRow, table_of
from escalation.actions import SignalActions
from escalation.context import PagingContext

log = structlog.get_logger("vigie.heartbeats")


def dedup_key(monitor_id: str) -> str:
    return f"heartbeat:{monitor_id}"


@dataclass(frozen=True)
class PingReply:
    text: str
    ok: bool = True
    code: str | None = None
    resumed: str | None = None  # the silent signal closed by this ping


class Heartbeats:
    def __init__(
        self,
        config: VigieConfig,
        db: Database,
        ctx: PagingContext,
        intake: IntakeService,
        actions: SignalActions,
    ) -> None:
        self.config, self.db, self.ctx, self.intake, self.actions = config, db, ctx, intake, actions

    def monitor(self, monitor_id: str) -> Heartbeat | None:
        return next((h for h in self.config.heartbeats if h.id == monitor_id), None)

    async def ping(self, monitor_id: str, token: str | None) -> PingReply:
        monitor = self.monitor(monitor_id)
        if monitor is None:
            return PingReply(f"Moniteur inconnu « {monitor_id} ».", ok=False, code="not_found")
        if monitor.tokens and token not in monitor.tokens:
            return PingReply(f"Ce jeton ne peut pas signaler « {monitor_id} ».", ok=False, code="forbidden")
        now = self.ctx.clock.now()
        table = table_of(HeartbeatRow)
        async with self.db.transaction() as session:
            # One statement: two instances (or two pings) never lose a count or collide.
            await session.exec(
                self.db.insert(table)
                .values(id=monitor_id, first_seen_at=now, last_ping_at=now, pings=1)
                .on_conflict_do_update(
                    index_elements=[table.c.id], set_={"last_ping_at": now, "pings": table.c.pings + 1}
                )
            )
            silent = (
                await session.exec(select(SignalRow).where(SignalRow.open_dedup_key == dedup_key(monitor_id)))
            ).first()
        resumed = None
        if silent is not None:
            note = f"les pings de « {monitor.label} » ont repris à {self.ctx.local(now)}"
            closed = await self.actions.resolve_by_source(silent.reference, monitor.label, note)
            resumed = closed.reference if closed.changed else None
        due = now + monitor.every + monitor.grace
        return PingReply(
            f"Ping reçu pour « {monitor.label} » ; prochain attendu avant {self.ctx.local(due)}."
            + (f" Le signal {resumed} (source muette) est clos." if resumed else ""),
            resumed=resumed,
        )

    async def run_due(self) -> int:
        """Each silent monitor raises its signal once (the dedup key holds it open until pings
        resume)."""
        if not self.config.heartbeats:
            return 0
        now = self.ctx.clock.now()
        async with self.db.read_session() as session:
            rows = {r.id: r for r in (await session.exec(select(HeartbeatRow))).all()}
            open_keys = set(
                (
                    await session.exec(
                        select(SignalRow.open_dedup_key).where(
                            col(SignalRow.open_dedup_key).startswith("heartbeat:")
                        )
                    )
                ).all()
            )
        unseen = [h for h in self.config.heartbeats if h.id not in rows]
        if unseen:  # first seen now (another instance may be doing the same: nothing collides)
            table = table_of(HeartbeatRow)
            async with self.db.transaction() as session:
                await session.exec(
                    self.db.insert(table)
                    .values([{"id": m.id, "first_seen_at": now, "pings": 0} for m in unseen])
                    .on_conflict_do_nothing(index_elements=[table.c.id])
                )
            return len(unseen)
        raised = 0
        for monitor in self.config.heartbeats:
            row = rows[monitor.id]
            since = row.last_ping_at or row.first_seen_at
            if now <= since + monitor.every + monitor.grace or dedup_key(monitor.id) in open_keys:
                continue
            await self._raise(monitor, row.last_ping_at, now)
            raised += 1
        return raised

    async def _raise(self, monitor: Heartbeat, last: datetime | None, now: datetime) -> None:
        heard = (
            f"dernier ping le {self.ctx.local_day(last)}"
            if last is not None
            else "aucun ping reçu depuis sa mise en place"
        )
        receipt = await self.intake.accept(
            SignalDraft(
                title=f"Source muette : {monitor.label}",
                body=(
                    f"La source « {monitor.label} » ne donne plus signe de vie ({heard}) ; attendu "
                    f"toutes les {human(monitor.every)}, tolérance {human(monitor.grace)}. Vérifiez "
                    "qu'elle fonctionne : tant qu'elle est muette, ses alertes n'arrivent pas. Le signal "
                    "se clôt seul à la reprise."
                ),
                severity=monitor.severity,
                category=Category.AUTRE,
                source=dedup_key(monitor.id),
                reporter="Vigie (moniteur de pulsations)",
                dedup_key=dedup_key(monitor.id),
                origin=Origin(OriginChannel.CLI, address=dedup_key(monitor.id)),
                attributes={
                    "heartbeat": monitor.id,
                    **({"ladder": monitor.ladder} if monitor.ladder else {}),
                },
            )
        )
        log.warning(
            "heartbeat_silent", monitor=monitor.id, reference=receipt.reference, created=receipt.created
        )

    async def states(self) -> list[dict[str, object]]:
        """Each configured monitor: last ping, next due, and the open « Source muette » if any."""
        async with self.db.read_session() as session:
            rows = {r.id: r for r in (await session.exec(select(HeartbeatRow))).all()}
            silent = {
                s.open_dedup_key: s.reference
                for s in (
                    await session.exec(
                        select(SignalRow).where(col(SignalRow.open_dedup_key).startswith("heartbeat:"))
                    )
                ).all()
            }
        out: list[dict[str, object]] = []
        for monitor in self.config.heartbeats:
            row = rows.get(monitor.id)
            since = (row.last_ping_at or row.first_seen_at) if row else None
            due = since + monitor.every + monitor.grace if since else None
            out.append(
                {
                    "id": monitor.id,
                    "name": monitor.label,
                    "last_ping_at": row.last_ping_at.astimezone(self.ctx.zone).isoformat()
                    if row and row.last_ping_at
                    else None,
                    "silent_after": due.astimezone(self.ctx.zone).isoformat() if due else None,
                    "pings": row.pings if row else 0,
                    "signal": silent.get(dedup_key(monitor.id)),
                }
            )
        return out
