"""Crash recovery and several instances, on PostgreSQL, with real `vigie serve` processes.

Ladders here use waits of a few seconds of real time: these tests are about processes dying
and racing, which an injected clock cannot show.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.processes import ServeProcess, write_config
from tests.support import AUTH, eventually
from tests.test_escalation import PEOPLE, ROSTER


def ladder(*waits: str, repeat: int = 0) -> dict[str, Any]:
    levels = ["titulaire", "suppleant", "cadre"]
    return {
        "id": "default",
        "roster": "pfr",
        "repeat": repeat,
        "steps": [{"page": [level], "wait": wait} for level, wait in zip(levels, waits, strict=False)],
    }


async def pages(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    answer = await client.get("/api/v1/outbox", params={"kind": "page", "limit": 1000}, headers=AUTH)
    return [m for m in answer.json()["messages"] if m["state"] == "delivered"]


async def test_kill_9_between_two_steps_loses_and_doubles_nothing(pg_url: str, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "vigie.yaml",
        people=PEOPLE,
        rosters=[ROSTER],
        ladders=[ladder("3s", "3s", "1h")],
        duty_officers=["david"],
    )
    first = ServeProcess(pg_url, config, tmp_path / "first.log")
    await first.start()
    async with httpx.AsyncClient(base_url=first.url, timeout=10) as client:
        ref = (await client.post("/api/v1/signals", headers=AUTH, json={"title": "Avant le crash"})).json()[
            "reference"
        ]

        async def titulaire_paged() -> bool:
            return [p["recipient"] for p in await pages(client)] == ["alice"]

        await eventually(titulaire_paged, 10)
    await first.kill9()  # during step 1's wait
    await asyncio.sleep(4)  # step 2 falls due while nobody runs

    second = ServeProcess(pg_url, config, tmp_path / "second.log")
    await second.start()
    try:
        async with httpx.AsyncClient(base_url=second.url, timeout=10) as client:

            async def cadre_paged() -> bool:
                return "chloe" in [p["recipient"] for p in await pages(client)]

            await eventually(cadre_paged, 15)
            delivered = await pages(client)
            assert [p["recipient"] for p in delivered] == ["alice", "bruno", "chloe"]
            assert {p["signal"] for p in delivered} == {ref}
            history = (await client.get(f"/api/v1/signals/{ref}", headers=AUTH)).json()["history"]
            steps = [e["message"] for e in history if e["kind"] == "step"]
            assert len(steps) == 3
            assert (
                await client.post(f"/api/v1/signals/{ref}/ack", headers=AUTH, json={"person": "chloe"})
            ).status_code == 200
    finally:
        await second.stop()


async def test_two_instances_page_exactly_once_per_step(pg_url: str, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "vigie.yaml",
        people=PEOPLE,
        rosters=[ROSTER],
        ladders=[ladder("1s", "1s", "1s")],
        duty_officers=["david"],
        intake={"storm": {"limit": 1000}},  # thirty at once from one token, each on its own ladder
    )
    a = ServeProcess(pg_url, config, tmp_path / "a.log")
    b = ServeProcess(pg_url, config, tmp_path / "b.log")
    try:
        await asyncio.gather(a.start(), b.start())  # inside: one failing to start still stops the other
        async with (
            httpx.AsyncClient(base_url=a.url, timeout=10) as ca,
            httpx.AsyncClient(base_url=b.url, timeout=10) as cb,
        ):
            answers = await asyncio.gather(
                *(
                    (ca if n % 2 else cb).post("/api/v1/signals", headers=AUTH, json={"title": f"s{n}"})
                    for n in range(30)
                )
            )
            refs = {r.json()["reference"] for r in answers}
            assert len(refs) == 30

            async def all_exhausted() -> bool:
                notices = await ca.get(
                    "/api/v1/outbox", params={"kind": "unanswered", "limit": 1000}, headers=AUTH
                )
                return len([m for m in notices.json()["messages"] if m["state"] == "delivered"]) == 30

            await eventually(all_exhausted, 60)
            per_step = Counter((p["signal"], p["recipient"]) for p in await pages(ca))
            assert set(per_step.values()) == {1}  # nobody paged twice for one step
            assert len(per_step) == 90  # and nobody skipped: 3 steps x 30 signals
            unanswered = await ca.get(
                "/api/v1/outbox", params={"kind": "unanswered", "limit": 1000}, headers=AUTH
            )
            assert Counter(m["signal"] for m in unanswered.json()["messages"]) == Counter(
                {r: 1 for r in refs}
            )
        logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
        assert logs.count("leadership_acquired") == 1  # one leader for the calendar jobs
    finally:
        await asyncio.gather(a.stop(), b.stop())
