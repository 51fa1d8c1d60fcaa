"""Calendar jobs: hand-over notices, run by one leader, catching up after downtime."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bot.db import Database
from escalation.calendar import CalendarJobs
from escalation.leadership import Leadership
from tests.devices import duty_desk
from tests.support import make_config, pg_admin
from tests.test_escalation import LADDER, PEOPLE

ROSTER = {
    "id": "pfr",
    "name": "Astreinte PFR",
    "start": "2026-01-05",
    "slots": [
        {"titulaire": "alice", "suppleant": "bruno", "cadre": "chloe"},
        {"titulaire": "bruno", "suppleant": "alice", "cadre": "chloe"},
    ],
}
SUNDAY = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def config():  # type: ignore[no-untyped-def]
    return make_config(people=PEOPLE, rosters=[ROSTER], ladders=[LADDER], duty_officers=["david"])


async def test_incoming_holders_are_told_at_the_handover_once(db_url: str) -> None:
    async with duty_desk(db_url, config(), start=SUNDAY) as desk:
        jobs = CalendarJobs(desk.vigie.db, desk.vigie.engine.ctx)
        alice, bruno, chloe = desk.device("alice"), desk.device("bruno"), desk.device("chloe")
        assert await jobs.handover_notices() == 0  # first run: nothing to announce from the past
        desk.clock.set(datetime(2026, 11, 30, 7, 59, tzinfo=UTC))
        assert await jobs.handover_notices() == 0
        desk.clock.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))  # Monday 09:00 in Paris
        assert await jobs.handover_notices() == 3
        await bruno.expect(
            "Relève d'astreinte « Astreinte PFR » : vous êtes titulaire à partir du lundi 30/11 09:00 "
            "jusqu'au lundi 07/12 09:00.",
            kind="handover",
        )
        await alice.expect("vous êtes suppléant à partir du lundi 30/11 09:00")
        await chloe.expect("vous êtes cadre d'astreinte")
        desk.clock.set(datetime(2026, 11, 30, 8, 1, tzinfo=UTC))
        assert await jobs.handover_notices() == 0
        for device in (alice, bruno, chloe):
            await device.expect_nothing()


async def test_a_new_leader_catches_up_on_missed_handovers(db_url: str) -> None:
    async with duty_desk(db_url, config(), start=SUNDAY) as desk:
        jobs = CalendarJobs(desk.vigie.db, desk.vigie.engine.ctx)
        await jobs.handover_notices()
        # Nobody ran the job for nine days: two hand-overs were missed.
        desk.clock.advance(timedelta(days=9))
        assert await jobs.handover_notices() == 6
        bruno = desk.device("bruno")
        await bruno.expect("titulaire à partir du lundi 30/11 09:00")
        await bruno.expect("suppléant à partir du lundi 07/12 09:00")
        # Running the same window again (a second instance racing) sends nothing twice.
        state_reset = CalendarJobs(desk.vigie.db, desk.vigie.engine.ctx)
        assert await state_reset.handover_notices() == 0


async def test_only_one_instance_leads_and_another_takes_over(pg_url: str) -> None:
    first_db, second_db = Database(pg_url), Database(pg_url)
    first, second = Leadership(first_db), Leadership(second_db)
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire()
        assert await first.try_acquire()  # still holds it
        # The leader's process dies: PostgreSQL sees its connection go.
        assert first._conn is not None
        pid = (await first._conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
        await pg_admin(f"SELECT pg_terminate_backend({pid})")
        for _ in range(50):
            if await second.try_acquire():
                break
            await asyncio.sleep(0.1)
        assert second.is_leader
        # The old leader, if it were still around, learns it no longer leads.
        assert not await first.try_acquire()
        assert not first.is_leader
    finally:
        await second.release()
        await second_db.dispose()
        await first_db.dispose()


async def test_sqlite_instance_is_always_leader(tmp_path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        assert await Leadership(db).try_acquire()
    finally:
        await db.dispose()
