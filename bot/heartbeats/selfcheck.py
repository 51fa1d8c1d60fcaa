"""Vigie's self-check of stalled work (as Grafana OnCall's escalation auditor): ladder steps
overdue by more than ``selfcheck.overdue``, messages stuck in « sending » longer than
``selfcheck.stuck``, a channel whose last ``failed_streak`` deliveries all failed. Each problem
is told to the duty officers on a channel other than a broken one, once per ``retell`` (the
notice's idempotency key carries the period: several instances tell it once), and shown in
``vigie_selfcheck_problems{check}``.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import SelfCheckConfig, VigieConfig
from bot.db import Database
from bot.domain import ChannelKind, MessageState, TimerState
from bot.durations import human
from bot.metrics import Metrics
from bot.models import OutboxMessageRow, TimerRow
from escalation.context import PagingContext
from escalation.paging import notify, usable_rules

log = structlog.get_logger("vigie.selfcheck")

FINISHED = (
    MessageState.DELIVERED.value,
    MessageState.SENT.value,
    MessageState.FAILED.value,
    MessageState.UNCERTAIN.value,
)
BAD = (MessageState.FAILED.value, MessageState.UNCERTAIN.value)


class SelfCheck:
    def __init__(self, config: VigieConfig, db: Database, ctx: PagingContext, metrics: Metrics) -> None:
        self.config, self.db, self.ctx, self.metrics = config, db, ctx, metrics
        self._last: datetime | None = None

    @property
    def cfg(self) -> SelfCheckConfig:
        return self.config.selfcheck

    async def run_due(self) -> int:
        now = self.ctx.clock.now()
        if self._last is None:  # not at start: a restart's catch-up is not stalled work
            self._last = now
            return 0
        if now - self._last < self.cfg.every and now >= self._last:
            return 0
        self._last = now
        found = await self.findings(now)
        for check in ("overdue_steps", "stuck_sending", "failing_channels"):
            self.metrics.selfcheck.labels(check).set(len(found.get(check, [])))
        problems = [(check, items) for check, items in found.items() if items]
        if not problems:
            return 0
        broken = set(found.get("failing_channels", []))
        period = int(now.timestamp() // self.cfg.retell.total_seconds())
        told = 0
        async with self.db.transaction() as session:
            for check, items in problems:
                text = self._text(check, items)
                key = f"selfcheck:{check}:{period}"
                if await self._already(session, key):
                    continue
                for officer in self.config.officers():
                    told += len(
                        notify(
                            session, self.ctx, officer, text, kind="selfcheck", signal_id=None, key=key,
                            now=now, channels=self._other_channels(officer, broken),
                        )
                    )  # fmt: skip
                log.warning("selfcheck_problem", check=check, count=len(items))
        return told

    async def findings(self, now: datetime) -> dict[str, list[str]]:
        async with self.db.read_session() as session:
            overdue = (
                await session.exec(
                    select(TimerRow.id)
                    .where(
                        TimerRow.state == TimerState.PENDING.value,
                        col(TimerRow.due_at) < now - self.cfg.overdue,
                    )
                    .limit(1000)
                )
            ).all()
            stuck = (
                await session.exec(
                    select(OutboxMessageRow.id).where(
                        OutboxMessageRow.state == MessageState.SENDING.value,
                        col(OutboxMessageRow.claimed_at) < now - self.cfg.stuck,
                    )
                )
            ).all()
            failing = []
            for channel in self.config.channels.enabled():
                if channel == ChannelKind.CONSOLE:
                    continue
                last = (
                    await session.exec(
                        select(OutboxMessageRow.state)
                        .where(
                            OutboxMessageRow.channel == channel.value,
                            col(OutboxMessageRow.state).in_(FINISHED),
                        )
                        .order_by(col(OutboxMessageRow.id).desc())
                        .limit(self.cfg.failed_streak)
                    )
                ).all()
                if len(last) == self.cfg.failed_streak and all(s in BAD for s in last):
                    failing.append(channel.value)
        return {
            "overdue_steps": [str(i) for i in overdue],
            "stuck_sending": [str(i) for i in stuck],
            "failing_channels": failing,
        }

    def _text(self, check: str, items: list[str]) -> str:
        if check == "overdue_steps":
            return (
                f"Vigie, auto-contrôle : {len(items)} étape(s) d'échelle en retard de plus de "
                f"{human(self.cfg.overdue)} — le moteur d'escalade ne tourne plus ou la base est saturée. "
                "Vérifiez le service."
            )
        if check == "stuck_sending":
            return (
                f"Vigie, auto-contrôle : {len(items)} message(s) bloqué(s) « en cours d'envoi » depuis plus "
                f"de {human(self.cfg.stuck)}. Vérifiez le service et les fournisseurs."
            )
        return (
            f"Vigie, auto-contrôle : les {self.cfg.failed_streak} derniers envois sur {', '.join(items)} ont "
            "tous échoué. Les appels basculent sur les autres canaux ; vérifiez le compte et les "
            "coordonnées (annuaire)."
        )

    def _other_channels(self, person_id: str, broken: set[str]) -> list[str] | None:
        """The officer's usable channels but the broken ones (None: the first usable, as usual)."""
        if not broken:
            return None
        person = self.config.person(person_id)
        if person is None:
            return None
        others = [
            r.channel.value for r in usable_rules(self.ctx, person, None) if r.channel.value not in broken
        ]
        return others[:1] or None

    async def _already(self, session: AsyncSession, key: str) -> bool:
        found = (
            await session.exec(
                select(OutboxMessageRow.id).where(col(OutboxMessageRow.idempotency_key).startswith(f"{key}:"))
            )
        ).first()
        return found is not None
