"""Storms and floods contained without dropping anything, with an injected clock: a token's burst
of distinct signals is receipted one by one but paged as one storm signal; an unknown number
writing again and again joins its first signal, with one page and one receipt per window; a real
signal from elsewhere is paged at once meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.clock import ManualClock
from tests.devices import NIGHT, DutyDesk
from tests.fakes.twilio import FakeTwilio
from tests.support import AUTH, OTHER_TOKEN, AsgiServer, free_port, make_config, running_vigie
from tests.test_escalation import LADDER, PEOPLE, ROSTER

SAMU = {"Authorization": f"Bearer {OTHER_TOKEN}"}
SID, TWILIO_TOKEN = "AC" + "f" * 32, "twilio-auth-token-storms"
DESK = "+33612000000"
STRANGER = "+33699887766"


@asynccontextmanager
async def storm_desk(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[DutyDesk, FakeTwilio]]:
    twilio = FakeTwilio(SID, TWILIO_TOKEN)
    monkeypatch.setenv("VIGIE_TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("VIGIE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    port = free_port()
    async with AsgiServer(twilio.app) as api:
        config = make_config(
            desk={"name": "PFR test", "public_url": f"http://127.0.0.1:{port}"},
            people=[{**p, "notify": ["console"]} for p in PEOPLE],
            rosters=[ROSTER],
            ladders=[LADDER],
            duty_officers=["david"],
            intake={"storm": {"limit": 5, "per": "2m", "gather": "1m"}, "floods": {"window": "10m"}},
            channels={
                "console": {"enabled": True},
                "twilio": {"enabled": True, "base_url": api.url, "sms_from": DESK},
            },
        )
        async with running_vigie(
            db_url, config=config, clock=ManualClock(NIGHT), background=False, port=port
        ) as s:
            async with s.client() as client:
                yield DutyDesk(s, client, s.vigie.clock), twilio  # type: ignore[arg-type]


async def pages(desk: DutyDesk) -> list[dict[str, Any]]:
    return await desk.messages(kind="page")


async def test_a_tokens_burst_is_receipted_one_by_one_and_paged_as_one_storm(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with storm_desk(db_url, monkeypatch) as (desk, _twilio):
        references = []
        for i in range(12):  # a looping script: twelve distinct signals in a few seconds
            answer = await desk.client.post(
                "/api/v1/signals", headers=AUTH, json={"title": f"Sonde {i} hors plage"}
            )
            assert answer.status_code == 202, answer.text  # each stored and receipted
            references.append(answer.json()["reference"])
        await desk.vigie.settle()
        paged = {
            next(r for r in references if r in p["text"]) for p in await pages(desk) if "Sonde" in p["text"]
        }
        assert paged == set(references[:5])  # the first five, as usual; the seven others wait as one
        [told] = await desk.messages(kind="storm")
        assert told["recipient"] == "david" and "a envoyé plus de 5 signaux en 2 min" in told["text"]
        history = [e["message"] for e in await desk.history(references[8])]
        assert any(m.startswith("Regroupé dans PFR-2026-") and "pas d'appel séparé" in m for m in history)

        # A real signal from elsewhere meanwhile: paged at once.
        real = await desk.client.post(
            "/api/v1/signals", headers=SAMU, json={"title": "Incendie, EHPAD du Parc"}
        )
        await desk.vigie.settle()
        assert any(real.json()["reference"] in p["text"] for p in await pages(desk))

        await desk.advance(seconds=61)  # the storm's one page, counting the burst
        [storm] = [p for p in await pages(desk) if "Tempête" in p["text"]]
        assert "Tempête : 7 nouveaux signaux de la source test en 2 min" in storm["text"]
        assert storm["recipient"] == "alice"
        listed = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        assert len(listed) == 12 + 1 + 1  # nothing dropped: the twelve, the real one, the storm
        # Two minutes later the source is calm: its next signal is paged on its own again.
        await desk.advance(minutes=3)
        calm = await desk.signal("Sonde 13 hors plage")
        assert any(calm in p["text"] for p in await pages(desk))


async def test_an_unknown_number_writing_again_and_again_pages_once_and_gets_one_receipt(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with storm_desk(db_url, monkeypatch) as (desk, twilio):
        webhook = f"{desk.server.url}/twilio/sms"
        for i in range(6):
            answer = await twilio.inbound_sms(webhook, STRANGER, DESK, f"Message {i} : au secours")
            assert answer.status_code == 200
            await desk.advance(minutes=1)
        listed = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        assert len(listed) == 1 and listed[0]["duplicates"] == 5
        # One ladder for the whole flood: Alice paged once, then Bruno when she did not answer.
        assert [p["recipient"] for p in await pages(desk)] == ["alice", "bruno"]
        receipts = [body for body in twilio.to(STRANGER) if "référence" in body]
        assert len(receipts) == 1  # Vigie cannot be made to spam that number
        history = [e["message"] for e in await desk.history(listed[0]["reference"])]
        assert sum("(doublon n°" in m for m in history) == 5  # every message kept in its history
        # Quiet for longer than the window: the next message is a new signal, with its receipt.
        await desk.advance(minutes=11)
        await twilio.inbound_sms(webhook, STRANGER, DESK, "Nouvelle alerte : fumée")
        await desk.vigie.settle()
        assert len((await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]) == 2
        assert len([b for b in twilio.to(STRANGER) if "référence" in b]) == 2
