"""Slack end to end (real slack-bolt and slack-sdk against a local Web API), and the
cross-platform ladder: Telegram titulaire, Slack suppléant."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from bot.clock import ManualClock
from tests.devices import NIGHT, DutyDesk
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.support import AUTH, AsgiServer, eventually, make_config, running_vigie
from tests.test_escalation import LADDER, ROSTER

TG_TOKEN = "7000000001:AAtest-token"
SLACK_TOKEN = "xoxb-test-token"
SIGNING = "8f742231b10e8888abcd99yyyzzz85a5"
ALICE_TG, BRUNO, DAVID, STRANGER = 1001, "U0BRUNO01", "U0DAVID01", "U0MALLORY"
PEOPLE = [
    {
        "id": "alice",
        "name": "Alice Martin",
        "functions": ["referent"],
        "contacts": {"telegram_id": ALICE_TG},
        "notify": ["telegram"],
    },
    {
        "id": "bruno",
        "name": "Bruno Petit",
        "functions": ["referent"],
        "contacts": {"slack_id": BRUNO},
        "notify": ["slack", {"channel": "console", "after": "10m"}],
    },
    {"id": "chloe", "name": "Chloé Bernard", "functions": ["cadre"]},
    {
        "id": "david",
        "name": "David Roux",
        "functions": ["responsable"],
        "contacts": {"slack_id": DAVID},
        "notify": ["slack"],
    },
]


@asynccontextmanager
async def chat_desk(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[DutyDesk, FakeTelegram, FakeSlack, str]]:
    tg = FakeTelegram(TG_TOKEN)
    tg.user(ALICE_TG, "Alice")
    slack = FakeSlack(SLACK_TOKEN, SIGNING)
    for user_id, name in ((BRUNO, "bruno"), (DAVID, "david"), (STRANGER, "mallory")):
        slack.user(user_id, name)
    monkeypatch.setenv("VIGIE_TELEGRAM_TOKEN", TG_TOKEN)
    monkeypatch.setenv("VIGIE_SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("VIGIE_SLACK_SIGNING_SECRET", SIGNING)
    async with AsgiServer(tg.app) as tg_api, AsgiServer(slack.app) as slack_api:
        slack.url = slack_api.url
        channels: dict[str, Any] = {
            "console": {"enabled": True},
            "telegram": {"enabled": True, "base_url": f"{tg_api.url}/bot", "poll_timeout": "1s"},
            "slack": {"enabled": True, "base_url": f"{slack_api.url}/api/"},
        }
        config = make_config(
            people=PEOPLE, rosters=[ROSTER], ladders=[LADDER], duty_officers=["david"], channels=channels
        )
        async with running_vigie(db_url, config=config, clock=ManualClock(NIGHT), background=False) as server:
            async with server.client() as client:
                desk = DutyDesk(server, client, server.vigie.clock)  # type: ignore[arg-type]
                desk.tg, desk.slack_fake = tg, slack
                yield desk, tg, slack, f"{server.url}/slack/events"
                desk.devices.assert_all_read()


async def test_telegram_titulaire_silent_slack_suppleant_takes_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with chat_desk(db_url, monkeypatch) as (desk, tg, slack, events):
        ref = await desk.signal("Afflux de patients brûlés, CH Nord", severity="critique")
        [tg_page] = tg.from_bot(ALICE_TG)
        assert ref in tg_page["text"]
        assert slack.dm(BRUNO) == []
        await desk.advance(minutes=5)
        [slack_page] = slack.dm(BRUNO)
        assert ref in slack_page["text"] and "suppléant" in slack_page["text"]
        assert slack.buttons(slack_page) == [("Je prends", "ack"), ("Escalader", "escalate")]

        started = time.monotonic()
        answer = await slack.press(events, BRUNO, slack_page, "ack")
        assert answer.status_code == 200 and time.monotonic() - started < 3  # acknowledged at once
        confirmation = await eventually(lambda: slack.responses)
        assert confirmation[0]["text"] == f"{ref} pris en charge par Bruno Petit à 03:17."
        await desk.advance(seconds=2)
        # Both pages, on both platforms, now say who took it.
        assert "✅ Pris en charge par Bruno Petit à 03:17" in tg.from_bot(ALICE_TG)[0]["text"]
        assert tg.buttons(tg.from_bot(ALICE_TG)[0]) == []
        bruno_page = slack.dm(BRUNO)[0]
        assert "✅ Pris en charge par Bruno Petit à 03:17" in bruno_page["text"]
        assert slack.buttons(bruno_page) == []
        assert (await desk.signal_state(ref))["acknowledged_by"] == "bruno"


async def test_the_ladder_read_like_two_phones(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Alice's Telegram stays silent; Bruno's Slack gets the step-2 page, he presses « Je prends »,
    and Alice's page says who took it."""
    async with chat_desk(db_url, monkeypatch) as (desk, _tg, _slack, _events):
        alice, bruno = desk.telegram(ALICE_TG), desk.slack(BRUNO)
        ref = await desk.signal("Afflux de patients brûlés, CH Nord", severity="critique")
        await alice.expect(ref, "titulaire")
        await bruno.expect_nothing()
        await desk.advance(minutes=5)
        await bruno.expect(ref, "suppléant").press("Je prends")
        await desk.advance(seconds=2)  # one message a second per chat: the edit follows the page
        assert "✅ Pris en charge par Bruno Petit à 03:17" in alice.last["text"]  # edited in place
        await alice.then_expect("Pris en charge par Bruno Petit")  # and told by a new message


async def test_slash_signal_and_oncall(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with chat_desk(db_url, monkeypatch) as (desk, tg, slack, events):
        answer = await slack.slash(events, DAVID, "/signal", "Intoxication au CO, 4 personnes, rue des Lilas")
        assert answer.status_code == 200
        [receipt] = await eventually(lambda: slack.responses)
        assert receipt["text"].startswith("Signal reçu, référence PFR-")
        ref = receipt["text"].split("référence ")[1].split(".")[0]
        await desk.vigie.settle()
        assert ref in tg.from_bot(ALICE_TG)[0]["text"]  # the new signal pages the titulaire
        await slack.slash(events, DAVID, "/astreinte")
        oncall = await eventually(lambda: slack.responses[1:])
        assert "titulaire          Alice Martin" in oncall[0]["text"]
        await slack.slash(events, DAVID, "/oncall")  # English alias
        await eventually(lambda: len(slack.responses) == 3)


async def test_dm_is_a_signal_and_ok_in_the_page_thread_takes_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with chat_desk(db_url, monkeypatch) as (desk, _tg, slack, events):
        await slack.dm_event(events, DAVID, "Coupure d'eau générale à l'hôpital de Lens")
        await eventually(lambda: [m for m in slack.dm(DAVID) if m["text"].startswith("Signal reçu")])
        ref = await desk.signal("Second signal")
        await desk.advance(minutes=5)
        page = next(m for m in slack.dm(BRUNO) if ref in m["text"])
        await slack.dm_event(events, BRUNO, "ok", thread_ts=page["ts"])
        reply = await eventually(lambda: [m for m in slack.dm(BRUNO) if "pris en charge par" in m["text"]])
        assert reply[0]["text"] == f"{ref} pris en charge par Bruno Petit à 03:17."
        assert reply[0]["thread_ts"] == page["ts"]


async def test_forged_old_and_unknown_requests_act_on_nothing(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with chat_desk(db_url, monkeypatch) as (desk, _tg, slack, events):
        forged = await slack.slash(
            events,
            DAVID,
            "/signal",
            "faux",
            headers={
                "X-Slack-Request-Timestamp": str(int(time.time())),
                "X-Slack-Signature": "v0=" + "0" * 64,
            },
        )
        assert forged.status_code == 401
        body = "token=x&command=%2Fsignal&text=rejeu&user_id=" + DAVID
        replayed = await slack.slash(
            events, DAVID, "/signal", "rejoué", headers=slack.sign(body, int(time.time()) - 301)
        )
        assert replayed.status_code == 401
        await slack.slash(events, STRANGER, "/signal", "je ne suis pas de l'équipe")
        refusal = await eventually(lambda: slack.responses)
        assert refusal[0]["text"].startswith("Désolé, votre compte Slack n'est pas enregistré")
        listing = await desk.client.get("/api/v1/signals", headers=AUTH)
        assert listing.json()["count"] == 0


async def test_ratelimited_is_honoured_and_deactivated_fails_over(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with chat_desk(db_url, monkeypatch) as (desk, _tg, slack, _events):
        slack.ratelimit["chat.postMessage"] = 2
        ref = await desk.signal("Nuage toxique, zone industrielle")
        await desk.advance(minutes=5)
        [page] = slack.dm(BRUNO)
        assert ref in page["text"]
        [message] = await desk.messages(channel="slack")
        assert message["sent_at"] == "2026-11-24T02:17:02+00:00"  # after the Retry-After of 2 s

        slack.deactivated.add(BRUNO)
        other = await desk.signal("Second signal")
        await desk.advance(minutes=5)
        await desk.device("bruno", "console").expect_page(other)  # failover at once, not after 10 minutes
        history = [e["message"] for e in await desk.history(other)]
        assert "Échec de remise à Bruno Petit par slack : Slack : user_disabled" in history


async def test_slack_server_errors_are_retried(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with chat_desk(db_url, monkeypatch) as (desk, _tg, slack, _events):
        slack.server_errors["chat.postMessage"] = 2
        ref = await desk.signal("Fuite radioactive simulée")
        await desk.advance(minutes=5)
        [page] = slack.dm(BRUNO)
        assert ref in page["text"]
        posts = [m for m, _ in slack.calls if m == "chat.postMessage"]
        assert len(posts) == 3


async def test_socket_mode_needs_no_public_url(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    slack = FakeSlack(SLACK_TOKEN, SIGNING)
    slack.user(DAVID, "david")
    monkeypatch.setenv("VIGIE_SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("VIGIE_SLACK_SIGNING_SECRET", SIGNING)
    monkeypatch.setenv("VIGIE_SLACK_APP_TOKEN", slack.app_token)
    async with AsgiServer(slack.app) as slack_api:
        slack.url = slack_api.url
        channels = {"slack": {"enabled": True, "base_url": f"{slack_api.url}/api/", "socket_mode": True}}
        config = make_config(people=PEOPLE[3:], rosters=[], ladders=[], channels=channels)
        async with running_vigie(db_url, config=config, clock=ManualClock(NIGHT), background=False):
            await eventually(slack.socket_connected.is_set)
            envelope = await slack.socket_slash(DAVID, "/signal", "Inondation du sous-sol, CH Sud")
            await eventually(lambda: any(a.get("envelope_id") == envelope for a in slack.acks))
            [receipt] = await eventually(lambda: slack.responses)
            assert receipt["text"].startswith("Signal reçu, référence PFR-")


async def test_an_oversized_event_is_refused_before_its_signature_is_computed(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with chat_desk(db_url, monkeypatch) as (_desk, _tg, slack, events):
        body = "x" * (2 << 20)
        async with httpx.AsyncClient() as client:
            answer = await client.post(events, content=body, headers=slack.sign(body))
        assert answer.status_code == 413
        assert answer.json()["error"] == "payload_too_large"
