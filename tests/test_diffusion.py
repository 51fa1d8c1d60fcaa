"""Diffusion with confirmed receipt, device-script style: the real aiosmtplib and twilio
libraries against the SMTP and Twilio fakes, an injected clock. Five EHPAD get a MINSANTE
POUR DIFFUSION: one confirms by its link, one by SMS code, one by voice key 1, one through the
operator who phoned it, and one bounces everywhere and ends « injoignable »."""

from __future__ import annotations

import base64
import csv
import html
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from bot.clock import ManualClock
from bot.diffusion.partners import import_csv, list_partners
from tests.devices import NIGHT, DutyDesk
from tests.fakes.smtp import FakeSmtp
from tests.fakes.twilio import FakeTwilio
from tests.support import AUTH, AsgiServer, eventually, free_port, make_config, running_vigie
from tests.test_escalation import LADDER, ROSTER
from tests.test_voice import gather_action

SID, TOKEN = "AC" + "d" * 32, "twilio-auth-token"
DESK = "+33612000000"
ALERTE = "alerte@ars-exemple.fr"
MAILBOX = free_port()
LILAS, TILLEULS, ROSES, MIMOSAS, FANTOME = (f"+3361000000{n}" for n in range(1, 6))
PEOPLE: list[dict[str, Any]] = [
    {"id": "alice", "name": "Alice Martin", "functions": ["referent"], "notify": ["console"]},
    {"id": "bruno", "name": "Bruno Petit", "functions": ["referent"], "notify": ["console"]},
    {"id": "chloe", "name": "Chloé Bernard", "functions": ["cadre"], "notify": ["console"]},
    {"id": "david", "name": "David Roux", "functions": ["responsable"], "notify": ["console"]},
]


def _ehpad(pid: str, name: str, phone: str) -> dict[str, Any]:
    return {
        "id": pid,
        "name": name,
        "kind": "EMS",
        "department": "59",
        "email": f"alerte@{pid}.fr",
        "phone": phone,
        "groups": ["ehpad-59"],
    }


PARTNERS = [
    _ehpad("ehpad-lilas", "EHPAD Les Lilas", LILAS),
    _ehpad("ehpad-tilleuls", "EHPAD Les Tilleuls", TILLEULS),
    _ehpad("ehpad-roses", "EHPAD Les Roses", ROSES),
    _ehpad("ehpad-mimosas", "EHPAD Les Mimosas", MIMOSAS),
    {"id": "ch-nord", "name": "CH Nord", "kind": "ES", "email": "alerte@ch-nord.fr", "groups": ["es-59"]},
]


@asynccontextmanager
async def diffusion_desk(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[DutyDesk, FakeSmtp, FakeTwilio, str]]:
    twilio = FakeTwilio(SID, TOKEN)
    monkeypatch.setenv("VIGIE_TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("VIGIE_TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("VIGIE_LINK_SECRET", "link-secret-for-tests")
    monkeypatch.delenv("VIGIE_SMTP_USERNAME", raising=False)
    monkeypatch.delenv("VIGIE_SMTP_PASSWORD", raising=False)
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with FakeSmtp() as smtp:
        async with AsgiServer(twilio.app) as api:
            config = make_config(
                desk={"name": "PFR test", "public_url": public},
                people=PEOPLE,
                rosters=[ROSTER],
                ladders=[LADDER],
                duty_officers=["david"],
                partners=PARTNERS,
                diffusion={
                    "contact": "ARS Hauts-de-France, PFR : 03 20 00 00 00, ars-pfr@ars-exemple.fr",
                    "upward": ["craps@ars-exemple.fr"],
                },
                channels={
                    "console": {"enabled": True},
                    "twilio": {"enabled": True, "base_url": api.url, "sms_from": DESK, "voice": True},
                    "email": {
                        "enabled": True,
                        "smtp_host": "127.0.0.1",
                        "smtp_port": smtp.port,
                        "security": "none",
                        "from_address": "vigie@ars-exemple.fr",
                    },
                    "mailbox": {"enabled": True, "port": MAILBOX, "addresses": [ALERTE]},
                },
            )
            async with running_vigie(
                db_url, config=config, clock=ManualClock(NIGHT), background=False, port=port
            ) as server:
                async with server.client() as client:
                    desk = DutyDesk(server, client, server.vigie.clock)  # type: ignore[arg-type]
                    yield desk, smtp, twilio, public


def body_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


async def jump(desk: DutyDesk, **delta: float) -> None:
    """Move the clock at once and run what is due (the partners' steps count from when each ran)."""
    desk.clock.set(desk.clock.now() + timedelta(**delta))
    await desk.vigie.settle()


async def state_of(desk: DutyDesk, reference: str) -> dict[str, str]:
    answer = await desk.client.get(f"/api/v1/diffusions/{reference}", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return {p["partner"]: p["state"] for p in answer.json()["partners"]}


FANTOME_CSV = (
    "identifiant;nom;type;département;courriel;téléphone;groupes\n"
    f"ehpad-fantome;EHPAD Fantôme;EMS;59;alerte@fantome.fr;{FANTOME};ehpad-59\n"
)


async def test_partners_import_reports_bad_rows_and_imports_nothing_then_all(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with diffusion_desk(db_url, monkeypatch) as (desk, _smtp, _tw, _):
        db, now = desk.vigie.db, desk.clock.now()
        bad = (
            "id,name,kind,finess,department,email,phone,groups\n"
            "ehpad-a,EHPAD A,EMS,590000001,59,alerte@a.fr,+33610000011,ehpad-59\n"
            "ehpad-b,EHPAD B,hopital,,59,pas-une-adresse,0610000012,ehpad-59\n"
            "ehpad-c,EHPAD C,EMS,,59,,,ehpad-59\n"
            "ehpad-a,EHPAD A bis,EMS,,59,alerte@a2.fr,,ehpad-59\n"
        )
        result = await import_csv(db, bad.encode(), now)
        messages = [str(e) for e in result.errors]
        assert messages[0].startswith("ligne 3, type : ")
        assert messages[1].startswith("ligne 3, e-mail : ")
        assert (
            "ligne 4, ligne : un partenaire a au moins une adresse e-mail « alerte » ou un téléphone"
            in messages[2]
        )
        assert messages[3] == "ligne 5, id : « ehpad-a » déjà à la ligne 2"
        assert len(await list_partners(db)) == len(PARTNERS)  # nothing half-imported

        unknown = await import_csv(db, b"id,nom,fax\nx,X,1\n", now)
        assert [str(e) for e in unknown.errors] == ["ligne 1, fax : colonne inconnue"]
        clash = await import_csv(db, b"id,name,email\nch-nord,CH Nord,alerte@ch-nord.fr\n", now)
        assert [str(e) for e in clash.errors] == [
            "ligne 0, id : « ch-nord » est déjà un partenaire de la configuration"
        ]

        dry = await import_csv(db, FANTOME_CSV.encode("utf-8-sig"), now, dry_run=True)
        assert dry.added == ["ehpad-fantome"] and len(await list_partners(db)) == len(PARTNERS)
        done = await import_csv(db, FANTOME_CSV.encode("utf-8-sig"), now)
        assert done.summary() == "1 ajouté(s), 0 modifié(s), 0 retiré(s), 0 inchangé(s)"
        [fantome] = [p for p in await list_partners(db, "ehpad-59") if p.source == "csv"]
        assert (fantome.name, fantome.phone, fantome.department) == ("EHPAD Fantôme", FANTOME, "59")
        again = await import_csv(db, FANTOME_CSV.replace("Fantôme", "Fantôme (fermé)").encode(), now)
        assert again.changed == ["ehpad-fantome"]
        removed = await import_csv(db, b"id,name,email\n", now)
        assert removed.removed == ["ehpad-fantome"]


async def test_a_minsante_pour_diffusion_is_relayed_until_each_ehpad_confirms(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with diffusion_desk(db_url, monkeypatch) as (desk, smtp, tw, public):
        await import_csv(desk.vigie.db, FANTOME_CSV.encode(), desk.clock.now())
        smtp.collector.unknown.add("alerte@ehpad-fantome.fr")
        smtp.collector.unknown.add("alerte@fantome.fr")
        tw.invalid.add(FANTOME)

        refused = await desk.vigie.inbound.diffusion_command("alice", "diffuse", "diffusion ehpad-59 Test")
        assert refused.text.startswith(
            "Refusé : diffuser un message aux partenaires est réservé aux fonctions"
        )
        pdf = base64.b64encode(b"%PDF-1.4 message MINSANTE").decode()
        sent = await desk.client.post(
            "/api/v1/diffusions",
            headers=AUTH,
            json={
                "person": "david",
                "nature": "diffusion",
                "groups": ["ehpad-59"],
                "title": "MINSANTE n° 2026-112",
                "text": "Vague de chaleur : activez vos plans bleus et recensez les résidents fragiles.",
                "attachments": [
                    {"filename": "minsante-2026-112.pdf", "base64": pdf},
                    {"filename": "consignes-été-établissements.pdf", "base64": pdf},
                ],
            },
        )
        assert sent.status_code == 201, sent.text
        ref = sent.json()["reference"]
        assert ref == "DIFF-2026-0001"
        await desk.vigie.settle()

        # At once: the alerte mailbox of each EHPAD (not the CH, not in the group), with the PDF.
        mails = {str(m["To"]): m for m in smtp.collector.messages}
        assert set(mails) == {
            f"alerte@{p}.fr" for p in ("ehpad-lilas", "ehpad-tilleuls", "ehpad-roses", "ehpad-mimosas")
        }
        lilas = mails["alerte@ehpad-lilas.fr"]
        assert lilas["Subject"] == f"[Vigie] {ref} — MINSANTE n° 2026-112 — POUR DIFFUSION"
        body = body_of(lilas)
        assert body.startswith("MINSANTE n° 2026-112 — POUR DIFFUSION\n\nVague de chaleur")
        assert "ARS Hauts-de-France, PFR : 03 20 00 00 00" in body
        attachments = list(lilas.iter_attachments())
        # Both files, their names intact (the second one's RFC 2231-encoded), their bytes whole.
        assert [a.get_filename() for a in attachments] == [
            "minsante-2026-112.pdf",
            "consignes-été-établissements.pdf",
        ]
        assert [a.get_content() for a in attachments] == [b"%PDF-1.4 message MINSANTE"] * 2
        # The bounced mail and the invalid number: the next channels at once, then « injoignable ».
        assert (await state_of(desk, ref))["ehpad-fantome"] == "injoignable"
        assert tw.sent == [] and tw.calls == []

        # A link opened (a mail scanner, or a person) confirms nothing; the button does.
        link = re.search(r"Confirmer la réception : (\S+)", body)
        assert link is not None
        async with httpx.AsyncClient() as browser:
            page = await browser.get(link[1])
            assert page.status_code == 200 and "Je confirme la réception" in page.text
            assert (await state_of(desk, ref))["ehpad-lilas"] == "envoye"
            confirmed = await browser.post(link[1])
            assert confirmed.status_code == 200 and "confirmée (EHPAD Les Lilas" in confirmed.text

        # 15 minutes later, an SMS to those that did not confirm; one answers with the code.
        await jump(desk, minutes=14)
        assert tw.sent == []
        await jump(desk, minutes=1)
        assert len(tw.sent) == 1  # paced: one SMS a second (diffusion.sms_per_second)
        await jump(desk, seconds=1)
        await jump(desk, seconds=1)
        assert sorted(m["to"] for m in tw.sent) == sorted([TILLEULS, ROSES, MIMOSAS])
        sms = tw.to(TILLEULS)[0]
        assert sms.startswith("MINSANTE n° 2026-112 — POUR DIFFUSION (ARS, DIFF-2026-0001)")
        assert sms.endswith("Répondez D1 pour confirmer la réception.")
        answer = await tw.inbound_sms(f"{public}/twilio/sms", TILLEULS, DESK, "d1 ok")
        assert answer.status_code == 200
        await desk.vigie.settle()
        assert tw.to(TILLEULS)[-1].startswith(
            "Vigie : Réception de DIFF-2026-0001 confirmée (EHPAD Les Tilleuls"
        )

        # 45 minutes: a call to those still silent; the Roses press 1, the Mimosas do not answer.
        await jump(desk, minutes=30)
        await jump(desk, seconds=1)
        await jump(desk, seconds=1)
        assert sorted(c["to"] for c in tw.calls) == sorted([ROSES, MIMOSAS])
        roses = next(c for c in tw.calls if c["to"] == ROSES)
        twiml = await tw.answer(roses)
        assert "Appuyez sur 1 pour confirmer la réception" in twiml and "Vague de chaleur" in twiml
        said = await tw.keypress(desk.server.url + gather_action(twiml), roses, "1")
        assert "réception confirmée" in said

        # The operator phoned the Mimosas: recorded apart, with a comment.
        phoned = await desk.client.post(
            f"/api/v1/diffusions/{ref}/confirmations",
            headers=AUTH,
            json={"person": "chloe", "partner": "ehpad-mimosas", "comment": "IDEC jointe au 03 27 00 00 00"},
        )
        assert phoned.status_code == 201, phoned.text
        await desk.vigie.settle()
        states = await state_of(desk, ref)
        assert states == {
            "ehpad-fantome": "injoignable",
            "ehpad-lilas": "confirme",
            "ehpad-mimosas": "confirme",
            "ehpad-roses": "confirme",
            "ehpad-tilleuls": "confirme",
        }
        status = await desk.vigie.inbound.diffusion_command("chloe", "diffusion", f"statut {ref}")
        assert status.text.splitlines() == [
            f"{ref} — MINSANTE n° 2026-112 — POUR DIFFUSION : 4/5 confirmés (dont 1 par téléphone, "
            "saisis par l'opérateur), 0 en attente, 0 non confirmés, 1 injoignables.",
            "Injoignables (annuaire à vérifier) : EHPAD Fantôme",
        ]
        # The desk manager hears of the contacts to fix; once everyone settled, that it is done.
        david = desk.device("david")
        await david.expect(
            "Annuaire à corriger — EHPAD Fantôme (email) : adresse e-mail refusée (alerte@fantome.fr)"
        )
        await david.expect("Annuaire à corriger — EHPAD Fantôme (sms)")
        await david.expect("Annuaire à corriger — EHPAD Fantôme (voice)")
        done = await david.expect(f"Diffusion {ref} terminée : 4/5 confirmés")
        assert done["kind"] == "diffusion_done"

        # Nothing more goes out: no second cycle for those who confirmed.
        calls, texts = len(tw.calls), len(tw.sent)
        for _ in range(5):
            await jump(desk, minutes=30)
        assert (len(tw.calls), len(tw.sent)) == (calls, texts)

        report = await desk.client.get(f"/api/v1/diffusions/{ref}/report.csv", headers=AUTH)
        assert report.status_code == 200
        rows = {
            r["partenaire"]: r
            for r in csv.DictReader(io.StringIO(report.content.decode("utf-8-sig")), delimiter=";")
        }
        assert rows["ehpad-lilas"]["moyen"] == "email" and rows["ehpad-lilas"]["etat"] == "confirmé"
        assert (
            rows["ehpad-lilas"]["tentatives"].count("email") == 1
            and "sms" not in rows["ehpad-lilas"]["tentatives"]
        )
        assert rows["ehpad-tilleuls"]["moyen"] == "sms"
        assert rows["ehpad-roses"]["moyen"] == "voice"
        assert (rows["ehpad-mimosas"]["moyen"], rows["ehpad-mimosas"]["confirme_par"]) == (
            "operateur",
            "Chloé Bernard",
        )
        assert rows["ehpad-mimosas"]["commentaire"] == "IDEC jointe au 03 27 00 00 00"
        sentence = (await desk.client.get(f"/api/v1/diffusions/{ref}", headers=AUTH)).json()["sentence"]
        assert sentence.startswith(
            f"Diffusion du MINSANTE n° 2026-112 (POUR DIFFUSION, {ref}) : 4/5 partenaires ont confirmé "
            "la réception à "
        )
        assert sentence.endswith("; 1 injoignable(s), à vérifier dans l'annuaire.")
        pdf = await desk.client.get(f"/api/v1/diffusions/{ref}/report.pdf", headers=AUTH)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        sent_up = await desk.vigie.diffusions.send_upward(ref)
        assert sent_up.text.startswith("Rapport envoyé à craps@ars-exemple.fr : Diffusion du MINSANTE")
        await desk.vigie.settle()
        [upward] = smtp.to("craps@ars-exemple.fr")
        assert body_of(upward).strip() == sentence
        files = [a.get_filename() for a in upward.iter_attachments()]
        assert files == [f"{ref}-rapport.csv", f"{ref}-rapport.pdf"]
        fantome = rows["ehpad-fantome"]
        assert fantome["etat"] == "injoignable"
        assert [a.split()[0] for a in fantome["tentatives"].split(" | ")] == ["email", "sms", "voice"]
        assert all(a.endswith("failed") for a in fantome["tentatives"].split(" | "))


async def test_unconfirmed_partners_get_a_second_cycle_then_are_listed(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with diffusion_desk(db_url, monkeypatch) as (desk, smtp, _tw, _):
        said = await desk.vigie.inbound.diffusion_command(
            "david", "diffuse", "information es-59 Rappel : exercice de tension hospitalière jeudi"
        )
        assert said.ok, said.text
        ref = str(said.reference)
        await desk.vigie.settle()
        assert len(smtp.to("alerte@ch-nord.fr")) == 1  # no phone: e-mail only
        desk.clock.set(desk.clock.now() + timedelta(minutes=15))  # no phone: no SMS, no call
        await desk.vigie.settle()
        desk.clock.set(desk.clock.now() + timedelta(minutes=30))
        await desk.vigie.settle()
        desk.clock.set(desk.clock.now() + timedelta(minutes=29))
        await desk.vigie.settle()
        assert len(smtp.to("alerte@ch-nord.fr")) == 1
        desk.clock.set(desk.clock.now() + timedelta(minutes=1))  # 45 min + the cycle's wait: again
        await desk.vigie.settle()
        assert len(smtp.to("alerte@ch-nord.fr")) == 2
        for _ in range(4):  # its second cycle runs out
            desk.clock.set(desk.clock.now() + timedelta(minutes=31))
            await desk.vigie.settle()
        assert (await state_of(desk, ref)) == {"ch-nord": "non-confirme"}
        status = await desk.vigie.inbound.diffusion_command("david", "diffusion", f"statut {ref}")
        assert "Sans confirmation : CH Nord" in status.text
        # Two hours on, the duty officer heard once that it was late, and who is silent.
        [late] = [m for m in await desk.messages(recipient="david") if m["kind"] == "diffusion_late"]
        assert late["text"].startswith(
            f"Diffusion {ref} (Rappel : exercice de tension hospitalière jeudi) : délai de 2 h dépassé"
        )
        assert "Sans confirmation : CH Nord." in late["text"]
        chased = await desk.vigie.inbound.diffusion_command("david", "diffusion", f"relancer {ref}")
        assert chased.text == f"{ref} : relance de 1 partenaire(s) sans confirmation."
        await desk.vigie.settle()
        assert len(smtp.to("alerte@ch-nord.fr")) == 3


async def test_a_corruss_mail_pour_diffusion_becomes_a_signal_ready_to_relay(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_email import send_mail

    async with diffusion_desk(db_url, monkeypatch) as (desk, smtp, _tw, _):
        mail = EmailMessage()
        mail["From"] = "CORRUSS <alerte@sante.gouv.fr>"
        mail["To"] = ALERTE
        mail["Subject"] = "MINSANTE n° 2026-112 POUR DIFFUSION : épisode caniculaire"
        mail.set_content(
            "Mesdames, Messieurs,\nLe niveau 3 du plan canicule est déclenché. Réactivez les plans bleus.",
            charset="iso-8859-1",
        )
        mail.add_attachment(
            b"%PDF-1.4 consignes canicule", maintype="application", subtype="pdf", filename="consignes.pdf"
        )
        await send_mail(MAILBOX, mail)
        await desk.vigie.settle()
        [signal] = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        assert signal["category"] == "message-national"
        assert signal["attributes"]["national"] == {
            "family": "MINSANTE",
            "number": "2026-112",
            "nature": "diffusion",
        }
        [page] = [m for m in await desk.messages(kind="page") if m["recipient"] == "alice"]
        assert f"/diffuser {signal['reference']} <groupes>" in page["text"]

        said = await desk.vigie.inbound.diffusion_command(
            "chloe", "diffuse", f"{signal['reference']} ehpad-59"
        )
        assert said.ok, said.text
        await desk.vigie.settle()
        mails = [m for m in smtp.collector.messages if "DIFF-2026-0001" in str(m["Subject"])]
        assert len(mails) == 4
        assert mails[0]["Subject"] == "[Vigie] DIFF-2026-0001 — MINSANTE n° 2026-112 — POUR DIFFUSION"
        assert "Le niveau 3 du plan canicule est déclenché" in body_of(mails[0])
        [pdf] = list(mails[0].iter_attachments())
        assert (pdf.get_filename(), pdf.get_content()) == ("consignes.pdf", b"%PDF-1.4 consignes canicule")


async def pending_diffusion(desk: DutyDesk) -> int:
    from sqlmodel import func, select

    from bot.models import OutboxMessageRow

    async with desk.vigie.db.read_session() as session:
        stmt = select(func.count()).where(
            OutboxMessageRow.kind == "diffusion", OutboxMessageRow.state == "pending"
        )
        return int((await session.exec(stmt)).one())


async def test_a_real_signal_during_a_big_diffusion_pages_its_titulaire_at_once(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with diffusion_desk(db_url, monkeypatch) as (desk, _smtp, _tw, _):
        lines = ["id,name,email,groups"] + [
            f"ems-{n:04d},EMS {n},alerte@ems-{n:04d}.fr,region" for n in range(2000)
        ]
        imported = await import_csv(desk.vigie.db, "\n".join(lines).encode(), desk.clock.now())
        assert len(imported.added) == 2000
        said = await desk.vigie.inbound.diffusion_command(
            "david", "diffuse", "information region Point hebdomadaire"
        )
        assert said.ok, said.text
        while await desk.vigie.diffusions.run_due():
            pass  # 2,000 mails queued, none sent yet
        assert await pending_diffusion(desk) == 2000

        answer = await desk.client.post(
            "/api/v1/signals", headers=AUTH, json={"title": "Incendie, EHPAD du Parc"}
        )
        assert answer.status_code == 202
        await desk.vigie.engine.run_due()
        await desk.vigie.dispatcher.run_once()  # one round of delivery: the page is in it
        [page] = await desk.messages(kind="page")
        assert (page["recipient"], page["state"]) == ("alice", "delivered")
        assert await pending_diffusion(desk) > 1000  # most of the diffusion still waits behind it


async def test_pour_action_asks_for_the_action_once_received(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with diffusion_desk(db_url, monkeypatch) as (desk, smtp, _tw, _):
        said = await desk.vigie.inbound.diffusion_command(
            "david", "diffuse", "action es-59 Recensez vos lits de réanimation disponibles avant 18h"
        )
        assert said.ok, said.text
        await desk.vigie.settle()
        [mail] = smtp.to("alerte@ch-nord.fr")
        assert "POUR ACTION" in str(mail["Subject"])
        links = dict(re.findall(r"(Confirmer la réception|Action réalisée) : (\S+)", body_of(mail)))
        async with httpx.AsyncClient() as browser:
            received = await browser.post(links["Confirmer la réception"])
            assert "ou D1 FAIT par SMS." in html.unescape(received.text)
            assert (await state_of(desk, str(said.reference))) == {"ch-nord": "confirme"}
            done = await browser.post(links["Action réalisée"])
            assert done.status_code == 200 and "Action réalisée enregistrée" in done.text
        assert (await state_of(desk, str(said.reference))) == {"ch-nord": "action-realisee"}


async def test_a_confirmation_cancels_what_was_queued_for_that_partner(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with diffusion_desk(db_url, monkeypatch) as (desk, _smtp, tw, _):
        said = await desk.vigie.inbound.diffusion_command(
            "david", "diffuse", "diffusion ehpad-59 Alerte chaleur"
        )
        assert said.ok, said.text
        await desk.vigie.settle()
        await jump(desk, minutes=15)
        assert len(tw.sent) == 1  # the other SMS wait their turn (one a second)
        waiting = sorted({LILAS, TILLEULS, ROSES, MIMOSAS} - {tw.sent[0]["to"]})
        phoned = next(p["id"] for p in PARTNERS if p.get("phone") == waiting[0])
        confirmed = await desk.vigie.inbound.diffusion_command(
            "chloe", "diffusion", f"confirmer {said.reference} {phoned} joint au téléphone"
        )
        assert confirmed.ok, confirmed.text
        for _ in range(4):
            await jump(desk, seconds=1)
        assert sorted(m["to"] for m in tw.sent) == sorted(set(waiting[1:]) | {tw.sent[0]["to"]})
        cancelled = await desk.messages(kind="diffusion", state="cancelled")
        assert [m["address"] for m in cancelled] == [waiting[0]]


def national_mail(subject: str, text: str, *, attachment: bytes | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "CORRUSS <alerte@sante.gouv.fr>"
    mail["To"] = ALERTE
    mail["Subject"] = subject
    mail.set_content(text)
    if attachment is not None:
        mail.add_attachment(attachment, maintype="application", subtype="pdf", filename="questionnaire.pdf")
    return mail


def partner_reply(sender: str, subject: str, text: str, **headers: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = ALERTE
    mail["Subject"] = subject
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(text)
    return mail


async def test_a_minsante_pour_action_is_owned_done_and_reported_upward(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_email import send_mail

    async with diffusion_desk(db_url, monkeypatch) as (desk, smtp, tw, _):
        pdf = b"%PDF-1.4 questionnaire lits"
        await send_mail(
            MAILBOX,
            national_mail(
                "MINSANTE n° 2026-120 POUR ACTION : recensement des lits de réanimation",
                "Merci de recenser les lits de réanimation disponibles et de remonter le bilan.",
                attachment=pdf,
            ),
        )
        await desk.vigie.settle()
        [signal] = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        ref = signal["reference"]
        [page] = [m for m in await desk.messages(kind="page") if m["recipient"] == "alice"]
        assert f"/suite {ref} <personne> [échéance 18h]" in page["text"]
        history = [e["message"] for e in await desk.history(ref)]
        assert any("MINSANTE n° 2026-120 POUR ACTION : responsable à désigner" in m for m in history)

        # Relayed to the EHPAD, who must do it too (POUR ACTION), with the questionnaire.
        said = await desk.vigie.inbound.diffusion_command("chloe", "diffuse", f"{ref} ehpad-59")
        assert said.ok, said.text
        diffusion = str(said.reference)
        await desk.vigie.settle()
        [mail] = smtp.to("alerte@ehpad-lilas.fr")
        subject = str(mail["Subject"])
        assert subject == f"[Vigie] {diffusion} — MINSANTE n° 2026-120 — POUR ACTION"

        # Les Lilas answer the mail: received, and done. Les Tilleuls' out-of-office confirms
        # nothing and pages nobody.
        await send_mail(
            MAILBOX,
            partner_reply("alerte@ehpad-lilas.fr", f"RE: {subject}", "Bien reçu, fait : 2 lits.\n\n> ..."),
        )
        await send_mail(
            MAILBOX,
            partner_reply(
                "alerte@ehpad-tilleuls.fr",
                f"Réponse automatique : {subject}",
                "Je suis absente jusqu'au 5.",
                Auto_Submitted="auto-replied",
            ),
        )
        await desk.vigie.settle()
        states = await state_of(desk, diffusion)
        assert states["ehpad-lilas"] == "action-realisee"
        assert states["ehpad-tilleuls"] == "envoye"
        lilas = next(
            p
            for p in (await desk.client.get(f"/api/v1/diffusions/{diffusion}", headers=AUTH)).json()[
                "partners"
            ]
            if p["partner"] == "ehpad-lilas"
        )
        assert (lilas["confirmed_via"], lilas["confirmed_by"]) == ("email-reponse", "alerte@ehpad-lilas.fr")
        assert len((await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]) == 1

        # The SMS step carries a signed link to the questionnaire; opening it confirms nothing.
        await jump(desk, minutes=15)
        for _ in range(3):
            await jump(desk, seconds=1)
        sms = {m["to"]: m["body"] for m in tw.sent}
        assert set(sms) == {TILLEULS, ROSES, MIMOSAS}
        link = re.search(r"Pièce\(s\) jointe\(s\) : (\S+)", sms[ROSES])
        assert link is not None and "Répondez D1 pour confirmer la réception." in sms[ROSES]
        async with httpx.AsyncClient() as browser:
            got = await browser.get(link[1])
            assert got.status_code == 200 and got.content == pdf
            assert "questionnaire.pdf" in got.headers["content-disposition"]
            forged = await browser.get(link[1][:-3] + "xyz")
            assert forged.status_code == 403
        assert (await state_of(desk, diffusion))["ehpad-roses"] == "envoye"

        # The cadre names the owner; a referent may not, but the owner may say it is done.
        owner = await desk.vigie.inbound.diffusion_command("chloe", "followup", f"{ref} Bruno dans 4h")
        assert owner.ok, owner.text
        assert owner.text.startswith("MINSANTE n° 2026-120 : Bruno Petit responsable, échéance")
        [told] = [m for m in await desk.messages(kind="national_action") if m["recipient"] == "bruno"]
        assert "Chloé Bernard vous confie l'action demandée par MINSANTE n° 2026-120" in told["text"]
        refused = await desk.vigie.inbound.diffusion_command("alice", "followup", f"{ref} alice")
        assert not refused.ok and refused.text.startswith("Refusé")

        # Past its due time: the owner and the duty officer are told, once.
        await jump(desk, hours=4, minutes=1)
        await jump(desk, minutes=5)
        late = [m for m in await desk.messages(kind="national_action_late")]
        assert sorted(m["recipient"] for m in late) == ["bruno", "david"]
        assert late[0]["text"].startswith(f"Échéance dépassée : MINSANTE n° 2026-120 POUR ACTION ({ref})")

        done = await desk.vigie.inbound.diffusion_command(
            "bruno", "followup", f"{ref} fait Recensement transmis : 14 lits disponibles dans la région"
        )
        assert done.ok, done.text
        assert "Compte rendu : Recensement transmis : 14 lits disponibles dans la région" in done.text
        assert (
            f"Diffusion {diffusion} aux partenaires (ehpad-59) : 1/4 ont confirmé la réception, " in done.text
        )
        assert "1/4 ont réalisé l'action." in done.text
        assert "dépassée" in done.text and f"/suite {ref} envoyer" in done.text

        not_yours = await desk.vigie.inbound.diffusion_command("bruno", "followup", f"{ref} envoyer")
        assert not not_yours.ok
        sent = await desk.vigie.inbound.diffusion_command("chloe", "followup", f"{ref} envoyer")
        assert sent.ok, sent.text
        await desk.vigie.settle()
        [upward] = smtp.to("craps@ars-exemple.fr")
        assert str(upward["Subject"]) == f"[Vigie] Retour — MINSANTE n° 2026-120 — action réalisée ({ref})"
        body = body_of(upward)
        assert body.startswith("Retour — MINSANTE n° 2026-120 (POUR ACTION)")
        assert "sous la responsabilité de Bruno Petit" in body
        assert "Contact : ARS Hauts-de-France, PFR" in body
        shown = await desk.vigie.inbound.diffusion_command("alice", "followup", ref)
        assert "Retour envoyé le" in shown.text


CPTS_TG, DOUAI_TG, SAMU_SLACK, LABO_CHANNEL, BIOLOGIST = 700001, 700002, "U0SAMU59", "C0LABO001", "U0BIOLO1"
CHAT_PARTNERS = [
    {"id": "cpts-lille", "name": "CPTS Lille", "kind": "CPTS", "email": "alerte@cpts-lille.fr",
     "telegram_id": CPTS_TG, "groups": ["chat"]},
    {"id": "cpts-douai", "name": "CPTS Douai", "kind": "CPTS", "email": "alerte@cpts-douai.fr",
     "telegram_id": DOUAI_TG, "groups": ["chat"]},
    {"id": "samu-59", "name": "SAMU 59", "kind": "SAMU-C15", "email": "alerte@samu59.fr",
     "slack_id": SAMU_SLACK, "groups": ["chat"]},
    {"id": "labo-nord", "name": "Laboratoire Nord", "kind": "laboratoire", "email": "alerte@labo-nord.fr",
     "slack_id": LABO_CHANNEL, "groups": ["chat"]},
]  # fmt: skip


async def test_partners_on_telegram_and_slack_confirm_with_a_button(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.slack import FakeSlack
    from tests.fakes.telegram import FakeTelegram
    from tests.test_slack import SIGNING, SLACK_TOKEN, TG_TOKEN

    tg = FakeTelegram(TG_TOKEN)
    tg.user(CPTS_TG, "Inès")
    tg.user(DOUAI_TG, "Paul")
    slack = FakeSlack(SLACK_TOKEN, SIGNING)
    for user_id, name in ((SAMU_SLACK, "regulation"), (BIOLOGIST, "biologiste"), ("U0STRANGE", "mallory")):
        slack.user(user_id, name)
    monkeypatch.setenv("VIGIE_TELEGRAM_TOKEN", TG_TOKEN)
    monkeypatch.setenv("VIGIE_SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("VIGIE_SLACK_SIGNING_SECRET", SIGNING)
    monkeypatch.setenv("VIGIE_LINK_SECRET", "link-secret-for-tests")
    with FakeSmtp() as smtp:
        async with AsgiServer(tg.app) as tg_api, AsgiServer(slack.app) as slack_api:
            slack.url = slack_api.url
            config = make_config(
                people=PEOPLE,
                rosters=[ROSTER],
                ladders=[LADDER],
                duty_officers=["david"],
                partners=CHAT_PARTNERS,
                diffusion={
                    "steps": [
                        {"channel": "telegram", "after": "0s"},
                        {"channel": "slack", "after": "0s"},
                        {"channel": "email", "after": "10m"},
                    ],
                    "cycles": 1,
                },
                channels={
                    "console": {"enabled": True},
                    "telegram": {"enabled": True, "base_url": f"{tg_api.url}/bot", "poll_timeout": "1s"},
                    "slack": {"enabled": True, "base_url": f"{slack_api.url}/api/"},
                    "email": {
                        "enabled": True, "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                        "security": "none", "from_address": "vigie@ars-exemple.fr",
                    },
                },
            )  # fmt: skip
            async with running_vigie(
                db_url, config=config, clock=ManualClock(NIGHT), background=False
            ) as server:
                async with server.client() as client:
                    desk = DutyDesk(server, client, server.vigie.clock)  # type: ignore[arg-type]
                    events = f"{server.url}/slack/events"
                    said = await desk.vigie.inbound.diffusion_command(
                        "david", "diffuse", "action chat Point de situation COVID : renvoyez vos effectifs"
                    )
                    assert said.ok, said.text
                    ref = str(said.reference)
                    await desk.vigie.settle()

                    [cpts] = tg.from_bot(CPTS_TG)
                    assert cpts["text"].startswith(
                        "Point de situation COVID : renvoyez vos effectifs — POUR ACTION"
                    )
                    assert tg.buttons(cpts) == [
                        ("Je confirme la réception", f"dconfirm:{ref}"),
                        ("Action réalisée", f"ddone:{ref}"),
                    ]
                    await tg.press(CPTS_TG, cpts, f"dconfirm:{ref}")
                    [samu] = slack.dm(SAMU_SLACK)
                    [labo] = slack.in_channel(LABO_CHANNEL)  # a partner's own channel, not a DM
                    # Someone the message was not for presses the SAMU's button: nothing recorded.
                    stranger = await slack.press(events, "U0STRANGE", samu, "dconfirm")
                    assert stranger.status_code == 200
                    assert (await slack.press(events, SAMU_SLACK, samu, "dconfirm")).status_code == 200
                    pressed = await slack.press(events, BIOLOGIST, labo, "ddone", channel=LABO_CHANNEL)
                    assert pressed.status_code == 200

                    async def settled() -> dict[str, str]:
                        states = await state_of(desk, ref)
                        return (
                            states
                            if states["labo-nord"] != "envoye" and states["cpts-lille"] != "envoye"
                            else {}
                        )

                    states = await eventually(settled)
                    assert states == {
                        "cpts-lille": "confirme",
                        "cpts-douai": "envoye",
                        "samu-59": "confirme",
                        "labo-nord": "action-realisee",
                    }
                    texts = [r["text"] for r in slack.responses]
                    assert f"Ce compte n'est pas destinataire de {ref} : rien n'a été enregistré." in texts
                    [answer] = [c for c in tg.answered_callbacks() if "confirmée" in c.get("text", "")]
                    assert answer["text"].startswith(f"Réception de {ref} confirmée (CPTS Lille")
                    partners = {
                        p["partner"]: p
                        for p in (await client.get(f"/api/v1/diffusions/{ref}", headers=AUTH)).json()[
                            "partners"
                        ]
                    }
                    assert partners["cpts-lille"]["confirmed_via"] == "telegram"
                    assert partners["cpts-lille"]["confirmed_by"] == f"Telegram Inès ({CPTS_TG})"
                    assert partners["labo-nord"]["confirmed_via"] == "slack"

                    # Ten minutes on, only the one who did not press gets the mail.
                    await jump(desk, minutes=10)
                    assert [str(m["To"]) for m in smtp.collector.messages] == ["alerte@cpts-douai.fr"]
