"""Points de situation, action follow-up, closure and RETEX, device-script style: the real
slack-bolt and slack-sdk against the Slack Web API fake, the real aiosmtplib against the SMTP
fake, an injected clock. A crisis armed at 10:00 in phase aiguë gets its draft at 11:45, is
validated at 11:58 and mailed to the CRAPS with the chain's head hash; the next point is late;
``/phase suivi`` stretches the cadence; closure seals the main courante and runs the RETEX."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from bot.clock import ManualClock
from bot.crisis.commands import Speaker
from bot.crisis.models import EntryRow
from bot.crisis.store import entries, get_crisis
from tests.devices import DutyDesk
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSmtp
from tests.support import AUTH, AsgiServer, eventually, free_port, make_config, running_vigie
from tests.test_escalation import LADDER, ROSTER

SLACK_TOKEN = "xoxb-points-token"
SIGNING = "points-signing-secret-0123456789"
ALICE, BRUNO, CHLOE, DAVID = "U0ALICE01", "U0BRUNO01", "U0CHLOE01", "U0DAVID01"
CRAPS = "craps@ars-exemple.fr"
TEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 10:00 in Paris


def _person(pid: str, name: str, functions: list[str], slack: str, email: bool = False) -> dict[str, Any]:
    contacts: dict[str, Any] = {"slack_id": slack}
    if email:
        contacts["email"] = f"{pid}@ars-exemple.fr"
    return {
        "id": pid,
        "name": name,
        "functions": functions,
        "contacts": contacts,
        "notify": ["email"] if email else ["slack"],
    }


PEOPLE = [
    _person("alice", "Alice Martin", ["referent"], ALICE),
    _person("bruno", "Bruno Petit", ["referent"], BRUNO),
    _person("chloe", "Chloé Bernard", ["cadre", "decision"], CHLOE),
    _person("david", "David Roux", ["responsable"], DAVID, email=True),
]
CRISIS: dict[str, Any] = {
    "phases": {"alerte": "4h", "aigue": "2h", "suivi": "6h"},
    "upward": [CRAPS],
    "cells": {
        "restreinte": {
            "roster": "pfr",
            "functions": {"decision": ["chloe"], "pilotage": ["titulaire"], "secretariat": ["david"]},
        }
    },
}


@asynccontextmanager
async def points_desk(
    db_url: str, monkeypatch: pytest.MonkeyPatch, start: datetime = TEN
) -> AsyncIterator[tuple[DutyDesk, FakeSlack, FakeSmtp, str]]:
    slack = FakeSlack(SLACK_TOKEN, SIGNING)
    for user_id, name in ((ALICE, "alice"), (BRUNO, "bruno"), (CHLOE, "chloe"), (DAVID, "david")):
        slack.user(user_id, name)
    monkeypatch.setenv("VIGIE_SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("VIGIE_SLACK_SIGNING_SECRET", SIGNING)
    monkeypatch.setenv("VIGIE_LINK_SECRET", "link-secret-for-tests")
    monkeypatch.delenv("VIGIE_SMTP_USERNAME", raising=False)
    monkeypatch.delenv("VIGIE_SMTP_PASSWORD", raising=False)
    port = free_port()
    with FakeSmtp() as smtp:
        async with AsgiServer(slack.app) as slack_api:
            slack.url = slack_api.url
            config = make_config(
                desk={"name": "PFR test", "public_url": f"http://127.0.0.1:{port}"},
                people=PEOPLE,
                rosters=[ROSTER],
                ladders=[LADDER],
                duty_officers=["david"],
                channels={
                    "console": {"enabled": True},
                    "slack": {"enabled": True, "base_url": f"{slack_api.url}/api/"},
                    "email": {
                        "enabled": True,
                        "smtp_host": "127.0.0.1",
                        "smtp_port": smtp.port,
                        "security": "none",
                        "from_address": "vigie@ars-exemple.fr",
                    },
                },
                crisis=CRISIS,
            )
            async with running_vigie(
                db_url, config=config, clock=ManualClock(start), background=False, port=port
            ) as server:
                async with server.client() as client:
                    desk = DutyDesk(server, client, server.vigie.clock)  # type: ignore[arg-type]
                    desk.slack_fake = slack
                    yield desk, slack, smtp, f"{server.url}/slack/events"


async def main_courante(desk: DutyDesk, reference: str) -> list[EntryRow]:
    async with desk.vigie.db.read_session() as session:
        crisis = await get_crisis(session, reference)
        assert crisis is not None and crisis.id is not None
        return await entries(session, crisis.id)


async def slash(
    desk: DutyDesk, slack: FakeSlack, url: str, user: str, command: str, text: str, channel: str
) -> str:
    """A slash command typed in the crisis channel; the answer Vigie posts back."""
    before = len(slack.responses)
    answer = await slack.slash(url, user, command, text, channel=channel)
    assert answer.status_code == 200, answer.text

    async def answered() -> bool:
        return len(slack.responses) > before

    await eventually(answered, 10)
    await desk.vigie.settle()
    return str(slack.responses[before]["text"])


def dms(slack: FakeSlack, user: str) -> list[str]:
    return [str(m["text"]) for m in slack.dm(user)]


def room(slack: FakeSlack, channel: str) -> list[str]:
    return [str(m["text"]) for m in slack.in_channel(channel)]


async def until(desk: DutyDesk, local: str) -> None:
    """Move the clock to that time of the day (Paris) and run what is due."""
    hour, minute = (int(x) for x in local.split(":"))
    target = (
        desk.clock.now().astimezone(desk.vigie.engine.ctx.zone).replace(hour=hour, minute=minute, second=0)
    )
    desk.clock.set(target)
    await desk.vigie.settle()


async def armed_crisis(
    desk: DutyDesk, slack: FakeSlack, url: str, title: str, *signals: str
) -> tuple[str, str]:
    reply = await desk.vigie.inbound.crisis_command(
        "crisis", " ".join([*signals, title]), Speaker("david", "cli")
    )
    assert reply.ok, reply.text
    crisis = str(reply.reference)
    await desk.vigie.settle()
    channel = slack.channel_named("crise-2026-11-24")
    assert channel is not None
    for user in (ALICE, CHLOE):
        answer = await slack.slash(url, user, "/rejoindre", crisis)
        assert answer.status_code == 200

    async def armed() -> bool:
        return any("Cellule armée" in e.text for e in await main_courante(desk, crisis))

    await eventually(armed, 10)
    await desk.vigie.settle()
    return crisis, str(channel["id"])


def mail_text(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def pdf_text(mail: EmailMessage) -> str:
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    reader = PdfReader(io.BytesIO(attachment.get_content()))
    return "\n".join(page.extract_text() for page in reader.pages)


async def test_a_point_de_situation_is_drafted_validated_mailed_upward_and_the_next_one_chased(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with points_desk(db_url, monkeypatch) as (desk, slack, smtp, url):
        crisis, channel = await armed_crisis(desk, slack, url, "Légionellose à l'EHPAD des Lilas")
        said = await slash(desk, slack, url, CHLOE, "/phase", "aigue", channel)
        assert said == (
            "Phase aiguë (un point toutes les 2 h), décidée par Chloé Bernard. Prochain point à 12:00."
        )
        refused = await slash(desk, slack, url, DAVID, "/phase", "suivi", channel)
        assert refused == (
            "Refusé : changer de phase est réservé à la décision ou au pilotage de la cellule "
            "(décision : Chloé Bernard ; pilotage : Alice Martin)."
        )

        await until(desk, "10:20")
        await slash(desk, slack, url, CHLOE, "/decision", "Fermeture de l'accueil de jour", channel)
        await slash(
            desk, slack, url, DAVID, "/action", "Prélèvements d'eau chaude @bruno échéance 11h30", channel
        )
        await slash(desk, slack, url, DAVID, "/demande", "@ARS Renfort de deux IDE de nuit", channel)
        await slack.channel_message(url, ALICE, channel, "Trois résidents hospitalisés au CH Sud")
        await desk.vigie.settle()
        listed = await slash(desk, slack, url, ALICE, "/actions", "", channel)
        assert "Prélèvements d'eau chaude" in listed and "Bruno Petit — échéance 11:30" in listed

        # The action's owner is reminded on his own channel when it is due.
        await until(desk, "11:30")
        assert any("arrive à échéance (11:30) : Prélèvements d'eau chaude" in m for m in dms(slack, BRUNO))

        # Nothing before 11:45; at 11:45 the draft, for pilotage and secrétariat.
        await until(desk, "11:44")
        assert not any("POINT DE SITUATION" in m for m in room(slack, channel))
        await until(desk, "11:45")
        [prompt] = [m for m in room(slack, channel) if "POINT DE SITUATION n° 1" in m]
        assert prompt.startswith(
            f"<@{ALICE}>, <@{DAVID}> : projet du point de situation n° 1 à valider avant 12:00."
        )
        for expected in (
            "Fermeture de l'accueil de jour (Chloé Bernard)",
            "Prélèvements d'eau chaude @bruno — Bruno Petit — échéance 11:30 — EN RETARD",
            "Renfort de deux IDE de nuit → ARS — sans réponse",
            "Alice Martin : Trois résidents hospitalisés au CH Sud",
            "BILAN\nÀ compléter (/point bilan <texte>).",
        ):
            assert expected in prompt, expected

        # Amended in the room; only décision or pilotage validate.
        amended = await slash(desk, slack, url, DAVID, "/point", "bilan 3 hospitalisés, aucun décès", channel)
        assert amended.startswith("Point n° 1 : section Bilan modifiée")
        await slash(
            desk, slack, url, DAVID, "/point", "prévisions Résultats des prélèvements vers 16h", channel
        )
        refused = await slash(desk, slack, url, DAVID, "/point", "valider", channel)
        assert refused.startswith(
            "Refusé : valider le point de situation est réservé à la décision ou au pilotage"
        )
        shown = await slash(desk, slack, url, ALICE, "/point", "", channel)
        assert "BILAN\n3 hospitalisés, aucun décès" in shown and "projet, non validé" in shown

        await until(desk, "11:58")
        validated = await slash(desk, slack, url, CHLOE, "/point", "valider", channel)
        assert validated == (
            "Point de situation n° 1 validé par Chloé Bernard à 11:58. Envoyé à : craps@ars-exemple.fr. "
            "Prochain point à 13:58."
        )
        log = await main_courante(desk, crisis)
        point = log[-1]
        assert point.kind == "point" and point.author_label == "Chloé Bernard"
        assert "BILAN\n3 hospitalisés, aucun décès" in point.text
        assert "PRÉVISIONS\nRésultats des prélèvements vers 16h" in point.text
        assert "PROCHAIN POINT\n13:58" in point.text
        assert [e.kind for e in log].count("projet") == 2  # each amendment is an entry
        _, verdict = await desk.vigie.cell.verify(crisis)
        assert verdict.ok and verdict.head == point.hash
        assert any(
            m.startswith("POINT DE SITUATION n° 1") and "validé par Chloé Bernard" in m
            for m in room(slack, channel)
        )

        # The CRAPS gets it as text and PDF, with the chain's head hash.
        await desk.vigie.settle()
        [mail] = smtp.to(CRAPS)
        assert mail["Subject"] == (
            "[Vigie] CRISE-2026-0001 — Point de situation n° 1 — Légionellose à l'EHPAD des Lilas"
        )
        text = mail_text(mail)
        assert "BILAN\n3 hospitalisés, aucun décès" in text
        assert f"entrée n° {point.number} (ce point) : {verdict.head}" in text
        assert "Validé par Chloé Bernard le 24/11/2026 11:58." in text
        in_pdf = pdf_text(mail).replace("\n", " ")
        assert verdict.head in in_pdf and "3 hospitalisés, aucun décès" in in_pdf

        # No reminder for a point on time; the next one is chased when late.
        await until(desk, "13:42")
        assert not any("n° 2" in m for m in room(slack, channel))
        await until(desk, "13:43")
        [second] = [m for m in room(slack, channel) if "projet du point de situation n° 2" in m]
        assert second.startswith(f"<@{ALICE}>, <@{DAVID}> :")
        assert "Trois résidents" not in second  # the last point's news are not news any more
        assert "BILAN\n3 hospitalisés, aucun décès" in second  # what the cell wrote carries on
        await until(desk, "13:58")
        assert any(
            "le point de situation n° 2 était attendu à 13:58 et n'est pas validé" in m
            for m in dms(slack, ALICE)
        )
        assert not any("n° 2" in m for m in dms(slack, CHLOE))
        await until(desk, "14:13")
        [late] = [m for m in dms(slack, CHLOE) if "n° 2" in m]
        assert "toujours pas validé (15 min de retard ; pilotage : Alice Martin)" in late
        reminders = [m for m in dms(slack, ALICE) if "n° 2 était attendu" in m]
        assert len(reminders) == 1

        # A slower cadence: the next point is six hours after this one.
        await until(desk, "14:18")
        said = await slash(desk, slack, url, ALICE, "/phase", "suivi", channel)
        assert said.startswith("Phase suivi (un point toutes les 6 h), décidée par Alice Martin.")
        await until(desk, "14:20")
        validated = await slash(desk, slack, url, CHLOE, "/point", "valider", channel)
        assert validated == (
            "Point de situation n° 2 validé par Chloé Bernard à 14:20, avec 22 min de retard. "
            "Envoyé à : craps@ars-exemple.fr. Prochain point à 20:20."
        )
        await until(desk, "20:04")
        assert not any("n° 3" in m for m in room(slack, channel))
        await until(desk, "20:05")
        assert any(
            "projet du point de situation n° 3 à valider avant 20:20" in m for m in room(slack, channel)
        )

        # The lateness is in the main courante, so in the export.
        texts = [e.text for e in await main_courante(desk, crisis)]
        assert "Point n° 2 attendu à 13:58 : non validé à l'heure ; rappel à Alice Martin." in texts
        assert "Point n° 2 attendu à 13:58 : non validé, 15 min de retard ; rappel à Chloé Bernard." in texts
        export = await desk.client.get(f"/api/v1/crises/{crisis}/export.csv", headers=AUTH)
        assert export.status_code == 200 and "non validé, 15 min de retard" in export.text
        assert len(smtp.to(CRAPS)) == 2


async def test_closure_asks_the_final_point_then_closes_seals_and_runs_the_retex(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with points_desk(db_url, monkeypatch) as (desk, slack, smtp, url):
        signal = await desk.signal("Cas groupés de légionellose", severity="majeure")
        crisis, channel = await armed_crisis(desk, slack, url, "Légionellose", signal)
        refused = await slash(desk, slack, url, DAVID, "/crise", "clore Fin de l'épisode", channel)
        assert refused.startswith("Refusé : clore la crise est réservé à la décision ou au pilotage")
        asked = await slash(desk, slack, url, ALICE, "/crise", "clore Fin de l'épisode", channel)
        assert asked.startswith(f"Clôture de {crisis} demandée. Le projet du point de sortie de crise (n° 1)")
        [draft] = [m for m in room(slack, channel) if "POINT DE SORTIE DE CRISE n° 1" in m]
        assert "Sortie de crise : pas de point suivant." in draft
        await slash(desk, slack, url, DAVID, "/point", "situation Plus de nouveau cas depuis 72 h", channel)
        validated = await slash(desk, slack, url, CHLOE, "/point", "valider", channel)
        assert validated.startswith("Point de sortie de crise (n° 1) validé par Chloé Bernard à 10:00")

        # Closed: told in the room, the channel archived, the signal closed, the log sealed.
        await desk.vigie.settle()
        assert any(
            m.startswith(f"Crise {crisis} close à 10:00 par Chloé Bernard (Fin de l'épisode)")
            for m in room(slack, channel)
        )
        assert slack.channels[channel].get("is_archived") is True
        assert (await desk.signal_state(signal))["status"] == "clos"
        log = await main_courante(desk, crisis)
        _, verdict = await desk.vigie.cell.verify(crisis)
        assert verdict.ok and verdict.count == len(log)
        assert log[-1].text == (
            f"Main courante close par Chloé Bernard à 10:00 après l'entrée n° {log[-2].number} "
            f"(empreinte : {log[-2].hash})."
        )
        after = await slack.channel_message(url, ALICE, channel, "Un dernier mot")
        assert after[1][0].status_code == 200
        await desk.vigie.settle()
        assert len(await main_courante(desk, crisis)) == len(log)  # sealed: nothing more
        [final] = smtp.to(CRAPS)
        assert "(sortie de crise)" in final["Subject"]

        # RETEX à chaud: on chat one question at a time, by reply or /retex; by mail a form.
        [q1] = [m for m in dms(slack, ALICE) if "RETEX à chaud" in m]
        assert "question 1/4 :\nQu'est-ce qui a bien fonctionné ?" in q1
        await slack.dm_event(url, ALICE, "La montée en charge", thread_ts=slack.dm(ALICE)[-1]["ts"])
        await desk.vigie.settle()
        assert "question 2/4" in dms(slack, ALICE)[-1]
        await slack.slash(url, ALICE, "/retex", "Les astreintes du week-end")
        await slack.slash(url, ALICE, "/retex", "passer")
        await slack.slash(url, ALICE, "/retex", "Rien")

        async def alice_done() -> bool:
            return any("réponses au RETEX" in str(r.get("text")) for r in slack.responses)

        await eventually(alice_done, 10)
        await desk.vigie.settle()
        [chloe_q1] = [m for m in dms(slack, CHLOE) if "RETEX à chaud" in m]
        assert "question 1/4" in chloe_q1
        [retex_mail] = [m for m in smtp.to("david@ars-exemple.fr") if "RETEX à chaud" in str(m["Subject"])]
        link = next(w for w in mail_text(retex_mail).split() if "/retex/" in w)
        async with httpx.AsyncClient() as browser:
            form = await browser.get(link)
            assert form.status_code == 200 and "Que faudrait-il changer en premier ?" in form.text
            sent = await browser.post(link, data={"q1": "Le salon Slack", "q3": "Un annuaire à jour"})
            assert sent.status_code == 200 and "réponses au RETEX" in sent.text
            forged = await browser.get(link[:-3] + "xyz")
            assert forged.status_code == 403

        document = await desk.client.get(
            f"/api/v1/crises/{crisis}/retex", params={"format": "md"}, headers=AUTH
        )
        assert document.status_code == 200
        md = document.text
        for expected in (
            f"# RETEX — {crisis} « Légionellose »",
            "Crise ouverte par David Roux",
            "Cellule armée",
            "Point de sortie de crise n° 1 validé par Chloé Bernard",
            "Crise close par Chloé Bernard : Fin de l'épisode",
            "### 1. Qu'est-ce qui a bien fonctionné ?\n- Alice Martin : La montée en charge\n"
            "- David Roux : Le salon Slack",
            "- Alice Martin : Les astreintes du week-end",
            "## Points forts",
        ):
            assert expected in md, expected

        # After the deadline, an answer is refused; three weeks on, the desk manager is reminded.
        desk.clock.set(desk.clock.now() + timedelta(hours=73))
        late = await slack.slash(url, CHLOE, "/retex", "Trop tard ?")
        assert late.status_code == 200

        async def refused_late() -> bool:
            return any("est clos depuis le" in str(r.get("text")) for r in slack.responses)

        await eventually(refused_late, 10)
        desk.clock.set(desk.clock.now() + timedelta(days=21))
        await desk.vigie.settle()
        [cold] = [m for m in smtp.to("david@ars-exemple.fr") if "RETEX à froid" in mail_text(m)]
        in_pdf = pdf_text(cold).replace("\n", " ")
        assert "Chronologie" in in_pdf and "La montée en charge" in in_pdf


async def test_two_instances_prompt_and_remind_once(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both instances run their crisis timers at the same moments: one draft, one reminder each."""
    slack = FakeSlack(SLACK_TOKEN, SIGNING)
    for user_id, name in ((ALICE, "alice"), (CHLOE, "chloe"), (DAVID, "david")):
        slack.user(user_id, name)
    monkeypatch.setenv("VIGIE_SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("VIGIE_SLACK_SIGNING_SECRET", SIGNING)
    async with AsgiServer(slack.app) as slack_api:
        slack.url = slack_api.url
        people = [p for p in PEOPLE if p["id"] != "david"] + [
            _person("david", "David Roux", ["responsable"], DAVID)
        ]
        config = make_config(
            people=people,
            rosters=[ROSTER],
            ladders=[LADDER],
            duty_officers=["david"],
            channels={"slack": {"enabled": True, "base_url": f"{slack_api.url}/api/"}},
            crisis={k: v for k, v in CRISIS.items() if k != "upward"},
        )
        clock = ManualClock(TEN)
        async with (
            running_vigie(pg_url, config=config, clock=clock, background=False) as one,
            running_vigie(pg_url, config=config, clock=clock, background=False) as two,
        ):
            reply = await one.vigie.inbound.crisis_command("crisis", "Rougeole", Speaker("david", "cli"))
            crisis = str(reply.reference)
            await one.vigie.settle()
            for person in ("alice", "chloe"):
                await one.vigie.inbound.crisis_command("join", crisis, Speaker(person, "cli"))
            said = await two.vigie.inbound.crisis_command("phase", f"{crisis} aigue", Speaker("chloe", "cli"))
            assert said.ok, said.text
            for minutes in (105, 120, 135):  # the draft, the due time, 15 minutes late
                clock.set(TEN + timedelta(minutes=minutes))
                for _ in range(3):
                    await asyncio.gather(one.vigie.rooms.run_once(), two.vigie.rooms.run_once())
                    await asyncio.gather(one.vigie.dispatcher.run_once(), two.vigie.dispatcher.run_once())
            channel = slack.channel_named("crise-")
            assert channel is not None
            drafts = [m for m in room(slack, str(channel["id"])) if "projet du point de situation n° 1" in m]
            assert len(drafts) == 1
            assert len([m for m in dms(slack, ALICE) if "n° 1 était attendu à 12:00" in m]) == 1
            assert len([m for m in dms(slack, CHLOE) if "toujours pas validé (15 min de retard" in m]) == 1


async def test_a_time_set_before_arming_is_kept_and_a_refused_mail_tells_the_officers(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with points_desk(db_url, monkeypatch) as (desk, slack, smtp, url):
        reply = await desk.vigie.inbound.crisis_command(
            "crisis", "Pénurie d'oxygène", Speaker("david", "cli")
        )
        crisis = str(reply.reference)
        await desk.vigie.settle()
        channel = slack.channel_named("crise-")
        assert channel is not None
        said = await slash(desk, slack, url, ALICE, "/point", "prochain 16h", str(channel["id"]))
        assert said == "Point de situation n° 1 fixé à 16:00 par Alice Martin."
        bad = await slash(desk, slack, url, ALICE, "/point", "prochain 25h", str(channel["id"]))
        assert bad == "Heure illisible « 25h » : écrivez par exemple 16:00 ou 16h."
        for person in ("alice", "chloe"):
            await desk.vigie.inbound.crisis_command("join", crisis, Speaker(person, "cli"))
        await until(desk, "15:44")
        assert not any("projet du point" in m for m in room(slack, str(channel["id"])))
        await until(desk, "15:45")
        assert any(
            "projet du point de situation n° 1 à valider avant 16:00" in m
            for m in room(slack, str(channel["id"]))
        )

        smtp.collector.unknown.add(CRAPS)
        answer = await desk.vigie.inbound.crisis_command(
            "point", f"{crisis} valider", Speaker("alice", "cli")
        )
        assert answer.ok, answer.text
        await desk.vigie.settle()
        assert smtp.to(CRAPS) == []
        [notice] = [m for m in smtp.to("david@ars-exemple.fr") if "n'a pas pu être remis" in mail_text(m)]
        assert f"{crisis} : le point de situation n° 1 n'a pas pu être remis à {CRAPS}" in mail_text(notice)
        texts = [e.text for e in await main_courante(desk, crisis)]
        assert any(t.startswith(f"Point n° 1 non remis à {CRAPS} : ") for t in texts)
