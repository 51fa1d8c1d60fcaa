"""SMS end to end: the real twilio library against a local Twilio REST API, and Twilio's
signed webhooks (inbound SMS, status callbacks) delivered to Vigie."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.clock import ManualClock
from tests.devices import NIGHT, DutyDesk
from tests.fakes.twilio import FakeTwilio, TwilioError
from tests.support import AUTH, AsgiServer, free_port, make_config, running_vigie
from tests.test_escalation import LADDER, ROSTER

SID, TOKEN = "AC" + "a" * 32, "twilio-auth-token"
DESK, ALICE, BRUNO, STRANGER = "+33612000000", "+33611111111", "+33622222222", "+33699999999"
PEOPLE: list[dict[str, Any]] = [
    {
        "id": "alice",
        "name": "Alice Martin",
        "functions": ["referent"],
        "contacts": {"phone": ALICE},
        "notify": ["sms", {"channel": "console", "after": "10m"}],
    },
    {
        "id": "bruno",
        "name": "Bruno Petit",
        "functions": ["referent"],
        "contacts": {"phone": BRUNO},
        "notify": ["sms"],
    },
    {"id": "chloe", "name": "Chloé Bernard", "functions": ["cadre"]},
    {"id": "david", "name": "David Roux", "functions": ["responsable"]},
]


@asynccontextmanager
async def sms_desk(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[DutyDesk, FakeTwilio, str]]:
    fake = FakeTwilio(SID, TOKEN)
    monkeypatch.setenv("VIGIE_TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("VIGIE_TWILIO_AUTH_TOKEN", TOKEN)
    async with AsgiServer(fake.app) as api:
        port = free_port()
        public = f"http://127.0.0.1:{port}"
        config = make_config(
            desk={"name": "PFR test", "public_url": public},
            people=PEOPLE,
            rosters=[ROSTER],
            ladders=[LADDER],
            duty_officers=["david"],
            channels={
                "console": {"enabled": True},
                "twilio": {"enabled": True, "base_url": api.url, "sms_from": DESK},
            },
        )
        async with running_vigie(
            db_url, config=config, clock=ManualClock(NIGHT), background=False, port=port
        ) as s:
            async with s.client() as client:
                desk = DutyDesk(s, client, s.vigie.clock)  # type: ignore[arg-type]
                desk.twilio, desk.desk_number = fake, DESK
                yield desk, fake, f"{public}/twilio/sms"
                desk.devices.assert_all_read()


async def sms(desk: DutyDesk, fake: FakeTwilio, url: str, sender: str, body: str) -> None:
    answer = await fake.inbound_sms(url, sender, DESK, body)
    assert answer.status_code == 200 and "<Response>" in answer.text
    await desk.vigie.settle()


async def test_titulaire_replies_the_code_and_the_suppleant_is_never_paged(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, tw, _url):
        alice, bruno = desk.phone(ALICE), desk.phone(BRUNO)
        ref = await desk.signal("Cas groupés de légionellose, CH Nord")
        code = int(ref.rsplit("-", 1)[1])
        await (
            alice.expect_sms(
                f"Vigie {ref} : Cas groupés de légionellose, CH Nord. "
                f"Répondez {code} pour prendre en charge, {code}E pour escalader."
            )
            .then_reply(f" {code} ok ")
            .then_expect(f"Vigie : {ref} pris en charge par Alice Martin à 03:12.")
        )
        assert tw.sent[0]["from"] == DESK
        await desk.advance(minutes=30)
        await bruno.expect_nothing()
        assert (await desk.signal_state(ref))["acknowledged_by"] == "alice"


@pytest.mark.parametrize("reply", ["{code}", "ok {code}", "{code} OK", " {code}  "])
async def test_tolerant_replies_take_the_page(db_url: str, monkeypatch, reply: str) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, tw, url):
        ref = await desk.signal("Signal")
        await sms(desk, tw, url, ALICE, reply.format(code=int(ref.rsplit("-", 1)[1])))
        assert (await desk.signal_state(ref))["acknowledged_by"] == "alice"


async def test_code_with_e_escalates(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, _tw, _url):
        alice, bruno = desk.phone(ALICE), desk.phone(BRUNO)
        ref = await desk.signal("Signal à escalader")
        await (
            alice.expect_sms(ref)
            .then_reply(f"{int(ref.rsplit('-', 1)[1])}e")
            .then_expect("escalade immédiate")
        )
        await bruno.expect_sms(ref)  # paged at once, not in five minutes


async def test_strangers_and_wrong_codes_act_on_nothing(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, _tw, _url):
        alice, bruno, stranger = desk.phone(ALICE), desk.phone(BRUNO), desk.phone(STRANGER)
        ref = await desk.signal("Signal")
        code = str(int(ref.rsplit("-", 1)[1]))
        await stranger.then_reply(code).expect_sms("n'est pas dans l'annuaire")
        # Bruno was not paged for it (yet): his code is refused.
        await bruno.then_reply(code).expect_sms("ne correspond à aucune alerte qui vous a été envoyée")
        await alice.expect_sms(ref).then_reply("999").then_expect("ne correspond à aucune alerte")
        assert (await desk.signal_state(ref))["acknowledged_by"] is None


async def test_an_sms_that_is_not_a_reply_is_a_new_signal_with_a_receipt(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, tw, url):
        await sms(desk, tw, url, STRANGER, "Malaise collectif à la cantine de l'école Jules Ferry")
        [signal] = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        assert signal["title"] == "Malaise collectif à la cantine de l'école Jules Ferry"
        assert signal["origin"] == {"channel": "sms", "address": STRANGER}
        assert tw.to(STRANGER) == [
            f"Signal reçu, référence {signal['reference']}. Il est enregistré et transmis à l'astreinte."
        ]
        assert signal["reference"] in tw.to(ALICE)[0]  # and it pages


async def test_forged_signature_gets_403_and_nothing_happens(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, tw, url):
        answer = await tw.inbound_sms(url, ALICE, DESK, "Faux signal", signature="bm90IGEgc2lnbmF0dXJl")
        assert answer.status_code == 403
        assert (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["count"] == 0


async def test_undelivered_status_fails_over_at_once(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, tw, _url):
        ref = await desk.signal("Rupture de canalisation")
        [message] = tw.sent
        assert (await tw.status(message["sid"], "undelivered", "30003")).status_code == 204
        await desk.vigie.settle()
        await desk.device("alice", "console").expect_page(ref)  # not after its 10 minutes
        history = [e["message"] for e in await desk.history(ref)]
        assert "Échec de remise à Alice Martin par sms : non remis (undelivered (30003))" in history


async def test_delivered_status_is_recorded(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, tw, _url):
        await desk.signal("Signal")
        [message] = tw.sent
        await tw.status(message["sid"], "delivered")
        [row] = await desk.messages(channel="sms")
        assert row["state"] == "delivered"


async def test_twilio_500_twice_then_201_sends_one_sms(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, tw, _url):
        tw.failures = [
            TwilioError(500, 20500, "Internal Server Error"),
            TwilioError(503, 20503, "Unavailable"),
        ]
        ref = await desk.signal("Signal")
        assert len(tw.requests) == 3
        assert [m["body"] for m in tw.sent] == [tw.to(ALICE)[0]] and ref in tw.to(ALICE)[0]


async def test_invalid_number_fails_over_and_warns_the_desk_manager(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, tw, _url):
        tw.failures = [TwilioError(400, 21211, "The 'To' number is not a valid phone number.")]
        ref = await desk.signal("Signal")
        await desk.device("alice", "console").expect_page(ref)
        await desk.device("david").expect(
            "Annuaire à corriger — Alice Martin (sms) : numéro invalide (+33611111111)"
        )
