"""E-mail end to end: pages with signed links through a local SMTP server, and the "alerte"
mailbox fed by the standard library's smtplib, as a sender's mail server would."""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from bot.clock import ManualClock
from tests.devices import NIGHT, DutyDesk
from tests.fakes.smtp import FakeSmtp
from tests.support import AUTH, free_port, make_config, running_vigie
from tests.test_escalation import LADDER, ROSTER

ALERTE = "alerte@ars-exemple.fr"
PEOPLE: list[dict[str, Any]] = [
    {
        "id": "alice",
        "name": "Alice Martin",
        "functions": ["referent"],
        "contacts": {"email": "alice@ars-exemple.fr"},
        "notify": ["email", {"channel": "console", "after": "10m"}],
    },
    {"id": "bruno", "name": "Bruno Petit", "functions": ["referent"]},
    {"id": "chloe", "name": "Chloé Bernard", "functions": ["cadre"]},
    {"id": "david", "name": "David Roux", "functions": ["responsable"]},
]


@asynccontextmanager
async def mail_desk(
    db_url: str, monkeypatch: pytest.MonkeyPatch, crisis: dict[str, Any] | None = None, **delivery: Any
) -> AsyncIterator[tuple[DutyDesk, FakeSmtp, int]]:
    monkeypatch.setenv("VIGIE_LINK_SECRET", "link-secret-for-tests")
    monkeypatch.delenv("VIGIE_SMTP_USERNAME", raising=False)
    monkeypatch.delenv("VIGIE_SMTP_PASSWORD", raising=False)
    with FakeSmtp() as smtp:
        port, mailbox = free_port(), free_port()
        config = make_config(
            desk={"name": "PFR test", "public_url": f"http://127.0.0.1:{port}"},
            people=PEOPLE,
            rosters=[ROSTER],
            ladders=[LADDER],
            duty_officers=["david"],
            delivery=delivery or {},
            crisis=crisis or {},
            channels={
                "console": {"enabled": True},
                "email": {
                    "enabled": True,
                    "smtp_host": "127.0.0.1",
                    "smtp_port": smtp.port,
                    "security": "none",
                    "from_address": "vigie@ars-exemple.fr",
                },
                "mailbox": {"enabled": True, "port": mailbox, "addresses": [ALERTE], "max_bytes": 200_000},
            },
        )
        async with running_vigie(
            db_url, config=config, clock=ManualClock(NIGHT), background=False, port=port
        ) as s:
            async with s.client() as client:
                yield DutyDesk(s, client, s.vigie.clock), smtp, mailbox  # type: ignore[arg-type]


def links(mail: EmailMessage) -> dict[str, str]:
    body = mail.get_content()
    return {
        "ack": re.search(r"Prendre en charge : (\S+)", body).group(1),  # type: ignore[union-attr]
        "escalate": re.search(r"Escalader : (\S+)", body).group(1),
    }  # type: ignore[union-attr]


async def send_mail(port: int, mail: EmailMessage) -> None:
    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as server:
            server.send_message(mail)

    await asyncio.to_thread(send)


async def test_a_long_french_title_reaches_the_mail_subject_whole(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accents, apostrophes, dashes and spaces between non-ASCII words all survive the subject's
    encoding (the first 150 characters of the title), and the body keeps its line breaks."""
    title = (
        "Pénurie d'oxygène médical au centre hospitalier — réanimation saturée, "
        "transferts vers Lille à prévoir ; état des stocks à 18 h : 12 bouteilles B50 ; "
        "prochaine livraison incertaine"
    )
    async with mail_desk(db_url, monkeypatch) as (desk, smtp, _):
        ref = await desk.signal(title)
        [page] = await asyncio.to_thread(lambda: smtp.to("alice@ars-exemple.fr"))
        assert str(page["Subject"]) == f"[Vigie] {ref} — {title[:150]}"
        body = page.get_content()
        assert title in body
        assert re.search(r"^Prendre en charge : http://127\.0\.0\.1:\d+/links/\S+\r?$", body, re.M)


async def test_email_page_link_takes_it_once(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with mail_desk(db_url, monkeypatch) as (desk, smtp, _):
        ref = await desk.signal("Rupture de la chaîne du froid, vaccins")
        [page] = await asyncio.to_thread(lambda: smtp.to("alice@ars-exemple.fr"))
        assert str(page["Subject"]) == f"[Vigie] {ref} — Rupture de la chaîne du froid, vaccins"
        assert str(page["From"]) == "vigie@ars-exemple.fr"
        urls = links(page)
        async with httpx.AsyncClient() as client:
            shown = await client.get(urls["ack"])  # a mail scanner fetching the link…
            assert shown.status_code == 200 and "Je prends en charge" in shown.text
            assert (await desk.signal_state(ref))["acknowledged_by"] is None  # …takes nothing
            taken = await client.post(urls["ack"])
            assert (
                taken.status_code == 200 and f"{ref} pris en charge par Alice Martin à 03:12." in taken.text
            )
            again = await client.post(urls["ack"])
            assert "déjà pris en charge par Alice Martin" in again.text
            tampered = await client.post(urls["ack"][:-3] + "xyz")
            assert tampered.status_code == 403 and "n'est pas valide" in tampered.text
        assert (await desk.signal_state(ref))["acknowledged_by"] == "alice"


async def test_expired_link_is_refused(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with mail_desk(db_url, monkeypatch) as (desk, smtp, _):
        await desk.signal("Signal")
        [page] = smtp.to("alice@ars-exemple.fr")
        desk.clock.advance(25 * 3600)
        async with httpx.AsyncClient() as client:
            late = await client.post(links(page)["escalate"])
        assert late.status_code == 410 and "expiré" in late.text


async def test_mail_to_the_alerte_address_is_a_signal_with_a_receipt(db_url: str, monkeypatch) -> None:
    async with mail_desk(db_url, monkeypatch) as (desk, smtp, mailbox):
        mail = EmailMessage()
        mail["From"] = "Direction EHPAD Les Tilleuls <direction@ehpad-tilleuls.fr>"
        mail["To"] = ALERTE
        mail["Subject"] = "Épidémie de gastro-entérite : 12 résidents touchés"
        mail.set_content(
            "Bonjour,\nDepuis hier soir, 12 résidents présentent des vomissements.\nCordialement",
            charset="iso-8859-1",
        )
        mail.add_attachment(
            b"%PDF-1.4 liste des residents",
            maintype="application",
            subtype="pdf",
            filename="liste-résidents.pdf",
        )
        raw = mail.as_bytes()
        assert b"iso-8859-1" in raw.lower()
        await send_mail(mailbox, mail)
        [signal] = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        assert signal["title"] == "Épidémie de gastro-entérite : 12 résidents touchés"
        assert "12 résidents présentent des vomissements" in signal["body"]
        assert signal["attributes"]["attachments"] == [
            {"filename": "liste-résidents.pdf", "content_type": "application/pdf", "size": 28}
        ]
        await desk.vigie.settle()
        [receipt] = smtp.to("direction@ehpad-tilleuls.fr")
        assert str(receipt["Subject"]) == f"Vigie : accusé de réception {signal['reference']}"
        assert f"Signal reçu, référence {signal['reference']}" in receipt.get_content()

        reply = EmailMessage()
        reply["From"] = "direction@ehpad-tilleuls.fr"
        reply["To"] = ALERTE
        reply["Subject"] = f"Re: {receipt['Subject']}"
        reply.set_content("Deux résidents hospitalisés ce matin.")
        await send_mail(mailbox, reply)
        listing = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()
        assert listing["count"] == 1
        history = (await desk.client.get(f"/api/v1/signals/{signal['reference']}", headers=AUTH)).json()[
            "history"
        ]
        assert history[-1]["kind"] == "message"
        assert history[-1]["data"]["text"] == "Deux résidents hospitalisés ce matin."


async def test_html_only_quoted_printable_and_base64_mails_read_as_text(db_url: str, monkeypatch) -> None:
    async with mail_desk(db_url, monkeypatch) as (desk, _smtp, mailbox):
        mail = EmailMessage()
        mail["From"] = "veille@hopital.fr"
        mail["To"] = ALERTE
        mail["Subject"] = "=?utf-8?q?Pollution_de_l=27eau_=C3=A0_Lens?="
        mail.set_content(
            "<html><body><p>Eau <b>non potable</b> à Lens</p><script>x()</script></body></html>",
            subtype="html",
            cte="quoted-printable",
        )
        await send_mail(mailbox, mail)
        [signal] = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        assert signal["title"] == "Pollution de l'eau à Lens"
        assert signal["body"] == "Eau non potable à Lens"

        b64 = EmailMessage()
        b64["From"] = "meteo@prefecture.fr"  # another sender (the same one would join its flood)
        b64["To"] = ALERTE
        b64["Subject"] = "Canicule"
        b64.set_content("Température : 41 °C à l'ombre", cte="base64")
        await send_mail(mailbox, b64)
        bodies = {
            s["body"] for s in (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        }
        assert "Température : 41 °C à l'ombre" in bodies


async def test_unknown_address_and_oversized_mail_are_refused(db_url: str, monkeypatch) -> None:
    async with mail_desk(db_url, monkeypatch) as (desk, _smtp, mailbox):
        wrong = EmailMessage()
        wrong["From"] = "x@y.fr"
        wrong["To"] = "autre@ars-exemple.fr"
        wrong["Subject"] = "x"
        wrong.set_content("x")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            await send_mail(mailbox, wrong)
        big = EmailMessage()
        big["From"] = "x@y.fr"
        big["To"] = ALERTE
        big["Subject"] = "trop gros"
        big.set_content("x" * 300_000)
        with pytest.raises(smtplib.SMTPException):
            await send_mail(mailbox, big)
        assert (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["count"] == 0


async def test_smtp_relay_in_trouble_is_retried_and_the_page_sent_once(db_url: str, monkeypatch) -> None:
    async with mail_desk(db_url, monkeypatch) as (desk, smtp, _):
        smtp.collector.refuse_next = 2
        ref = await desk.signal("Signal")
        [page] = smtp.to("alice@ars-exemple.fr")
        assert ref in str(page["Subject"])


async def test_mailbox_answers_451_when_the_store_is_down_and_accepts_the_retry(
    pg_url: str, monkeypatch
) -> None:
    from tests.support import pg_admin

    dbname = pg_url.rsplit("/", 1)[1]
    async with mail_desk(pg_url, monkeypatch) as (desk, _smtp, mailbox):
        mail = EmailMessage()
        mail["From"] = "samu@chu.fr"
        mail["To"] = ALERTE
        mail["Subject"] = "Afflux de victimes"
        mail.set_content("Accident de car, 30 blessés.")
        await pg_admin(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        await pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}'")
        try:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                await send_mail(mailbox, mail)
            assert refused.value.smtp_code == 451  # the sender's server keeps it and retries
        finally:
            await pg_admin(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        await send_mail(mailbox, mail)  # the retry
        [signal] = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        assert signal["title"] == "Afflux de victimes"


async def test_a_member_called_by_mail_joins_the_crisis_cell_with_the_link(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.crisis.commands import Speaker

    cell = {"cells": {"restreinte": {"functions": {"pilotage": ["alice"]}}}}
    async with mail_desk(db_url, monkeypatch, crisis=cell) as (desk, smtp, _):
        reply = await desk.vigie.inbound.crisis_command(
            "crisis", "Pénurie d'oxygène", Speaker("david", "cli")
        )
        await desk.vigie.settle()
        [call] = await asyncio.to_thread(lambda: smtp.to("alice@ars-exemple.fr"))
        assert str(call["Subject"]) == f"[Vigie] Cellule de crise {reply.reference} — Pénurie d'oxygène"
        assert "Votre fonction : pilotage" in call.get_content()
        url = re.search(r"Rejoindre la cellule : (\S+)", call.get_content()).group(1)  # type: ignore[union-attr]
        async with httpx.AsyncClient() as client:
            shown = await client.get(url)
            assert "Je rejoins la cellule de crise" in shown.text
            joined = await client.post(url)
        assert joined.status_code == 200
        assert f"Vous avez rejoint la cellule {reply.reference}" in joined.text
        roles = await desk.vigie.cell.roles_text(str(reply.reference))
        assert "pilotage                   Alice Martin\n" in roles + "\n"  # joined: no « pas encore »


async def test_a_burst_of_mail_pages_goes_out_side_by_side_over_a_few_kept_sessions(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twelve people paged at once by mail through a slow relay: the mails leave several at a
    time (not one after the other), over at most `sessions` connections kept open, each person's
    mails in the order they were queued; a session the relay dropped meanwhile is opened anew."""
    monkeypatch.setenv("VIGIE_LINK_SECRET", "link-secret-for-tests")
    monkeypatch.delenv("VIGIE_SMTP_USERNAME", raising=False)
    monkeypatch.delenv("VIGIE_SMTP_PASSWORD", raising=False)
    team = [
        {"id": f"p{n}", "name": f"Agent {n}", "functions": ["referent"],
         "contacts": {"email": f"agent{n}@ars-exemple.fr"}, "notify": ["email"]}
        for n in range(12)
    ]  # fmt: skip
    with FakeSmtp() as smtp:
        smtp.collector.delay = 0.2
        config = make_config(
            people=[*team, {"id": "david", "name": "David Roux", "functions": ["responsable"]}],
            ladders=[{"id": "default", "steps": [{"page": [p["id"] for p in team], "wait": "1h"}]}],
            duty_officers=["david"],
            channels={
                "console": {"enabled": True},
                "email": {"enabled": True, "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                          "security": "none", "from_address": "vigie@ars-exemple.fr", "sessions": 3},
            },
        )  # fmt: skip
        async with running_vigie(db_url, config=config, clock=ManualClock(NIGHT), background=False) as s:
            async with s.client() as client:
                refs = []
                for title in ("Premier signal", "Second signal"):  # both queued before any leaves
                    answer = await client.post("/api/v1/signals", headers=AUTH, json={"title": title})
                    refs.append(answer.json()["reference"])
                await s.vigie.settle()
                mails = smtp.collector.messages
                assert len(mails) == 24
                assert smtp.collector.most_in_flight == 3  # side by side, as many as sessions allowed
                assert len(set(smtp.collector.peers)) <= 3  # the sessions were kept, not one a mail
                for n in range(12):
                    mine = [str(m["Subject"]) for m in smtp.to(f"agent{n}@ars-exemple.fr")]
                    assert [refs[0] in mine[0], refs[1] in mine[1]] == [True, True]

                # The relay restarts (every kept session is gone): the next mails still leave.
                smtp.restart()
                answer = await client.post("/api/v1/signals", headers=AUTH, json={"title": "Après"})
                await s.vigie.settle()
                assert answer.status_code == 202 and len(smtp.collector.messages) == 36
                outbox = await client.get("/api/v1/outbox", params={"limit": 1000}, headers=AUTH)
                assert {m["state"] for m in outbox.json()["messages"] if m["channel"] == "email"} == {
                    "delivered"
                }
