"""Calendar jobs (APScheduler), run by the leader only: hand-over notices today; drills and
situation points later.

Each job keeps its progress in ``job_state``: it handles everything in (last run, now], so a new
leader, or a restart after downtime, catches up on what was missed, and outbox idempotency keys
make a job that runs twice send nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import LEVELS
from bot.db import UNAVAILABLE_ERRORS, Database
from bot.models import JobStateRow
from bot.texts import t
from escalation.context import PagingContext
from escalation.leadership import Leadership
from escalation.paging import notify

log = structlog.get_logger("vigie.calendar")

HANDOVER_JOB = "handover_notices"
# A leader that was away longer than this does not announce stale hand-overs.
CATCH_UP_LIMIT = timedelta(days=14)


class CalendarJobs:
    def __init__(self, db: Database, ctx: PagingContext) -> None:
        self.db = db
        self.ctx = ctx

    async def _window(self, session: AsyncSession, name: str, now: datetime) -> datetime | None:
        state = await session.get(JobStateRow, name, with_for_update=self.db.is_postgres)
        if state is None:
            # First run ever: start from now rather than announce the past.
            session.add(JobStateRow(name=name, last_run_at=now))
            return None
        start = max(state.last_run_at, now - CATCH_UP_LIMIT)
        state.last_run_at = now
        session.add(state)
        return start

    async def handover_notices(self) -> int:
        """Tell the incoming holders of each level at every rotation hand-over since the last run."""
        now = self.ctx.clock.now()
        sent = 0
        async with self.db.transaction() as session:
            start = await self._window(session, HANDOVER_JOB, now)
            if start is None:
                return 0
            for roster in self.ctx.config.rosters:
                schedule = self.ctx.schedules[roster.id]
                for handover in schedule.handovers(start, now):
                    following = schedule.handovers(handover.at, handover.at + roster.period)
                    until = (
                        t("notice.handover.until", self.ctx.lang, end=self.ctx.local_day(following[0].at))
                        if following
                        else ""
                    )
                    for level in LEVELS:
                        person = handover.holders.get(level)
                        if person is None:
                            continue
                        text = t(
                            "notice.handover",
                            self.ctx.lang,
                            roster=roster.name,
                            role=self.ctx.level_label(level),
                            start=self.ctx.local_day(handover.at),
                            until=until,
                        )
                        rows = notify(
                            session,
                            self.ctx,
                            person,
                            text,
                            kind="handover",
                            signal_id=None,
                            key=f"handover:{roster.id}:{int(handover.at.timestamp())}:{level}",
                            now=now,
                        )
                        sent += len(rows)
        return sent


class CalendarService:
    """Runs the jobs on the leader; other instances keep trying to become leader."""

    def __init__(
        self,
        jobs: CalendarJobs,
        leadership: Leadership,
        poke: Callable[[], None] | None = None,
        interval: timedelta = timedelta(minutes=1),
        retry_seconds: float = 5.0,
    ) -> None:
        self.jobs = jobs
        self.leadership = leadership
        self.poke = poke
        self.interval = interval
        self.retry_seconds = retry_seconds
        self.scheduler: AsyncIOScheduler | None = None

    async def _run_jobs(self) -> None:
        try:
            if await self.jobs.handover_notices() and self.poke is not None:
                self.poke()
        except UNAVAILABLE_ERRORS:
            log.warning("calendar_store_unavailable")

    def _start_scheduler(self) -> None:
        self.scheduler = AsyncIOScheduler(timezone=self.jobs.ctx.zone)
        # Catch-up is in our own table; APScheduler only needs to tick.
        self.scheduler.add_job(
            self._run_jobs,
            IntervalTrigger(seconds=self.interval.total_seconds()),
            id=HANDOVER_JOB,
            coalesce=True,
            misfire_grace_time=None,
            max_instances=1,
        )
        self.scheduler.start()

    def _stop_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None

    async def run_forever(self) -> None:
        try:
            while True:
                leader = await self.leadership.try_acquire()
                if leader and self.scheduler is None:
                    await self._run_jobs()  # catch up at once on taking over
                    self._start_scheduler()
                elif not leader and self.scheduler is not None:
                    self._stop_scheduler()
                await asyncio.sleep(self.retry_seconds)
        finally:
            self._stop_scheduler()
            with contextlib.suppress(Exception):
                await self.leadership.release()
