"""Exercise drills on the real roster and ladder, with an injected clock: a weekly window's drill
fires once inside it, is walked like a real alert with EXERCICE on every message, measured and
reported (text, mail with the trend chart); a drill the service slept through is reported
missed; a real signal during a drill is paged at once; two instances run a drill once."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader

from bot.clock import ManualClock
from bot.domain import OriginChannel
from bot.intake import Origin
from tests.devices import NIGHT, DutyDesk
from tests.fakes.smtp import FakeSmtp
from tests.support import AUTH, make_config, running_vigie
from tests.test_escalation import LADDER, ROSTER

MANAGER = "responsable-pfr@ars-exemple.fr"
PEOPLE: list[dict[str, Any]] = [
    {"id": "alice", "name": "Alice Martin", "functions": ["referent"], "notify": ["console"]},
    {"id": "bruno", "name": "Bruno Petit", "functions": ["referent"], "notify": ["console"]},
    {"id": "chloe", "name": "Chloé Bernard", "functions": ["cadre"], "notify": ["console"]},
    {"id": "david", "name": "David Roux", "functions": ["responsable"], "notify": ["console"]},
]
# NIGHT is Tuesday 24 November 2026, 03:12 in Paris: today's window opens at 09:00.
WINDOW = "mardi 09:00-17:00"


def drill_config(smtp: FakeSmtp, extra: dict[str, Any] | None = None, **drills: Any) -> Any:
    return make_config(
        **(extra or {}),
        people=PEOPLE,
        rosters=[ROSTER],
        ladders=[LADDER],
        duty_officers=["david"],
        drills={"schedules": [{"id": "hebdo", "window": WINDOW}], "report_to": [MANAGER], **drills},
        channels={
            "console": {"enabled": True},
            "email": {
                "enabled": True,
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "security": "none",
                "from_address": "vigie@ars-exemple.fr",
            },
        },
    )


@asynccontextmanager
async def drill_desk(
    db_url: str, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any] | None = None, **drills: Any
) -> AsyncIterator[tuple[DutyDesk, FakeSmtp]]:
    monkeypatch.setenv("VIGIE_LINK_SECRET", "link-secret-for-tests")
    monkeypatch.delenv("VIGIE_SMTP_USERNAME", raising=False)
    monkeypatch.delenv("VIGIE_SMTP_PASSWORD", raising=False)
    with FakeSmtp() as smtp:
        config = drill_config(smtp, extra, **drills)
        async with running_vigie(db_url, config=config, clock=ManualClock(NIGHT), background=False) as server:
            async with server.client() as client:
                yield DutyDesk(server, client, server.vigie.clock), smtp  # type: ignore[arg-type]


async def coming(desk: DutyDesk) -> list[dict[str, Any]]:
    answer = await desk.client.get("/api/v1/drills", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["coming"])


def local(desk: DutyDesk, iso: str) -> tuple[int, int, int]:
    from datetime import datetime

    at = datetime.fromisoformat(iso).astimezone(desk.vigie.engine.ctx.zone)
    return at.weekday(), at.hour, at.minute


async def test_a_weekly_drill_fires_in_its_window_is_walked_measured_and_reported(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with drill_desk(db_url, monkeypatch) as (desk, smtp):
        await desk.vigie.settle()
        [planned] = await coming(desk)
        day, hour, _ = local(desk, planned["due_at"])
        assert planned["schedule"] == "hebdo" and planned["state"] == "prevu"
        assert day == 1 and 9 <= hour < 17  # a Tuesday, between 09:00 and 17:00
        assert await desk.messages(kind="page") == []  # not before its time

        from datetime import datetime

        desk.clock.set(datetime.fromisoformat(planned["due_at"]))
        await desk.vigie.settle()
        [page] = await desk.messages(kind="page")
        assert page["recipient"] == "alice"
        assert page["text"].startswith("EXERCICE EXERCICE EXERCICE\nSignal ")
        signal = page["text"].split()[4]

        # Alice does not answer; Bruno, paged 5 minutes later, takes it a minute after that.
        await desk.advance(minutes=6)
        taken = await desk.ack(signal, "bruno")
        assert taken.status_code == 200, taken.text
        said = taken.json()["message"]
        assert said.startswith(f"EXERCICE EXERCICE EXERCICE — {signal} pris en charge par Bruno Petit")
        assert "6 min 00 s après le signal. Merci !" in said
        await desk.vigie.settle()

        [report] = [m for m in await desk.messages(kind="drill_report") if m["recipient"] == "david"]
        text = report["text"]
        # Every message about it, the notice that Bruno took it included, says EXERCICE.
        outgoing = await desk.messages()
        assert {m["kind"] for m in outgoing} == {"page", "acknowledged", "drill_report"}
        assert all(m["text"].startswith("EXERCICE EXERCICE EXERCICE") for m in outgoing)
        assert text.startswith("EXERCICE EXERCICE EXERCICE — Rapport de l'exercice n° 1 (hebdo)")
        assert "Pris en charge en 6 min 00 s par Bruno Petit (étape 2, suppléant" in text
        assert "Appelés sans réponse : Alice Martin." in text
        drills = (await desk.client.get("/api/v1/drills", headers=AUTH)).json()
        [done] = drills["drills"]
        assert done["measures"]["ack_s"] == 360.0 and done["measures"]["acked_step"] == 2
        assert done["measures"]["first_page_s"] == 0.0
        # The desk manager's mail: the same report, and the trend chart as a PNG.
        [mail] = await asyncio.to_thread(lambda: smtp.to(MANAGER))
        assert str(mail["Subject"]) == "EXERCICE EXERCICE EXERCICE [Vigie] Rapport de l'exercice n° 1"
        assert "Pris en charge en 6 min 00 s par Bruno Petit" in str(mail.get_body().get_content())  # type: ignore[union-attr]
        [chart] = list(mail.iter_attachments())
        assert chart.get_content_type() == "image/png" and chart.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
        # Next Tuesday's drill is planned; this one is not run twice.
        [following] = await coming(desk)
        assert following["due_at"][:10] >= "2026-12-01"
        await desk.advance(minutes=30)
        assert len(await desk.messages(kind="page")) == 2  # alice then bruno, nobody paged again

        # The report for the desk manager, as a PDF read back.
        from bot.drills import report as render

        pdf = render.pdf(desk.vigie.engine.ctx, await desk.vigie.drills.last(5))
        first = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        assert "Exercice n° 1" in first and "Bruno Petit" in first


async def test_a_drill_slept_through_is_reported_missed(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with drill_desk(db_url, monkeypatch) as (desk, _smtp):
        await desk.vigie.settle()
        [planned] = await coming(desk)
        # The service was down from 03:12 to 18:00: the window closed at 17:00.
        desk.clock.set(NIGHT + timedelta(hours=15))
        await desk.vigie.settle()
        assert await desk.messages(kind="page") == []
        [told] = await desk.messages(kind="drill_missed")
        assert told["recipient"] == "david"
        assert "manqué : le service était arrêté pendant toute sa fenêtre" in told["text"]
        [missed] = (await desk.client.get("/api/v1/drills", headers=AUTH)).json()["drills"]
        assert (missed["id"], missed["state"]) == (planned["id"], "manque")
        [following] = await coming(desk)
        assert following["id"] != planned["id"]


async def test_a_real_signal_during_a_drill_is_paged_at_once_and_the_drill_waits(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One message per contact every 10 minutes: the drill must not use up the real page's budget.
    limits = {"delivery": {"rate_limits": {"console": {"count": 1, "per": "10m", "merge": True}}}}
    async with drill_desk(db_url, monkeypatch, limits, schedules=[]) as (desk, _smtp):
        refused = await desk.vigie.inbound.drill_command("alice", "")
        assert not refused.ok and refused.text.startswith("Refusé : lancer un exercice")
        started = await desk.vigie.inbound.drill_command("david", "")
        assert started.ok, started.text
        assert started.text.startswith("Exercice n° 1 lancé sur l'échelle « default »")
        # The drill's page to Alice is queued; a real signal comes before it is sent.
        answer = await desk.client.post(
            "/api/v1/signals", headers=AUTH, json={"title": "Incendie, EHPAD du Parc", "severity": "critique"}
        )
        real = answer.json()["reference"]
        await desk.vigie.engine.run_due()  # both ladders' first step: Alice, paged twice
        await desk.vigie.dispatcher.run_once()
        pages = {("real" if real in p["text"] else "drill"): p for p in await desk.messages(kind="page")}
        assert pages["real"]["recipient"] == "alice" and pages["real"]["state"] == "delivered"
        assert not pages["real"]["text"].startswith("EXERCICE")
        assert pages["drill"]["recipient"] == "alice" and pages["drill"]["state"] == "pending"  # it waits
        assert pages["drill"]["text"].startswith("EXERCICE EXERCICE EXERCICE")
        # It goes once the contact's window allows (it counts the real page), never merged into it.
        await desk.advance(minutes=10, seconds=30)
        pages = {("real" if real in p["text"] else "drill"): p for p in await desk.messages(kind="page")
                 if p["recipient"] == "alice"}  # fmt: skip
        assert pages["drill"]["state"] == "delivered" and real not in pages["drill"]["text"]
        # A second real signal right after: the drill's page did not use up Alice's budget.
        second = await desk.signal("Fuite de gaz, CH de Lens", severity="critique")
        mine = next(p for p in await desk.messages(kind="page") if second in p["text"])
        assert mine["state"] == "delivered" and "EXERCICE" not in mine["text"]
        # The drill, unanswered, ends after drills.timeout with its report; the real ones go on.
        for _ in range(13):  # five minutes at a time: each step of the ladders on its time
            desk.clock.set(desk.clock.now() + timedelta(minutes=5))
            await desk.vigie.settle()
        [report] = [m for m in await desk.messages(kind="drill_report") if m["recipient"] == "david"]
        assert "Personne n'a pris l'alerte en charge avant la fin de l'exercice." in report["text"]
        assert "Appelés sans réponse : Alice Martin, Bruno Petit, Chloé Bernard." in report["text"]
        # Real lists and figures do not show the drill; asked for, it is there.
        listed = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        assert {s["reference"] for s in listed} == {real, second}
        asked = (await desk.client.get("/api/v1/signals?exercise=only", headers=AUTH)).json()["signals"]
        assert [s["exercise"] for s in asked] == [True]
        said = await desk.vigie.inbound.handle_message("david", "/signaux", Origin(OriginChannel.CLI))
        assert "EXERCICE" not in said.text and "Exercice d'alerte" not in said.text
        metrics = (await desk.client.get("/metrics")).text
        assert 'vigie_signals_received_total{exercise="false",outcome="new",source="http"} 2.0' in metrics
        assert 'vigie_signals_received_total{exercise="true",outcome="new",source="cli"} 1.0' in metrics
        assert 'vigie_messages_sent_total{channel="console",exercise="false",kind="page"}' in metrics


async def test_two_instances_plan_and_run_a_drill_once(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_LINK_SECRET", "link-secret-for-tests")
    with FakeSmtp() as smtp:
        config = drill_config(smtp)
        clock = ManualClock(NIGHT)
        async with (
            running_vigie(pg_url, config=config, clock=clock, background=False) as one,
            running_vigie(pg_url, config=config, clock=clock, background=False) as two,
        ):
            await asyncio.gather(one.vigie.drills.run_due(), two.vigie.drills.run_due())
            [planned] = await one.vigie.drills.coming()
            assert planned.due_at is not None
            clock.set(planned.due_at + timedelta(seconds=1))
            await asyncio.gather(one.vigie.drills.run_due(), two.vigie.drills.run_due())
            for _ in range(3):
                await asyncio.gather(one.vigie.engine.run_due(), two.vigie.engine.run_due())
                await asyncio.gather(one.vigie.dispatcher.run_once(), two.vigie.dispatcher.run_once())
            async with one.client() as client:
                pages = (await client.get("/api/v1/outbox", params={"kind": "page"}, headers=AUTH)).json()
            assert [m["recipient"] for m in pages["messages"]] == ["alice"]
            assert len(await two.vigie.drills.coming()) == 1  # running; next week's comes after
