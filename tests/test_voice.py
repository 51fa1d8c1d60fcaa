"""Voice pages end to end: the real twilio library places calls on a local Twilio API, which
fetches Vigie's TwiML and posts keypresses and call statuses, signed, as Twilio does."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

import tests.test_sms as sms_tests
from tests.test_sms import ALICE, BRUNO, sms_desk

VOICE_PEOPLE: list[dict[str, Any]] = [
    {
        **sms_tests.PEOPLE[0],
        "notify": ["sms", {"channel": "voice", "after": "10m"}, {"channel": "console", "after": "20m"}],
    },
    {**sms_tests.PEOPLE[1], "notify": ["voice"]},
    *sms_tests.PEOPLE[2:],
]


@pytest.fixture(autouse=True)
def voice_people(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sms_tests, "PEOPLE", VOICE_PEOPLE)


def gather_action(twiml: str) -> str:
    match = re.search(r'<Gather action="([^"]+)"', twiml)
    assert match, twiml
    return match.group(1)


async def test_undelivered_sms_calls_at_once_and_key_1_takes_it(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, tw, _url):
        ref = await desk.signal("Incendie dans un EHPAD, évacuation en cours")
        code = int(ref.rsplit("-", 1)[1])
        assert tw.calls == []  # the call waits 10 minutes behind the SMS…
        await tw.status(tw.sent[0]["sid"], "undelivered", "30005")
        await desk.vigie.settle()
        [call] = tw.calls  # …unless the SMS fails: then at once
        assert call["to"] == ALICE and call["MachineDetection"] == "Enable"
        twiml = await tw.answer(call)
        assert '<Say language="fr-FR">' in twiml
        assert f"Alerte Vigie, signal numéro {code} : Incendie dans un EHPAD, évacuation en cours." in twiml
        assert "Appuyez sur 1 pour prendre en charge, sur 2 pour escalader, sur 9 pour réécouter." in twiml
        base = desk.server.url
        again = await tw.keypress(base + gather_action(twiml), call, "9")
        assert "Alerte Vigie" in again
        done = await tw.keypress(base + gather_action(twiml), call, "1")
        assert "vous prenez en charge" in done
        await desk.vigie.settle()
        assert (await desk.signal_state(ref))["acknowledged_by"] == "alice"
        await desk.advance(minutes=30)
        assert [c["to"] for c in tw.calls] == [ALICE]  # Bruno never called


async def test_key_2_escalates(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, tw, _url):
        ref = await desk.signal("Signal")
        await desk.advance(minutes=5)  # Bruno's step: voice only
        call = next(c for c in tw.calls if c["to"] == BRUNO)
        twiml = await tw.answer(call)
        answer = await tw.keypress(desk.server.url + gather_action(twiml), call, "2")
        assert "l'étape suivante est appelée" in answer
        history = [e["message"] for e in await desk.history(ref)]
        assert "Escalade immédiate demandée par Bruno Petit" in history


async def test_answering_machine_and_no_answer_fail_over(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, tw, _url):
        ref = await desk.signal("Signal")
        await tw.status(tw.sent[0]["sid"], "undelivered")
        await desk.vigie.settle()
        [call] = tw.calls
        twiml = await tw.answer(call, answered_by="machine_start")
        assert "<Hangup" in twiml
        await desk.vigie.settle()
        await desk.device("alice", "console").expect_page(ref)  # next channel at once
        await desk.advance(minutes=5)
        bruno_call = next(c for c in tw.calls if c["to"] == BRUNO)
        assert (await tw.call_status(bruno_call, "no-answer")).status_code == 204
        await desk.vigie.settle()
        messages = [e["message"] for e in await desk.history(ref)]
        assert "Bruno Petit injoignable : non remis (failed (no-answer))" in messages
        assert "Personne de l'étape 2 n'est joignable : escalade immédiate" in messages


async def test_forged_voice_webhook_is_refused(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, _tw, _url):
        async with httpx.AsyncClient() as client:
            answer = await client.post(
                f"{desk.server.url}/twilio/voice/1/gather",
                data={"Digits": "1"},
                headers={"X-Twilio-Signature": "Zm9yZ2Vk"},
            )
        assert answer.status_code == 403


async def test_a_voice_url_with_a_strange_id_is_unknown_not_a_crash(db_url: str, monkeypatch) -> None:
    async with sms_desk(db_url, monkeypatch) as (desk, tw, _url):
        for strange in ("abc", "9" * 40):
            url = f"{desk.server.url}/twilio/voice/{strange}"
            params = {"CallSid": "CA1", "AccountSid": tw.account_sid, "CallStatus": "in-progress"}
            twiml = await tw._signed_post(url, params)
            assert twiml.status_code == 200 and "Alerte inconnue" in twiml.text
