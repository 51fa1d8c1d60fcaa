"""Heartbeat monitors, with an injected clock: a source that stops pinging raises « Source muette »
on its own ladder once, and its next ping closes it with a history entry; only its tokens may ping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bot.clock import ManualClock
from tests.devices import NIGHT, DutyDesk
from tests.processes import ServeProcess, write_config
from tests.support import AUTH, OTHER_TOKEN, TOKEN, eventually, make_config, running_vigie
from tests.test_escalation import LADDER, PEOPLE, ROSTER

SAMU = {"Authorization": f"Bearer {OTHER_TOKEN}"}
WATER = "Surveillance de l'eau potable"


def monitor_config() -> Any:
    return make_config(
        people=[{**p, "notify": ["console"]} for p in PEOPLE],
        rosters=[ROSTER],
        ladders=[LADDER, {"id": "eau", "roster": "pfr", "steps": [{"page": ["suppleant"], "wait": "10m"}]}],
        duty_officers=["david"],
        heartbeats=[
            {"id": "eau", "name": WATER, "every": "15m", "grace": "5m", "ladder": "eau", "tokens": ["samu"]}
        ],
        channels={"console": {"enabled": True}},
    )


@asynccontextmanager
async def monitor_desk(db_url: str) -> AsyncIterator[DutyDesk]:
    async with running_vigie(
        db_url, config=monitor_config(), clock=ManualClock(NIGHT), background=False
    ) as server:
        async with server.client() as client:
            desk = DutyDesk(server, client, server.vigie.clock)  # type: ignore[arg-type]
            await desk.vigie.settle()
            yield desk


async def jump(desk: DutyDesk, **delta: float) -> None:
    """Move the clock at once and run what is due (a monitor looks at the time since its last ping)."""
    desk.clock.set(desk.clock.now() + timedelta(**delta))
    await desk.vigie.settle()


async def silent_signals(desk: DutyDesk) -> list[dict[str, Any]]:
    listed = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
    return [s for s in listed if s["title"].startswith("Source muette")]


async def test_a_silent_source_is_paged_once_and_closed_when_it_pings_again(db_url: str) -> None:
    async with monitor_desk(db_url) as desk:
        refused = await desk.client.post("/api/v1/heartbeats/eau", headers=AUTH)  # not its token
        assert refused.status_code == 403, refused.text
        unknown = await desk.client.post("/api/v1/heartbeats/gaz", headers=SAMU)
        assert unknown.status_code == 404 and "Moniteur inconnu « gaz »" in unknown.text
        pinged = await desk.client.post("/api/v1/heartbeats/eau", headers=SAMU)  # 03:12
        assert pinged.status_code == 200, pinged.text
        assert pinged.json()["message"] == f"Ping reçu pour « {WATER} » ; prochain attendu avant 03:32."

        await jump(desk, minutes=19)  # late, but within the grace
        assert await silent_signals(desk) == []
        await jump(desk, minutes=2)  # 03:33: silent
        [silent] = await silent_signals(desk)
        assert silent["title"] == f"Source muette : {WATER}" and silent["severity"] == "majeure"
        [page] = await desk.messages(kind="page")
        assert page["recipient"] == "bruno"  # the monitor's own ladder: the suppléant first
        assert silent["reference"] in page["text"] and "dernier ping le mardi 24/11 03:12" in page["text"]
        for _ in range(6):  # still silent: one signal, not one a round
            desk.clock.set(desk.clock.now() + timedelta(minutes=5))
            await desk.vigie.settle()
        assert len(await silent_signals(desk)) == 1
        state = (await desk.client.get("/api/v1/heartbeats", headers=AUTH)).json()["monitors"]
        assert state[0]["signal"] == silent["reference"] and state[0]["pings"] == 1

        resumed = await desk.client.post("/api/v1/heartbeats/eau", headers=SAMU)
        assert resumed.json()["resumed"] == silent["reference"]
        assert resumed.json()["message"].endswith(
            f"Le signal {silent['reference']} (source muette) est clos."
        )
        await desk.vigie.settle()
        detail = await desk.signal_state(silent["reference"])
        assert detail["status"] == "clos"
        history = [e["message"] for e in detail["history"]]
        assert f"Signal clos par {WATER} : les pings de « {WATER} » ont repris à 04:03" in history
        told = [m for m in await desk.messages(recipient="bruno") if m["kind"] != "page"]
        assert any(silent["reference"] in m["text"] for m in told)  # the person paged is told
        # Silent again later: a new signal, the closed one stays closed.
        await jump(desk, minutes=21)
        again = await silent_signals(desk)
        assert len(again) == 2 and again[0]["reference"] != silent["reference"]


async def test_a_monitor_never_pinged_counts_from_when_vigie_first_saw_it(db_url: str) -> None:
    async with monitor_desk(db_url) as desk:
        await jump(desk, minutes=19)
        assert await silent_signals(desk) == []
        await jump(desk, minutes=2)
        [silent] = await silent_signals(desk)
        page = next(m for m in await desk.messages(kind="page") if silent["reference"] in m["text"])
        assert page["recipient"] == "bruno"
        detail = await desk.signal_state(silent["reference"])
        assert "aucun ping reçu depuis sa mise en place" in detail["body"]


async def test_two_instances_open_one_silent_signal(pg_url: str) -> None:
    clock = ManualClock(NIGHT)
    config = monitor_config()
    async with (
        running_vigie(pg_url, config=config, clock=clock, background=False) as one,
        running_vigie(pg_url, config=config, clock=clock, background=False) as two,
    ):
        await asyncio.gather(one.vigie.heartbeats.run_due(), two.vigie.heartbeats.run_due())
        clock.set(NIGHT + timedelta(minutes=21))
        await asyncio.gather(one.vigie.heartbeats.run_due(), two.vigie.heartbeats.run_due())
        async with one.client() as client:
            listed = (await client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        assert [s["title"] for s in listed] == [f"Source muette : {WATER}"]


async def test_two_sites_the_second_vigie_notices_the_first_is_down(tmp_path: Path) -> None:
    """The two-site set-up of the README, as real processes: site A pings site B's monitor every
    second; A is killed; B raises « Source muette » for it; A back, B closes it."""
    b_config = write_config(
        tmp_path / "b.yaml",
        desk={"name": "PFR site B", "timezone": "Europe/Paris"},
        ladders=[{"id": "desk", "steps": [{"page": ["alice"], "wait": "1h"}]}],
        intake={"default_ladder": "desk"},
        heartbeats=[{"id": "vigie-site-a", "name": "Vigie du site A", "every": "2s", "grace": "2s"}],
    )
    site_b = ServeProcess(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}", b_config, tmp_path / "b.log")
    await site_b.start()
    a_config = write_config(
        tmp_path / "a.yaml",
        desk={"name": "PFR site A", "timezone": "Europe/Paris"},
        watchdog={"url": f"{site_b.url}/api/v1/heartbeats/vigie-site-a", "every": "1s"},
    )
    site_a = ServeProcess(
        f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        a_config,
        tmp_path / "a.log",
        env={"VIGIE_WATCHDOG_TOKEN": TOKEN},
    )
    try:
        await site_a.start()
        async with httpx.AsyncClient(base_url=site_b.url, headers=AUTH, timeout=10) as b:

            async def pings() -> int:
                return int((await b.get("/api/v1/heartbeats")).json()["monitors"][0]["pings"])

            async def silent() -> dict[str, Any] | None:
                monitor = (await b.get("/api/v1/heartbeats")).json()["monitors"][0]
                return monitor if monitor["signal"] else None

            await eventually(lambda: _at_least(pings, 2), 15)
            assert await silent() is None
            await site_a.kill9()
            down = await eventually(silent, 20)
            detail = (await b.get(f"/api/v1/signals/{down['signal']}")).json()
            assert detail["title"] == "Source muette : Vigie du site A" and detail["status"] != "clos"
            await site_a.start()  # back: its next ping closes the signal

            async def closed() -> bool:
                return (await b.get(f"/api/v1/signals/{down['signal']}")).json()["status"] == "clos"

            await eventually(closed, 15)
    finally:
        await site_a.stop()
        await site_b.stop()


async def _at_least(count: Any, n: int) -> bool:
    return bool(await count() >= n)
