"""Telegram end to end: the real python-telegram-bot against a local Bot API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from bot.clock import ManualClock
from tests.devices import NIGHT, DutyDesk
from tests.fakes.telegram import ApiError, FakeTelegram
from tests.support import AsgiServer, eventually, make_config, running_vigie
from tests.test_escalation import LADDER, ROSTER

TOKEN = "7000000001:AAtest-token"
ALICE, BRUNO, DAVID, STRANGER = 1001, 1002, 1004, 6666
PEOPLE = [
    {
        "id": "alice",
        "name": "Alice Martin",
        "functions": ["referent"],
        "contacts": {"telegram_id": ALICE},
        "notify": ["telegram", {"channel": "console", "after": "10m"}],
    },
    {
        "id": "bruno",
        "name": "Bruno Petit",
        "functions": ["referent"],
        "contacts": {"telegram_id": BRUNO},
        "notify": ["telegram"],
    },
    {"id": "chloe", "name": "Chloé Bernard", "functions": ["cadre"]},
    {
        "id": "david",
        "name": "David Roux",
        "functions": ["responsable"],
        "contacts": {"telegram_id": DAVID},
        "notify": ["telegram"],
    },
]


@asynccontextmanager
async def telegram_desk(
    db_url: str, monkeypatch: pytest.MonkeyPatch, mode: str = "polling"
) -> AsyncIterator[tuple[DutyDesk, FakeTelegram]]:
    fake = FakeTelegram(TOKEN)
    for user_id, name in ((ALICE, "Alice"), (BRUNO, "Bruno"), (DAVID, "David"), (STRANGER, "Mallory")):
        fake.user(user_id, name)
    monkeypatch.setenv("VIGIE_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("VIGIE_TELEGRAM_WEBHOOK_SECRET", "s3cret-webhook")
    async with AsgiServer(fake.app) as api:
        telegram: dict[str, Any] = {
            "enabled": True,
            "base_url": f"{api.url}/bot",
            "mode": mode,
            "poll_timeout": "1s",
        }
        config = make_config(
            people=PEOPLE,
            rosters=[ROSTER],
            ladders=[LADDER],
            duty_officers=["david"],
            channels={"console": {"enabled": True}, "telegram": telegram},
        )
        if mode == "webhook":
            # Telegram will call us back: tell it where, once the port is known.
            from tests.support import free_port

            port = free_port()
            config = config.model_copy(
                update={"desk": config.desk.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})}
            )
        else:
            port = None
        clock = ManualClock(NIGHT)
        async with running_vigie(db_url, config=config, clock=clock, background=False, port=port) as server:
            async with server.client() as client:
                desk = DutyDesk(server, client, clock)
                desk.tg = fake
                yield desk, fake
                desk.devices.assert_all_read()


async def test_page_button_and_edit_for_everyone(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with telegram_desk(db_url, monkeypatch) as (desk, tg):
        ref = await desk.signal("Fuite de chlore, piscine municipale", severity="majeure")
        [page] = tg.from_bot(ALICE)
        assert ref in page["text"] and "titulaire" in page["text"]
        assert tg.buttons(page) == [("Je prends", f"ack:{ref}"), ("Escalader", f"escalate:{ref}")]
        await desk.advance(minutes=5)
        [bruno_page] = tg.from_bot(BRUNO)
        assert "suppléant" in bruno_page["text"]

        await tg.press(BRUNO, bruno_page, f"ack:{ref}")
        answered = await eventually(lambda: tg.answered_callbacks())
        assert answered[0]["text"].startswith(f"{ref} pris en charge par Bruno Petit à 03:17")
        await desk.advance(seconds=2)  # one message a second per chat: the edits follow the page
        # Both pages now say who took it, and carry no buttons any more.
        for chat in (ALICE, BRUNO):
            edited = tg.from_bot(chat)[0]
            assert "✅ Pris en charge par Bruno Petit à 03:17" in edited["text"]
            assert tg.buttons(edited) == []
        # Alice is also told by a new message (an edit makes no sound on her phone).
        assert "Pris en charge par Bruno Petit" in tg.from_bot(ALICE)[-1]["text"]
        assert len(tg.from_bot(BRUNO)) == 1
        state = await desk.signal_state(ref)
        assert state["acknowledged_by"] == "bruno"


async def test_replying_ok_to_a_page_takes_it(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with telegram_desk(db_url, monkeypatch) as (desk, _tg):
        alice, bruno = desk.telegram(ALICE), desk.telegram(BRUNO)
        ref = await desk.signal("Panne de courant, EHPAD")
        await (
            alice.expect(ref).then_reply("ok").then_expect(f"{ref} pris en charge par Alice Martin à 03:12.")
        )
        await desk.advance(minutes=30)
        await bruno.expect_nothing()


async def test_signal_by_chat_and_commands(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with telegram_desk(db_url, monkeypatch) as (desk, tg):
        await tg.send_text(DAVID, "/signal Cas groupés de gale, EHPAD Les Tilleuls")
        receipt = await eventually(lambda: [m for m in tg.from_bot(DAVID) if "Signal reçu" in m["text"]])
        ref = receipt[0]["text"].split("référence ")[1].split(".")[0]
        await desk.vigie.settle()
        assert any(ref in m["text"] for m in tg.from_bot(ALICE))  # and it pages

        await tg.send_text(DAVID, "Odeur suspecte au 3e étage du CH Nord")  # plain message: a signal too
        await eventually(lambda: len([m for m in tg.from_bot(DAVID) if "Signal reçu" in m["text"]]) == 2)

        await tg.send_text(DAVID, "/astreinte")
        oncall = await eventually(
            lambda: [m for m in tg.from_bot(DAVID) if "Astreinte PFR [pfr]" in m["text"]]
        )
        assert "titulaire          Alice Martin" in oncall[0]["text"]
        await tg.send_text(DAVID, "/statut")
        await eventually(
            lambda: [m for m in tg.from_bot(DAVID) if m["text"].startswith("Signaux ouverts (2)")]
        )


async def test_unknown_account_is_refused_and_nothing_happens(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with telegram_desk(db_url, monkeypatch) as (desk, tg):
        ref = await desk.signal("Signal")
        [page] = tg.from_bot(ALICE)
        await tg.send_text(STRANGER, "/signal faux signal")
        refusal = await eventually(lambda: tg.from_bot(STRANGER))
        assert refusal[0]["text"].startswith("Désolé, votre compte Telegram n'est pas enregistré")
        await tg.press(STRANGER, page, f"ack:{ref}")
        answered = await eventually(lambda: tg.answered_callbacks())
        assert answered[0]["show_alert"] is True or answered[0]["show_alert"] == "true"
        listing = await desk.client.get(
            "/api/v1/signals", headers={"Authorization": "Bearer test-token-secret"}
        )
        assert listing.json()["count"] == 1
        assert (await desk.signal_state(ref))["acknowledged_by"] is None


async def test_rate_limit_is_honoured_and_the_page_still_arrives(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with telegram_desk(db_url, monkeypatch) as (desk, tg):
        tg.failures["sendMessage"] = [ApiError(429, "Too Many Requests: retry after 3", retry_after=3)]
        ref = await desk.signal("Rupture de stock d'insuline")
        [page] = tg.from_bot(ALICE)
        assert ref in page["text"]
        assert [c.method for c in tg.calls].count("sendMessage") == 2  # refused once, then sent
        [message] = await desk.messages(channel="telegram")
        # Sent only after the 3 seconds Telegram asked for.
        assert message["sent_at"] == "2026-11-24T02:12:03+00:00"


async def test_blocked_bot_fails_over_to_the_next_channel(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with telegram_desk(db_url, monkeypatch) as (desk, tg):
        tg.blocked.add(ALICE)
        ref = await desk.signal("Alerte canicule")
        console = desk.device("alice", "console")
        await console.expect_page(ref)  # at once, not after its 10-minute delay
        messages = [e["message"] for e in await desk.history(ref)]
        assert (
            "Échec de remise à Alice Martin par telegram : Telegram : Forbidden: bot was blocked by the user"
            in messages
        )


async def test_webhook_mode_checks_the_secret_token(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with telegram_desk(db_url, monkeypatch, mode="webhook") as (desk, tg):
        assert tg.webhook is not None and tg.webhook["secret_token"] == "s3cret-webhook"
        update = {
            "update_id": 99,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": DAVID, "type": "private"},
                "from": tg.users[DAVID],
                "text": "/signal forgé",
            },
        }
        async with httpx.AsyncClient() as client:
            forged = await client.post(
                tg.webhook["url"], json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
            )
            assert forged.status_code == 403
            missing = await client.post(tg.webhook["url"], json=update)
            assert missing.status_code == 403
            # Garbage with the right secret: refused, never a 500.
            secret = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-webhook"}
            for garbage in ("[]", "null", '"x"', "{", "[" * 5000):
                answer = await client.post(tg.webhook["url"], content=garbage, headers=secret)
                assert answer.status_code == 400, (garbage[:10], answer.text)
            huge = await client.post(
                tg.webhook["url"], content=b"{" + b" " * (2 << 20) + b"}", headers=secret
            )
            assert huge.status_code == 413
        listing = await desk.client.get(
            "/api/v1/signals", headers={"Authorization": "Bearer test-token-secret"}
        )
        assert listing.json()["count"] == 0
        # Through Telegram itself (right secret), the same message works.
        await tg.send_text(DAVID, "/signal Intoxication alimentaire, cantine")
        await eventually(lambda: [m for m in tg.from_bot(DAVID) if "Signal reçu" in m["text"]])


async def test_one_message_a_second_per_chat_pages_first_nothing_dropped(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with telegram_desk(db_url, monkeypatch) as (desk, tg):
        refs = []
        for n in range(3):
            answer = await desk.client.post(
                "/api/v1/signals",
                headers={"Authorization": "Bearer test-token-secret"},
                json={"title": f"Signal {n}"},
            )
            refs.append(answer.json()["reference"])
        await desk.vigie.settle()
        assert len(tg.from_bot(ALICE)) == 1  # one message this second
        for _ in range(3):
            await desk.advance(seconds=1)
        pages = tg.from_bot(ALICE)
        assert [next(r for r in refs if r in p["text"]) for p in pages] == refs  # all three, in order
        sent = sorted(m["sent_at"] for m in await desk.messages(channel="telegram"))
        assert len(set(sent)) == 3  # each in its own second


async def test_server_errors_are_retried_and_the_page_sent_once(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with telegram_desk(db_url, monkeypatch) as (desk, tg):
        tg.failures["sendMessage"] = [ApiError(500, "Internal Server Error"), ApiError(502, "Bad Gateway")]
        ref = await desk.signal("Panne du standard de l'hôpital")
        [page] = tg.from_bot(ALICE)
        assert ref in page["text"]
        assert [c.method for c in tg.calls].count("sendMessage") == 3
        [message] = await desk.messages(channel="telegram")
        assert message["state"] == "delivered" and message["attempts"] == 1
