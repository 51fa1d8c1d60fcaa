"""Many senders at once: distinct references, and one signal per open dedup key."""

from __future__ import annotations

import asyncio

from bot.app import build
from tests.support import AUTH, LiveServer, make_config, make_settings, running_vigie


async def test_fifty_clients_at_once_get_fifty_distinct_consecutive_references(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        answers = await asyncio.gather(
            *(client.post("/api/v1/signals", headers=AUTH, json={"title": f"signal {n}"}) for n in range(50))
        )
        assert [a.status_code for a in answers] == [202] * 50
        refs = [a.json()["reference"] for a in answers]
        assert len(set(refs)) == 50
        # Never a gap or a reuse: the numbers are exactly 1..50.
        assert sorted(int(r.rsplit("-", 1)[1]) for r in refs) == list(range(1, 51))
        listing = (await client.get("/api/v1/signals", headers=AUTH)).json()
        assert listing["count"] == 50


async def test_fifty_clients_with_one_dedup_key_make_one_signal(db_url: str) -> None:
    async with running_vigie(db_url) as server, server.client() as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/signals", headers=AUTH, json={"title": f"alerte {n}", "dedup_key": "same"}
                )
                for n in range(50)
            )
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] * 49 + [202]
        assert len({a.json()["reference"] for a in answers}) == 1
        ref = answers[0].json()["reference"]
        signal = (await client.get(f"/api/v1/signals/{ref}", headers=AUTH)).json()
        assert signal["duplicates"] == 49
        assert [e["kind"] for e in signal["history"]].count("duplicate") == 49
        assert (await client.get("/api/v1/signals", headers=AUTH)).json()["count"] == 1


async def test_two_instances_on_one_postgresql_never_share_a_reference(pg_url: str) -> None:
    first = LiveServer(build(make_settings(pg_url), make_config()))
    second = LiveServer(build(make_settings(pg_url), make_config()))
    async with first, second, first.client() as a, second.client() as b:
        answers = await asyncio.gather(
            *(
                (a if n % 2 else b).post("/api/v1/signals", headers=AUTH, json={"title": f"s{n}"})
                for n in range(60)
            ),
            *(
                (b if n % 2 else a).post(
                    "/api/v1/signals", headers=AUTH, json={"title": "d", "dedup_key": "k"}
                )
                for n in range(20)
            ),
        )
        refs = [r.json()["reference"] for r in answers[:60]]
        assert len(set(refs)) == 60
        dedup_refs = {r.json()["reference"] for r in answers[60:]}
        assert len(dedup_refs) == 1
        assert not dedup_refs & set(refs)
        assert sorted(int(r.rsplit("-", 1)[1]) for r in [*refs, *dedup_refs]) == list(range(1, 62))


async def test_one_failing_signal_in_a_batch_costs_the_others_nothing(db_url: str) -> None:
    from bot.domain import OriginChannel
    from bot.intake import Origin, SignalDraft

    async with running_vigie(db_url, background=False) as server, server.client() as client:

        async def picky_hook(session, signals) -> None:  # type: ignore[no-untyped-def]
            if any(s.title == "poison" for s in signals):
                raise RuntimeError("cannot start this ladder")

        intake = server.vigie.intake
        intake.hooks.append(picky_hook)
        drafts = [
            SignalDraft(title=t, origin=Origin(OriginChannel.CLI)) for t in ["a", "b", "poison", "c", "d"]
        ]
        results = await asyncio.gather(*(intake.accept(d) for d in drafts), return_exceptions=True)
        assert isinstance(results[2], RuntimeError)
        good = [r for i, r in enumerate(results) if i != 2]
        assert all(r.created for r in good)  # type: ignore[union-attr]
        stored = (await client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        assert sorted(s["title"] for s in stored) == ["a", "b", "c", "d"]
