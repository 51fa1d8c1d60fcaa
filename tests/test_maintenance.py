"""Maintenance windows, with an injected clock: a source's signals are stored and receipted but
page nobody until the window ends (by itself or by hand); a severe one pages anyway; another
source is paged as usual; the duty officers are told of the start and the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from bot.clock import ManualClock
from bot.domain import OriginChannel
from bot.intake import Origin
from tests.devices import NIGHT, DutyDesk
from tests.support import AUTH, make_config, running_vigie
from tests.test_escalation import LADDER, PEOPLE, ROSTER

SOURCE = "alertes-eau"


@asynccontextmanager
async def maintenance_desk(db_url: str) -> AsyncIterator[DutyDesk]:
    config = make_config(
        people=[{**p, "notify": ["console"]} for p in PEOPLE],
        rosters=[ROSTER],
        ladders=[LADDER],
        duty_officers=["chloe", "david"],
        channels={"console": {"enabled": True}},
    )
    async with running_vigie(db_url, config=config, clock=ManualClock(NIGHT), background=False) as server:
        async with server.client() as client:
            yield DutyDesk(server, client, server.vigie.clock)  # type: ignore[arg-type]


async def say(desk: DutyDesk, person: str, text: str) -> Any:
    return await desk.vigie.inbound.handle_message(person, text, Origin(OriginChannel.CLI))


async def jump(desk: DutyDesk, **delta: float) -> None:
    """Move the clock at once and run what is due (the windows' ends are what is looked at)."""
    desk.clock.set(desk.clock.now() + timedelta(**delta))
    await desk.vigie.settle()


async def pages_for(desk: DutyDesk, reference: str) -> list[dict[str, Any]]:
    return [m for m in await desk.messages(kind="page") if reference in m["text"]]


async def test_a_source_in_maintenance_is_receipted_but_pages_only_when_the_window_ends(db_url: str) -> None:
    async with maintenance_desk(db_url) as desk:
        refused = await say(desk, "alice", f"/maintenance {SOURCE} 2h")
        assert not refused.ok and refused.text.startswith("Refusé : mettre une source en maintenance")
        started = await say(desk, "chloe", f"/maintenance {SOURCE} 2h changement de sonde")
        assert started.ok, started.text
        assert started.text.startswith(
            f"Maintenance de la source « {SOURCE} » jusqu'à 05:12 (changement de sonde)"
        )
        await desk.vigie.settle()
        told = [m["recipient"] for m in await desk.messages(kind="maintenance")]
        assert sorted(told) == ["chloe", "david"]

        held = await desk.signal("Turbidité élevée, captage de Lens", source=SOURCE, severity="majeure")
        other = await desk.signal("Cas groupés de gale, EHPAD", source="samu", severity="majeure")
        severe = await desk.signal("Contamination bactérienne confirmée", source=SOURCE, severity="critique")
        assert await pages_for(desk, held) == []  # stored and receipted (202), nobody woken
        assert len(await pages_for(desk, other)) == 1 and len(await pages_for(desk, severe)) == 1
        history = [e["message"] for e in await desk.history(held)]
        assert (
            f"Source « {SOURCE} » en maintenance jusqu'à 05:12 (changement de sonde) : appel différé "
            "à la fin de la fenêtre" in history
        )
        listed = (await desk.client.get("/api/v1/maintenance", headers=AUTH)).json()["windows"]
        assert [(w["source"], w["held"]) for w in listed] == [(SOURCE, 1)]
        shown = await say(desk, "alice", "/maintenance")  # reading is for everyone
        assert f"- {SOURCE} jusqu'à 05:12 (changement de sonde), par Chloé Bernard" in shown.text

        await jump(desk, minutes=119)
        assert await pages_for(desk, held) == []
        await jump(desk, minutes=2)  # 05:12: the window ends by itself
        [page] = await pages_for(desk, held)
        assert page["recipient"] == "alice"  # its ladder from the start: the titulaire
        ended = [m for m in await desk.messages(kind="maintenance") if "Fin de la maintenance" in m["text"]]
        assert len(ended) == 2 and all("1 signal(aux) retenu(s)" in m["text"] for m in ended)
        assert (await desk.client.get("/api/v1/maintenance", headers=AUTH)).json()["windows"] == []
        # After the window, the source pages at once.
        after = await desk.signal("Nouvelle alerte", source=SOURCE, severity="majeure")
        assert len(await pages_for(desk, after)) == 1


async def test_ended_by_hand_the_open_held_signals_page_at_once_the_closed_ones_never(db_url: str) -> None:
    async with maintenance_desk(db_url) as desk:
        opened = await desk.client.post(
            "/api/v1/maintenance", headers=AUTH, json={"person": "david", "source": SOURCE, "duration": "4h"}
        )
        assert opened.status_code == 201, opened.text
        bad = await desk.client.post(
            "/api/v1/maintenance", headers=AUTH, json={"person": "david", "source": SOURCE, "duration": "30j"}
        )
        assert bad.status_code == 422 and "Durée" in bad.json()["message"]
        kept = await desk.signal("Sonde hors service", source=SOURCE)
        dropped = await desk.signal("Sonde recalibrée", source=SOURCE)
        closed = await desk.client.post(
            f"/api/v1/signals/{dropped}/resolve",
            headers=AUTH,
            json={"person": "david", "note": "maintenance"},
        )
        assert closed.status_code == 200, closed.text
        await jump(desk, minutes=30)
        ended = await desk.client.post(
            f"/api/v1/maintenance/{SOURCE}/end", headers=AUTH, json={"person": "david"}
        )
        assert ended.status_code == 200, ended.text
        assert (
            "2 signal(aux) retenu(s) pendant la fenêtre : ceux encore ouverts sont appelés maintenant"
            in (ended.json()["message"])
        )
        await desk.vigie.settle()
        assert len(await pages_for(desk, kept)) == 1
        assert await pages_for(desk, dropped) == []  # closed during the window: nobody woken for it
        again = await desk.client.post(
            f"/api/v1/maintenance/{SOURCE}/end", headers=AUTH, json={"person": "david"}
        )
        assert again.status_code == 404
