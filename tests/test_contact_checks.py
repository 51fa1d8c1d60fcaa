"""The test de joignabilité, on every channel against the providers' fakes, with an injected clock:
each contact gets a test message marked EXERCICE and is confirmed only from itself; a dead number
and a silent address are listed for the desk manager (« Annuaire à vérifier »); the monthly
schedule plans one check and runs it at its time."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from bot.clock import ManualClock
from tests.devices import NIGHT, DutyDesk
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FakeTwilio
from tests.support import AUTH, AsgiServer, eventually, free_port, make_config, running_vigie
from tests.test_escalation import LADDER, ROSTER
from tests.test_slack import SIGNING, SLACK_TOKEN, TG_TOKEN

SID, TOKEN = "AC" + "e" * 32, "twilio-auth-token-contacts"
DESK = "+33612000000"
MANAGER = "responsable-pfr@ars-exemple.fr"
ALICE = {
    "phone": "+33611111111",
    "telegram_id": 1001,
    "slack_id": "U0ALICE01",
    "email": "alice@ars-exemple.fr",
}
BRUNO = {"phone": "+33622222222", "email": "bruno@ars-exemple.fr"}  # his number is dead
PEOPLE: list[dict[str, Any]] = [
    {"id": "alice", "name": "Alice Martin", "functions": ["referent"], "contacts": ALICE, "notify": ["sms"]},
    {"id": "bruno", "name": "Bruno Petit", "functions": ["referent"], "contacts": BRUNO, "notify": ["sms"]},
    {"id": "chloe", "name": "Chloé Bernard", "functions": ["cadre"], "notify": ["console"]},
    {"id": "david", "name": "David Roux", "functions": ["responsable"], "notify": ["console"]},
]


@dataclass
class Fakes:
    desk: DutyDesk
    tg: FakeTelegram
    slack: FakeSlack
    twilio: FakeTwilio
    smtp: FakeSmtp

    @property
    def url(self) -> str:
        return str(self.desk.server.url)


@asynccontextmanager
async def contacts_desk(
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    partners: list[dict[str, Any]] | None = None,
    partner_checks: list[dict[str, Any]] | None = None,
    **contacts: Any,
) -> AsyncIterator[Fakes]:
    tg = FakeTelegram(TG_TOKEN)
    tg.user(1001, "Alice")
    slack = FakeSlack(SLACK_TOKEN, SIGNING)
    slack.user("U0ALICE01", "alice")
    slack.user("U0STRANGE", "mallory")
    twilio = FakeTwilio(SID, TOKEN)
    twilio.invalid.add(BRUNO["phone"])
    for name, value in {
        "VIGIE_TELEGRAM_TOKEN": TG_TOKEN,
        "VIGIE_SLACK_BOT_TOKEN": SLACK_TOKEN,
        "VIGIE_SLACK_SIGNING_SECRET": SIGNING,
        "VIGIE_TWILIO_ACCOUNT_SID": SID,
        "VIGIE_TWILIO_AUTH_TOKEN": TOKEN,
        "VIGIE_LINK_SECRET": "link-secret-for-tests",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("VIGIE_SMTP_USERNAME", raising=False)
    monkeypatch.delenv("VIGIE_SMTP_PASSWORD", raising=False)
    port = free_port()
    with FakeSmtp() as smtp:
        async with (
            AsgiServer(tg.app) as tg_api,
            AsgiServer(slack.app) as slack_api,
            AsgiServer(twilio.app) as tw,
        ):
            slack.url = slack_api.url
            config = make_config(
                desk={"name": "PFR test", "public_url": f"http://127.0.0.1:{port}"},
                people=PEOPLE,
                rosters=[ROSTER],
                ladders=[LADDER],
                duty_officers=["david"],
                drills={"report_to": [MANAGER], "contacts": contacts, "partners": partner_checks or []},
                partners=partners or [],
                channels={
                    "console": {"enabled": True},
                    "telegram": {"enabled": True, "base_url": f"{tg_api.url}/bot", "poll_timeout": "1s"},
                    "slack": {"enabled": True, "base_url": f"{slack_api.url}/api/"},
                    "twilio": {"enabled": True, "base_url": tw.url, "sms_from": DESK, "voice": True},
                    "email": {
                        "enabled": True, "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                        "security": "none", "from_address": "vigie@ars-exemple.fr",
                    },
                },
            )  # fmt: skip
            async with running_vigie(
                db_url, config=config, clock=ManualClock(NIGHT), background=False, port=port
            ) as server:
                async with server.client() as client:
                    desk = DutyDesk(server, client, server.vigie.clock)  # type: ignore[arg-type]
                    yield Fakes(desk, tg, slack, twilio, smtp)


async def checks(desk: DutyDesk) -> dict[str, Any]:
    answer = await desk.client.get("/api/v1/drills/contacts", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def states(check: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(p["person"], p["channel"]): p["state"] for p in check["probes"]}


async def test_every_contact_is_tested_and_the_dead_number_is_listed_for_the_manager(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with contacts_desk(db_url, monkeypatch) as fakes:
        desk = fakes.desk
        refused = await desk.client.post(
            "/api/v1/drills/contacts", headers=AUTH, json={"person": "alice"}
        )  # a referent may not start one
        assert refused.status_code == 403, refused.text
        started = await desk.client.post("/api/v1/drills/contacts", headers=AUTH, json={"person": "david"})
        assert started.status_code == 201, started.text
        assert started.json()["message"].startswith(
            "Test de joignabilité n° 1 lancé (tout l'annuaire) : 8 contact(s)"
        )
        await desk.vigie.settle()

        # Every test message, on every channel, says EXERCICE first.
        [tg_msg] = fakes.tg.from_bot(1001)
        [slack_msg] = fakes.slack.dm("U0ALICE01")
        [sms] = fakes.twilio.to(ALICE["phone"])
        [call] = [c for c in fakes.twilio.calls if c["to"] == ALICE["phone"]]
        twiml = await fakes.twilio.answer(call)
        mails = {str(m["To"]): m for m in fakes.smtp.collector.messages}
        assert set(mails) == {ALICE["email"], BRUNO["email"]}
        for text in (tg_msg["text"], slack_msg["text"], sms, str(mails[ALICE["email"]]["Subject"])):
            assert text.startswith("EXERCICE EXERCICE EXERCICE"), text
        assert mails[ALICE["email"]].get_content().startswith("EXERCICE EXERCICE EXERCICE")
        spoken = re.search(r"<Say[^>]*>([^<]+)</Say>", twiml)
        assert spoken and spoken.group(1).startswith("Exercice, exercice, exercice."), twiml
        assert "test de joignabilité" in sms and re.search(r"Répondez T\d+ pour confirmer", sms)

        # Alice confirms each of hers, each from that very contact; a stranger's press counts nothing.
        events = f"{fakes.url}/slack/events"
        stranger = await fakes.slack.press(events, "U0STRANGE", slack_msg, "cconfirm")
        assert stranger.status_code == 200
        [(label, data)] = fakes.tg.buttons(tg_msg)
        assert label == "Je confirme ce contact" and data.startswith("cconfirm:T")
        await fakes.tg.press(1001, tg_msg, data)
        assert (await fakes.slack.press(events, "U0ALICE01", slack_msg, "cconfirm")).status_code == 200
        code = re.search(r"Répondez (T\d+)", sms)
        assert code
        from_bruno = await fakes.twilio.inbound_sms(f"{fakes.url}/twilio/sms", BRUNO["phone"], DESK, code[1])
        assert from_bruno.status_code == 200  # another number quoting Alice's code: refused
        await fakes.twilio.inbound_sms(
            f"{fakes.url}/twilio/sms", ALICE["phone"], DESK, f"{code[1].lower()} ok"
        )
        gather = re.search(r'<Gather action="([^"]+)"', twiml)
        assert gather
        said = await fakes.twilio.keypress(fakes.url + gather[1], call, "1")
        assert "ce numéro est confirmé" in said
        link = re.search(r"Confirmer : (\S+)", mails[ALICE["email"]].get_content())
        assert link
        async with httpx.AsyncClient() as browser:
            shown = await browser.get(link[1])  # a mail scanner opening the link confirms nothing
            assert shown.status_code == 200 and "<form method='post'>" in shown.text
            assert states((await checks(desk))["checks"][0])[("alice", "email")] == "attente"
            confirmed = await browser.post(link[1])
            assert confirmed.status_code == 200 and "votre e-mail est confirmé" in confirmed.text

        async def alice_done() -> dict[str, Any] | None:
            await desk.vigie.settle()
            found = (await checks(desk))["checks"][0]
            alice = {k: v for k, v in states(found).items() if k[0] == "alice"}
            return found if set(alice.values()) == {"confirme"} else None

        check = await eventually(alice_done)
        assert check["state"] == "en-cours"  # Bruno's mail may still be confirmed
        texts = [r["text"] for r in fakes.slack.responses]
        assert "Test de joignabilité inconnu pour ce contact." in texts  # the stranger's press

        # A day later, Bruno's mail was never confirmed and his number is dead: the manager is told.
        desk.clock.set(NIGHT + timedelta(hours=24, minutes=1))
        await desk.vigie.settle()
        [done] = (await checks(desk))["checks"]
        assert done["state"] == "termine"
        assert states(done) == {
            ("alice", "sms"): "confirme", ("alice", "voice"): "confirme", ("alice", "telegram"): "confirme",
            ("alice", "slack"): "confirme", ("alice", "email"): "confirme",
            ("bruno", "sms"): "echec", ("bruno", "voice"): "echec", ("bruno", "email"): "sans-reponse",
        }  # fmt: skip
        [told] = await desk.messages(kind="contact_report", recipient="david")
        text = told["text"]
        assert text.startswith("EXERCICE EXERCICE EXERCICE — Test de joignabilité n° 1 du ")
        assert "5 contact(s) confirmé(s) sur 8." in text and "Annuaire à vérifier :" in text
        assert f"- Bruno Petit — SMS {BRUNO['phone']} : échec d'envoi (" in text
        assert f"- Bruno Petit — appel {BRUNO['phone']} : échec d'envoi (" in text
        assert f"- Bruno Petit — e-mail {BRUNO['email']} : sans confirmation" in text
        assert "Alice" not in text
        mail = await asyncio.to_thread(lambda: fakes.smtp.to(MANAGER))
        assert [str(m["Subject"]) for m in mail] == [
            "EXERCICE EXERCICE EXERCICE [Vigie] Annuaire à vérifier (test n° 1)"
        ]
        # Late, a confirmation is refused politely: the manager has the list.
        late_link = re.search(r"Confirmer : (\S+)", mails[BRUNO["email"]].get_content())
        assert late_link
        async with httpx.AsyncClient() as browser:
            late = await browser.post(late_link[1])
        assert late.status_code == 409 and "Ce test de joignabilité est terminé" in late.text


async def test_the_monthly_schedule_plans_one_check_and_runs_it_at_its_time(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first Tuesday of the month at 10:00; NIGHT is Tuesday 24 November 2026.
    async with contacts_desk(db_url, monkeypatch, cron="0 10 1-7 * tue", confirm_within="2h") as fakes:
        desk = fakes.desk
        await desk.vigie.settle()
        await desk.vigie.settle()
        coming = (await checks(desk))["coming"]
        assert coming is not None
        due = datetime.fromisoformat(coming)
        assert (due.year, due.month, due.day, due.hour, due.minute) == (2026, 12, 1, 10, 0)
        assert fakes.twilio.sent == []
        desk.clock.set(due + timedelta(seconds=5))
        await desk.vigie.settle()
        [check] = (await checks(desk))["checks"]
        assert check["state"] == "en-cours" and len(check["probes"]) == 8
        assert len(fakes.twilio.to(ALICE["phone"])) == 1
        # Once: the next one is January's, and nothing more goes out this month.
        after = datetime.fromisoformat((await checks(desk))["coming"])
        assert (after.month, after.day) == (1, 5)
        desk.clock.set(due + timedelta(hours=3))
        await desk.vigie.settle()
        [check] = (await checks(desk))["checks"]
        assert check["state"] == "termine" and len(fakes.twilio.to(ALICE["phone"])) == 1


async def test_a_partners_check_is_an_exercise_diffusion_sent_once_at_its_time(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    partners = [
        {"id": "ehpad-lilas", "name": "EHPAD Les Lilas", "kind": "EMS", "email": "alerte@lilas.fr",
         "groups": ["ehpad-59"]},
        {"id": "ehpad-tilleuls", "name": "EHPAD Les Tilleuls", "kind": "EMS", "email": "alerte@tilleuls.fr",
         "groups": ["ehpad-59"]},
    ]  # fmt: skip
    schedule = [{"id": "alerte-ehpad", "cron": "30 9 * * wed", "groups": ["ehpad-59"]}]
    async with contacts_desk(db_url, monkeypatch, partners=partners, partner_checks=schedule) as fakes:
        desk = fakes.desk
        await desk.vigie.settle()
        assert fakes.smtp.collector.messages == []  # not before its time: Wednesday 09:30
        desk.clock.set(datetime(2026, 11, 25, 8, 31, tzinfo=NIGHT.tzinfo))  # 09:31 in Paris
        await desk.vigie.settle()
        await desk.vigie.settle()
        mails = {str(m["To"]): m for m in fakes.smtp.collector.messages}
        assert set(mails) == {"alerte@lilas.fr", "alerte@tilleuls.fr"}  # once each
        mail = mails["alerte@lilas.fr"]
        assert "Test de joignabilité" in str(mail["Subject"])
        assert mail.get_content().startswith("EXERCICE EXERCICE EXERCICE")
        assert "Confirmer la réception : " in mail.get_content()
        reference = re.search(r"DIFF-2026-\d{4}", str(mail["Subject"]))
        assert reference and reference[0] == "DIFF-2026-0001"
        state = (await desk.client.get(f"/api/v1/diffusions/{reference[0]}", headers=AUTH)).json()
        assert {p["partner"] for p in state["partners"]} == {"ehpad-lilas", "ehpad-tilleuls"}
        # A week later, the next one: DIFF-2026-0002, and still one a week.
        desk.clock.set(datetime(2026, 12, 2, 8, 31, tzinfo=NIGHT.tzinfo))
        await desk.vigie.settle()
        subjects = [
            str(m["Subject"]) for m in fakes.smtp.collector.messages if "DIFF-2026-0002" in str(m["Subject"])
        ]
        assert len(subjects) == 2


async def test_two_instances_plan_and_run_the_monthly_check_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_LINK_SECRET", "link-secret-for-tests")
    monkeypatch.delenv("VIGIE_SMTP_USERNAME", raising=False)
    monkeypatch.delenv("VIGIE_SMTP_PASSWORD", raising=False)
    with FakeSmtp() as smtp:
        config = make_config(
            people=PEOPLE,
            rosters=[ROSTER],
            ladders=[LADDER],
            duty_officers=["david"],
            drills={"contacts": {"cron": "0 10 1-7 * tue"}},
            channels={
                "console": {"enabled": True},
                "email": {
                    "enabled": True, "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                    "security": "none", "from_address": "vigie@ars-exemple.fr",
                },
            },
        )  # fmt: skip
        clock = ManualClock(NIGHT)
        async with (
            running_vigie(pg_url, config=config, clock=clock, background=False) as one,
            running_vigie(pg_url, config=config, clock=clock, background=False) as two,
        ):
            await asyncio.gather(one.vigie.drills.run_due(), two.vigie.drills.run_due())
            planned = await one.vigie.drills.contacts.coming()
            assert planned is not None
            clock.set(planned.due_at + timedelta(seconds=1))
            await asyncio.gather(one.vigie.drills.run_due(), two.vigie.drills.run_due())
            await asyncio.gather(one.vigie.dispatcher.run_once(), two.vigie.dispatcher.run_once())
            [(check, probes)] = await two.vigie.drills.contacts.last(5)
            assert check.state == "en-cours"
            assert sorted(p.address for p in probes) == [ALICE["email"], BRUNO["email"]]
            sent = await asyncio.to_thread(lambda: [str(m["To"]) for m in smtp.collector.messages])
            assert sorted(sent) == [ALICE["email"], BRUNO["email"]]  # one mail each, not two
            await asyncio.gather(one.vigie.drills.run_due(), two.vigie.drills.run_due())
            coming = await one.vigie.drills.contacts.coming()  # next month's, planned once
            assert coming is not None and coming.due_at > planned.due_at
