"""The crisis cell on Slack, device-script style (real slack-bolt and slack-sdk against the local
Web API fake, an injected clock): open from a paged signal, the channel, the calls and joins,
the armed time, and every message of the channel in the main courante."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from bot.clock import ManualClock
from bot.crisis.commands import Speaker
from bot.crisis.export import load_record, to_csv, to_pdf
from bot.crisis.models import EntryRow
from bot.crisis.store import entries, get_crisis
from tests.devices import NIGHT, DutyDesk
from tests.fakes.slack import BOT_USER, FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.phones import SlackDM
from tests.support import AsgiServer, eventually, make_config, running_vigie
from tests.test_escalation import LADDER, ROSTER

SLACK_TOKEN = "xoxb-crisis-token"
SIGNING = "crisis-signing-secret-0123456789"
ALICE, BRUNO, CHLOE, DAVID, STRANGER = "U0ALICE01", "U0BRUNO01", "U0CHLOE01", "U0DAVID01", "U0MALLORY"


def _person(pid: str, name: str, functions: list[str], slack: str) -> dict[str, Any]:
    return {
        "id": pid,
        "name": name,
        "functions": functions,
        "contacts": {"slack_id": slack},
        "notify": ["slack"],
    }


PEOPLE = [
    _person("alice", "Alice Martin", ["referent"], ALICE),
    _person("bruno", "Bruno Petit", ["referent"], BRUNO),
    _person("chloe", "Chloé Bernard", ["cadre", "decision"], CHLOE),
    _person("david", "David Roux", ["responsable"], DAVID),
]
CRISIS = {
    "cells": {
        "restreinte": {
            "roster": "pfr",
            "functions": {"decision": ["chloe"], "pilotage": ["titulaire"], "secretariat": ["david"]},
        }
    }
}


@asynccontextmanager
async def crisis_desk(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[DutyDesk, FakeSlack, str]]:
    slack = FakeSlack(SLACK_TOKEN, SIGNING)
    for user_id, name in (
        (ALICE, "alice"),
        (BRUNO, "bruno"),
        (CHLOE, "chloe"),
        (DAVID, "david"),
        (STRANGER, "mallory"),
    ):
        slack.user(user_id, name)
    monkeypatch.setenv("VIGIE_SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("VIGIE_SLACK_SIGNING_SECRET", SIGNING)
    async with AsgiServer(slack.app) as slack_api:
        slack.url = slack_api.url
        config = make_config(
            people=PEOPLE,
            rosters=[ROSTER],
            ladders=[LADDER],
            duty_officers=["david"],
            channels={
                "console": {"enabled": True},
                "slack": {"enabled": True, "base_url": f"{slack_api.url}/api/"},
            },
            crisis=CRISIS,
        )
        async with running_vigie(db_url, config=config, clock=ManualClock(NIGHT), background=False) as server:
            async with server.client() as client:
                desk = DutyDesk(server, client, server.vigie.clock)  # type: ignore[arg-type]
                desk.slack_fake = slack
                yield desk, slack, f"{server.url}/slack/events"
                desk.devices.assert_all_read()


async def main_courante(desk: DutyDesk, reference: str) -> list[EntryRow]:
    async with desk.vigie.db.read_session() as session:
        crisis = await get_crisis(session, reference)
        assert crisis is not None and crisis.id is not None
        return await entries(session, crisis.id)


async def logged(desk: DutyDesk, reference: str, count: int) -> None:
    """Wait until the main courante holds ``count`` entries (bolt runs listeners in tasks)."""

    async def enough() -> bool:
        return len(await main_courante(desk, reference)) >= count

    await eventually(enough, 10)


async def open_from_a_paged_signal(
    desk: DutyDesk, slack: FakeSlack, url: str, alice: SlackDM, chloe: SlackDM
) -> tuple[str, str, str]:
    ref = await desk.signal("Cas groupés de légionellose à l'EHPAD des Lilas", severity="majeure")
    await alice.expect(ref, "titulaire")
    answer = await slack.slash(url, DAVID, "/crise", f"{ref} REB Légionellose à l'EHPAD des Lilas")
    assert answer.status_code == 200, answer.text
    await desk._settle_chat()
    said = slack.responses[-1]["text"]
    assert said.startswith("Crise CRISE-2026-0001 ouverte : « Légionellose à l'EHPAD des Lilas ».")
    assert "décision : Chloé Bernard ; pilotage : Alice Martin ; secrétariat : David Roux" in said
    # The paged titulaire hears that the cell takes over, then is called with her function.
    await alice.expect("Passé en cellule de crise par David Roux", ref)
    await alice.expect("CELLULE DE CRISE CRISE-2026-0001", "Votre fonction : pilotage")
    await chloe.expect("CELLULE DE CRISE CRISE-2026-0001", "Votre fonction : décision")
    channel = slack.channel_named("crise-2026-11-24-legionellose-a-l-ehpad-des-lilas")
    assert channel is not None, list(slack.channels.values())
    return ref, "CRISE-2026-0001", channel["id"]


async def test_a_crisis_opened_from_slack_gets_its_channel_its_cell_and_its_main_courante(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with crisis_desk(db_url, monkeypatch) as (desk, slack, url):
        alice, bruno, chloe, david = (desk.slack(u) for u in (ALICE, BRUNO, CHLOE, DAVID))
        ref, crisis, channel_id = await open_from_a_paged_signal(desk, slack, url, alice, chloe)
        channel = slack.channels[channel_id]
        assert set(channel["members"]) == {BOT_USER, ALICE, CHLOE, DAVID}
        assert channel["topic"]["value"].startswith("CRISE-2026-0001 · Légionellose à l'EHPAD des Lilas")
        [brief] = slack.in_channel(channel_id)
        assert "Signaux : PFR-2026-000001 « Cas groupés de légionellose" in brief["text"]
        assert "Plan ORSAN : REB." in brief["text"]
        assert (channel_id, brief["ts"]) in slack.pins
        state = await desk.signal_state(ref)
        assert state["status"] == "crise"
        await desk.advance(minutes=30)
        await bruno.expect_nothing()  # the ladder stopped: no suppléant page

        # Joins: pilotage then décision; the cell is armed when both are in.
        await alice.press("Je rejoins")
        await logged(desk, crisis, 5)
        await chloe.press("Je rejoins")
        await logged(desk, crisis, 7)
        await desk._settle_chat()
        assert [m["text"] for m in slack.in_channel(channel_id)][1:] == [
            "Alice Martin rejoint la cellule (slack).",
            "Chloé Bernard rejoint la cellule (slack).",
            "Cellule armée à 03:42 : décision et pilotage ont rejoint.",
        ]

        # Messages of the channel: a retried event is still one entry.
        _, answers = await slack.channel_message(
            url, CHLOE, channel_id, "Trois résidents hospitalisés au CH Sud", retries=2
        )
        assert [a.status_code for a in answers] == [200, 200, 200]
        await logged(desk, crisis, 8)
        typed = await slack.slash(
            url, CHLOE, "/decision", "Fermeture de l'accueil de jour", channel=channel_id
        )
        assert typed.status_code == 200
        await logged(desk, crisis, 9)  # bolt runs the command in a task: wait for it, as a person would
        await slack.slash(
            url, DAVID, "/action", "Prélèvements d'eau chaude @bruno échéance 16h30", channel=channel_id
        )
        await logged(desk, crisis, 10)
        edited_ts, _ = await slack.channel_message(url, DAVID, channel_id, "Réunion à 9h")
        await logged(desk, crisis, 11)  # people edit what they have seen posted
        edit = await slack.channel_edit(url, DAVID, channel_id, edited_ts, "Réunion à 10h")
        assert edit.status_code == 200, edit.text
        await logged(desk, crisis, 12)
        gone_ts, _ = await slack.channel_message(url, ALICE, channel_id, "Message envoyé par erreur")
        await logged(desk, crisis, 13)
        await slack.channel_delete(url, channel_id, gone_ts)
        await logged(desk, crisis, 14)
        await slack.channel_message(
            url,
            STRANGER,
            channel_id,
            "Photo du ballon d'eau chaude",
            files=[{"name": "ballon.jpg", "filetype": "jpg"}],
        )
        await desk._settle_chat()
        answers = [r for r in slack.responses if r.get("response_type") == "in_channel"]
        assert answers[0]["text"] == (
            "Entrée n° 9 (décision) enregistrée. Chloé Bernard : Fermeture de l'accueil de jour"
        )

        log = await main_courante(desk, crisis)
        assert [(e.number, e.kind, e.origin) for e in log][:6] == [
            (1, "systeme", "system"),
            (2, "systeme", "system"),
            (3, "systeme", "system"),
            (4, "systeme", "system"),
            (5, "systeme", "system"),
            (6, "systeme", "system"),
        ]
        texts = [e.text for e in log]
        assert texts[0] == (
            "Crise ouverte par David Roux : « Légionellose à l'EHPAD des Lilas » (plan ORSAN REB) ; "
            "signaux : PFR-2026-000001."
        )
        assert texts[2] == "Membres appelés : Chloé Bernard, Alice Martin."
        assert texts[3].startswith("Salon Slack créé : crise-2026-11-24-legionellose")
        people = [
            (e.number, e.kind, e.author_label, e.text)
            for e in log
            if e.origin == "slack" and e.kind != "systeme"
        ]
        assert people[0] == (8, "information", "Chloé Bernard", "Trois résidents hospitalisés au CH Sud")
        assert people[1] == (9, "decision", "Chloé Bernard", "Fermeture de l'accueil de jour")
        action = log[9]
        assert (action.kind, action.owner, action.text) == (
            "action",
            "Bruno Petit",
            "Prélèvements d'eau chaude @bruno",
        )
        assert action.due_at is not None and desk.vigie.engine.ctx.local(action.due_at) == "16:30"
        assert [(e.kind, e.refers_to, e.text) for e in log[11:14]] == [
            ("correction", 11, "Correction de l'entrée n° 11 : Réunion à 10h"),
            ("information", None, "Message envoyé par erreur"),
            (
                "correction",
                13,
                "Message supprimé dans Slack (entrée n° 13) ; il disait : Message envoyé par erreur",
            ),
        ]
        outsider = log[14]
        assert (outsider.external, outsider.author_label, outsider.attachments) == (
            True,
            "Slack U0MALLORY",
            [{"name": "ballon.jpg", "type": "jpg"}],
        )
        assert len(log) == 15  # nothing twice
        await david.expect_nothing()

        # The chain holds; the PDF carries every message, accents and all.
        _, verdict = await desk.vigie.cell.verify(crisis)
        assert verdict.ok and verdict.count == 15 and verdict.head == log[-1].hash
        async with desk.vigie.db.read_session() as session:
            record = await load_record(
                session, crisis, {p["id"]: p["name"] for p in PEOPLE}, desk.vigie.engine.ctx.zone
            )
        assert record is not None
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(to_pdf(record, NIGHT))).pages)
        for expected in (
            "Main courante CRISE-2026-0001",
            "Légionellose à l'EHPAD des Lilas",
            "Trois résidents hospitalisés au CH Sud",
            "Fermeture de l'accueil de jour",
            "Réunion à 10h",
            "(hors annuaire)",
            f"{verdict.head}",
        ):
            assert expected in text.replace("\n", " ") or expected in text, expected
        csv_text = to_csv(record).decode("utf-8-sig")
        assert csv_text.splitlines()[0].startswith("numero;heure;auteur")
        assert "Fermeture de l'accueil de jour" in csv_text


async def test_rewriting_an_entry_in_the_database_is_named_by_verify(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with crisis_desk(db_url, monkeypatch) as (desk, slack, url):
        alice = desk.slack(ALICE)
        # The same command as in chat, from the CLI's way in.
        reply = await desk.vigie.inbound.crisis_command(
            "crisis", "Panne du réseau d'eau", Speaker("david", "cli")
        )
        assert reply.ok, reply.text
        crisis = str(reply.reference)
        await alice.expect("CELLULE DE CRISE", "Votre fonction : pilotage")
        channel = slack.channel_named("crise-2026-11-24-panne-du-reseau-d-eau")
        assert channel is not None
        for text in ("Coupure rue des Lilas", "Citerne demandée", "Citerne livrée"):
            await slack.channel_message(url, CHLOE, channel["id"], text)
        await desk._settle_chat()
        _, verdict = await desk.vigie.cell.verify(crisis)
        assert verdict.ok
        number = next(e.number for e in await main_courante(desk, crisis) if e.text == "Citerne demandée")
        # The store refuses the rewrite...
        with pytest.raises(sa.exc.DBAPIError):
            async with desk.vigie.db.transaction() as session:
                await session.exec(
                    sa.text("UPDATE main_courante SET text = 'x' WHERE number = :n").bindparams(n=number)
                )
        # ...so an administrator removes the guard first: the chain still tells.
        async with desk.vigie.db.transaction() as session:
            if desk.vigie.db.is_postgres:
                await session.exec(
                    sa.text("ALTER TABLE main_courante DISABLE TRIGGER main_courante_append_only")
                )
            else:
                await session.exec(sa.text("DROP TRIGGER main_courante_no_update"))
            await session.exec(
                sa.text(
                    "UPDATE main_courante SET text = 'Aucune citerne demandée' WHERE number = :n"
                ).bindparams(n=number)
            )
        _, verdict = await desk.vigie.cell.verify(crisis)
        assert not verdict.ok
        assert verdict.bad_number == number
        assert verdict.problem == f"entrée n° {number} modifiée après son enregistrement"


async def test_only_the_allowed_functions_open_a_crisis(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with crisis_desk(db_url, monkeypatch) as (desk, slack, url):
        answer = await slack.slash(url, ALICE, "/crise", "Exercice de test")
        assert answer.status_code == 200
        await desk._settle_chat()
        assert slack.responses[-1]["text"] == (
            "Refusé : ouvrir une cellule de crise est réservé aux fonctions cadre d'astreinte, "
            "responsable PFR, décision, pilotage (Alice Martin : référent d'astreinte)."
        )
        assert slack.channels == {}


TG_TOKEN = "7000000002:AAcrisis-token"
FORUM = -1001234567890
ALICE_TG = 1001


@asynccontextmanager
async def two_platform_desk(
    db_url: str, monkeypatch: pytest.MonkeyPatch, crisis: dict[str, Any] | None = None
) -> AsyncIterator[tuple[DutyDesk, FakeSlack, FakeTelegram, str]]:
    """Alice on Telegram (the crisis supergroup's topics), the others on Slack."""
    tg = FakeTelegram(TG_TOKEN)
    tg.user(ALICE_TG, "Alice")
    tg.forum(FORUM, "Cellules de crise ARS")
    slack = FakeSlack(SLACK_TOKEN, SIGNING)
    for user_id, name in ((CHLOE, "chloe"), (DAVID, "david")):
        slack.user(user_id, name)
    monkeypatch.setenv("VIGIE_TELEGRAM_TOKEN", TG_TOKEN)
    monkeypatch.setenv("VIGIE_SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("VIGIE_SLACK_SIGNING_SECRET", SIGNING)
    people = [
        {
            "id": "alice",
            "name": "Alice Martin",
            "functions": ["referent"],
            "contacts": {"telegram_id": ALICE_TG},
            "notify": ["telegram"],
        },
        _person("bruno", "Bruno Petit", ["referent"], BRUNO),
        _person("chloe", "Chloé Bernard", ["cadre", "decision"], CHLOE),
        _person("david", "David Roux", ["responsable"], DAVID),
    ]
    async with AsgiServer(tg.app) as tg_api, AsgiServer(slack.app) as slack_api:
        slack.url = slack_api.url
        channels: dict[str, Any] = {
            "console": {"enabled": True},
            "telegram": {
                "enabled": True,
                "base_url": f"{tg_api.url}/bot",
                "poll_timeout": "1s",
                "crisis_chat_id": FORUM,
            },
            "slack": {"enabled": True, "base_url": f"{slack_api.url}/api/"},
        }
        config = make_config(
            people=people,
            rosters=[ROSTER],
            ladders=[LADDER],
            duty_officers=["david"],
            channels=channels,
            crisis=crisis or CRISIS,
        )
        async with running_vigie(db_url, config=config, clock=ManualClock(NIGHT), background=False) as server:
            async with server.client() as client:
                desk = DutyDesk(server, client, server.vigie.clock)  # type: ignore[arg-type]
                desk.tg, desk.slack_fake = tg, slack
                yield desk, slack, tg, f"{server.url}/slack/events"
                desk.devices.assert_all_read()


async def test_with_slack_and_telegram_the_crisis_has_both_rooms_and_logs_each_message_once(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_platform_desk(db_url, monkeypatch) as (desk, slack, tg, url):
        alice, chloe = desk.telegram(ALICE_TG), desk.slack(CHLOE)
        reply = await desk.vigie.inbound.crisis_command(
            "crisis", "Cyberattaque du CH Nord", Speaker("david", "cli")
        )
        crisis = str(reply.reference)
        await alice.expect("CELLULE DE CRISE", "Votre fonction : pilotage")
        await chloe.expect("CELLULE DE CRISE", "Votre fonction : décision")
        thread = tg.topic_named(FORUM, "crise-2026-11-24-cyberattaque-du-ch-nord")
        channel = slack.channel_named("crise-2026-11-24-cyberattaque-du-ch-nord")
        assert thread is not None and channel is not None
        topic = tg.in_topic(FORUM, thread)
        assert topic[0]["text"].startswith("Cellule de crise : ")  # Alice mentioned, so notified
        mention = next(c.params for c in tg.calls if c.method == "sendMessage" and c.params.get("parse_mode"))
        assert mention["parse_mode"] == "HTML" and f"tg://user?id={ALICE_TG}" in mention["text"]
        assert "CELLULE DE CRISE CRISE-2026-0001 — « Cyberattaque du CH Nord »" in topic[1]["text"]
        assert (FORUM, topic[1]["message_id"]) in tg.pinned

        await alice.reply("je rejoins")  # answering the call in words joins too
        await desk._settle_chat()
        await alice.expect(f"Vous avez rejoint la cellule {crisis}")
        # Vigie's notice reaches both rooms.
        assert tg.in_topic(FORUM, thread)[-1]["text"] == "Alice Martin rejoint la cellule (telegram)."
        assert slack.in_channel(channel["id"])[-1]["text"] == "Alice Martin rejoint la cellule (telegram)."

        said = await tg.post_in_topic(
            ALICE_TG, FORUM, thread, "Messagerie du CH coupée, on passe au téléphone"
        )
        await tg.deliver_again(said)  # Telegram redelivers: still one entry
        await logged(desk, crisis, 7)
        await tg.edit_in_topic(said, "Messagerie du CH coupée, on passe au téléphone et aux SMS")
        await logged(desk, crisis, 8)
        await tg.post_in_topic(ALICE_TG, FORUM, thread, "/decision Bascule en mode dégradé papier")
        await logged(desk, crisis, 9)
        await slack.channel_message(url, CHLOE, channel["id"], "L'ANSSI est prévenue")
        await logged(desk, crisis, 10)
        log = await main_courante(desk, crisis)
        mine = [(e.origin, e.kind, e.author_label, e.refers_to, e.text) for e in log if e.origin != "system"]
        assert mine == [
            (
                "telegram",
                "information",
                "Alice Martin",
                None,
                "Messagerie du CH coupée, on passe au téléphone",
            ),
            (
                "telegram",
                "correction",
                "Alice Martin",
                7,
                "Correction de l'entrée n° 7 : Messagerie du CH coupée, on passe au téléphone et aux SMS",
            ),
            ("telegram", "decision", "Alice Martin", None, "Bascule en mode dégradé papier"),
            ("slack", "information", "Chloé Bernard", None, "L'ANSSI est prévenue"),
        ]
        await desk._settle_chat()
        assert tg.in_topic(FORUM, thread)[-1]["text"].startswith("Entrée n° 9 (décision) enregistrée.")
        _, verdict = await desk.vigie.cell.verify(crisis)
        assert verdict.ok and verdict.count == 10


async def test_a_vacant_decision_or_pilotage_is_recalled_until_assigned(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tests.test_crisis.CRISIS", {"vacant_reminder": "10m"})
    async with crisis_desk(db_url, monkeypatch) as (desk, slack, url):
        david, chloe, alice = desk.slack(DAVID), desk.slack(CHLOE), desk.slack(ALICE)
        answer = await slack.slash(url, DAVID, "/crise", "Canicule, EHPAD sans climatisation")
        assert answer.status_code == 200
        await desk._settle_chat()
        assert "Fonctions : aucune attribuée (/role)" in slack.responses[-1]["text"]
        channel = slack.channel_named("crise-2026-11-24-canicule")
        assert channel is not None
        await desk.advance(minutes=9)
        await david.expect_nothing()
        await desk.advance(minutes=1)
        await david.expect(
            "CRISE-2026-0001 « Canicule, EHPAD sans climatisation » : fonction(s) décision et pilotage "
            "toujours vacante(s) (crise ouverte à 03:12). Attribuez-la : /role décision <personne>."
        )
        await desk.advance(minutes=10)
        await david.expect("fonction(s) décision et pilotage toujours vacante(s)")
        await slack.slash(url, DAVID, "/role", "décision chloe", channel=channel["id"])
        await desk._settle_chat()
        await chloe.expect("CELLULE DE CRISE CRISE-2026-0001", "Votre fonction : décision")
        # The channel's topic shows who holds what.
        topic = slack.channels[channel["id"]]["topic"]["value"]
        assert topic == "CRISE-2026-0001 · Canicule, EHPAD sans climatisation · décision : Chloé Bernard"
        await desk.advance(minutes=10)
        await david.expect("fonction(s) pilotage toujours vacante(s)")
        await slack.slash(url, DAVID, "/role", "pilotage Alice Martin", channel=channel["id"])
        await desk._settle_chat()
        await alice.expect("Votre fonction : pilotage")
        await desk.advance(minutes=30)
        await david.expect_nothing()
        roles = await desk.vigie.cell.roles_text("CRISE-2026-0001")
        assert "décision                   Chloé Bernard (pas encore rejoint)" in roles
        log = [e.text for e in await main_courante(desk, "CRISE-2026-0001")]
        assert "Fonction décision : Chloé Bernard (par David Roux)." in log
        assert log.count("Rappel envoyé : fonction(s) décision et pilotage vacante(s).") == 2


async def test_rooms_can_relay_each_other_with_the_authors_name(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_platform_desk(db_url, monkeypatch, {**CRISIS, "relay_rooms": True}) as (
        desk,
        slack,
        tg,
        url,
    ):
        alice, chloe = desk.telegram(ALICE_TG), desk.slack(CHLOE)
        reply = await desk.vigie.inbound.crisis_command(
            "crisis", "Rupture de vaccins", Speaker("david", "cli")
        )
        crisis = str(reply.reference)
        await alice.expect("CELLULE DE CRISE")
        await chloe.expect("CELLULE DE CRISE")
        thread = tg.topic_named(FORUM, "crise-")
        channel = slack.channel_named("crise-")
        assert thread is not None and channel is not None
        before = len(await main_courante(desk, crisis))  # opening, functions, calls, the two rooms
        await slack.channel_message(url, CHLOE, channel["id"], "Stock restant : 40 doses")
        await logged(desk, crisis, before + 1)
        await tg.post_in_topic(ALICE_TG, FORUM, thread, "Commande passée au grossiste")
        await logged(desk, crisis, before + 2)

        async def relayed() -> bool:
            await desk.vigie.settle()
            in_telegram = tg.in_topic(FORUM, thread)[-1]["text"]
            in_slack = slack.in_channel(channel["id"])[-1]["text"]
            return in_telegram == "Chloé Bernard (Slack) : Stock restant : 40 doses" and (
                in_slack == "Alice Martin (Telegram) : Commande passée au grossiste"
            )

        try:
            await eventually(relayed, 3)
        finally:
            print(
                "OUTBOX",
                [
                    (m["channel"], m["kind"], m["state"], m["text"][:30], m.get("error"))
                    for m in await desk.messages()
                ],
            )
        log = [e.text for e in await main_courante(desk, crisis)]
        assert log.count("Stock restant : 40 doses") == 1  # relayed, not logged twice
        assert not any("(Slack) :" in text or "(Telegram) :" in text for text in log)


async def test_a_room_that_cannot_be_made_is_retried_and_the_officers_told(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with crisis_desk(db_url, monkeypatch) as (desk, slack, _):
        david, alice, chloe = desk.slack(DAVID), desk.slack(ALICE), desk.slack(CHLOE)
        slack.server_errors["conversations.create"] = 2  # Slack answers 500 twice
        reply = await desk.vigie.inbound.crisis_command(
            "crisis", "Tempête, coupures de courant", Speaker("david", "cli")
        )
        crisis = str(reply.reference)
        await alice.expect("CELLULE DE CRISE")
        await chloe.expect("CELLULE DE CRISE")
        await david.expect(
            "Le salon Slack de la crise CRISE-2026-0001 n'a pas pu être créé", "Vigie réessaie"
        )
        assert slack.channels == {}
        # The main courante goes on by the other ways meanwhile (here the API, origin web).
        added = await desk.client.post(
            f"/api/v1/crises/{crisis}/entries",
            headers={"Authorization": "Bearer test-token-secret"},
            json={
                "person": "chloe",
                "text": "Groupes électrogènes demandés",
                "kind": "demande",
                "recipient": "ENEDIS",
            },
        )
        assert added.status_code == 201, added.text
        await desk.advance(seconds=16)  # second attempt: 500 again; the officers are not told twice
        await david.expect_nothing()
        assert slack.channels == {}
        await desk.advance(seconds=31)
        channel = slack.channel_named("crise-2026-11-24-tempete")
        assert channel is not None
        log = await main_courante(desk, crisis)
        assert [(e.kind, e.origin, e.recipient) for e in log if e.origin == "web"] == [
            ("demande", "web", "ENEDIS")
        ]
        assert log[-1].text.startswith("Salon Slack créé : crise-2026-11-24-tempete")


async def test_two_instances_receiving_the_same_events_log_each_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack = FakeSlack(SLACK_TOKEN, SIGNING)
    for user_id, name in ((ALICE, "alice"), (CHLOE, "chloe"), (DAVID, "david")):
        slack.user(user_id, name)
    monkeypatch.setenv("VIGIE_SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("VIGIE_SLACK_SIGNING_SECRET", SIGNING)
    async with AsgiServer(slack.app) as slack_api:
        slack.url = slack_api.url
        config = make_config(
            people=PEOPLE,
            rosters=[ROSTER],
            ladders=[LADDER],
            duty_officers=["david"],
            channels={"slack": {"enabled": True, "base_url": f"{slack_api.url}/api/"}},
            crisis=CRISIS,
        )
        async with running_vigie(pg_url, config=config) as one, running_vigie(pg_url, config=config) as two:
            reply = await one.vigie.inbound.crisis_command(
                "crisis", "Épidémie de rougeole", Speaker("david", "cli")
            )
            crisis = str(reply.reference)
            channel = await eventually(lambda: slack.channel_named("crise-"), 10)
            await eventually(lambda: CHLOE in channel["members"], 10)  # she posts once invited
            assert len(slack.channels) == 1  # one room, whichever instance made it
            events = [f"{one.url}/slack/events", f"{two.url}/slack/events"]
            for n in range(10):
                # Each message reaches both instances, at once (a retry racing the first delivery).
                ts = f"1800000000.{n:06d}"
                envelope = slack._channel_envelope(
                    {
                        "type": "message",
                        "channel_type": "channel",
                        "channel": channel["id"],
                        "user": CHLOE,
                        "text": f"Cas n° {n}",
                        "ts": ts,
                    }
                )
                body = json.dumps(envelope)
                answers = await asyncio.gather(
                    *(slack._post(u, body, "application/json", None) for u in events)
                )
                assert [a.status_code for a in answers] == [200, 200]

            async def all_logged() -> list[str] | None:
                async with one.vigie.db.read_session() as session:
                    found = await get_crisis(session, crisis)
                    assert found is not None and found.id is not None
                    texts = [e.text for e in await entries(session, found.id) if e.text.startswith("Cas n°")]
                return texts if len(texts) >= 10 else None

            texts = await eventually(all_logged, 15)
            await asyncio.sleep(0.5)  # any late double would land now
            assert sorted(texts) == sorted(f"Cas n° {n}" for n in range(10))
            assert len(await all_logged() or []) == 10
            _, verdict = await two.vigie.cell.verify(crisis)
            assert verdict.ok


async def test_posts_into_a_busy_telegram_group_are_paced_and_merged_never_dropped(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_platform_desk(db_url, monkeypatch, {**CRISIS, "relay_rooms": True}) as (
        desk,
        slack,
        tg,
        url,
    ):
        alice, chloe = desk.telegram(ALICE_TG), desk.slack(CHLOE)
        reply = await desk.vigie.inbound.crisis_command(
            "crisis", "Afflux de victimes", Speaker("david", "cli")
        )
        crisis = str(reply.reference)
        await alice.expect("CELLULE DE CRISE")
        await chloe.expect("CELLULE DE CRISE")
        thread = tg.topic_named(FORUM, "crise-")
        channel = slack.channel_named("crise-")
        assert thread is not None and channel is not None
        before = len(await main_courante(desk, crisis))
        shown_before = len(tg.in_topic(FORUM, thread))
        for n in range(30):  # a burst in Slack, relayed to the Telegram group (20 a minute)
            await slack.channel_message(url, CHLOE, channel["id"], f"Victime n° {n} orientée")
        await logged(desk, crisis, before + 30)
        await desk._settle_chat()
        relayed = tg.in_topic(FORUM, thread)[shown_before:]
        assert len(relayed) <= 20
        text = "\n".join(m["text"] for m in relayed)
        assert all(f"Victime n° {n} orientée" in text for n in range(30))  # merged, none dropped
