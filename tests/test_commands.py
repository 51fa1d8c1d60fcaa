"""The duty desk's commands, through the shared grammar, channel-neutral."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain import OriginChannel
from bot.grammar import is_ack_reply, parse_command
from bot.intake import Origin
from tests.devices import DutyDesk, duty_desk
from tests.support import make_config
from tests.test_escalation import LADDER, PEOPLE, ROSTER


async def say(desk: DutyDesk, person: str, text: str) -> str:
    assert parse_command(text) is not None
    # The way every chat adapter hands a message in.
    reply = await desk.vigie.inbound.handle_message(
        person, text, Origin(OriginChannel.TELEGRAM, address="42", person_id=person)
    )
    await desk.vigie.settle()
    return reply.text


def config() -> Any:
    people = [*PEOPLE, {"id": "eve", "name": "Ève Leroy", "functions": ["secretariat"]}]
    return make_config(people=people, rosters=[ROSTER], ladders=[LADDER], duty_officers=["david"])


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("/prendre PFR-2026-000042", "ack", "PFR-2026-000042"),
        ("/ack pfr-2026-000042", "ack", "pfr-2026-000042"),
        ("/Escalader@vigie_pfr_bot PFR-2026-000001", "escalate", "PFR-2026-000001"),
        ("/statut", "status", ""),
        ("/astreinte", "oncall", ""),
        ("/oncall", "oncall", ""),
        ("/relais 12h", "relay", "12h"),
        ("/clore PFR-2026-000001 fausse alerte", "close", "PFR-2026-000001 fausse alerte"),
        ("/aide", "help", ""),
        ("/signal Fuite de gaz\nrue des Lilas", "signal", "Fuite de gaz\nrue des Lilas"),
        ("/nimportequoi", "unknown", ""),
    ],
)
def test_one_grammar_french_names_and_english_aliases(text: str, name: str, args: str) -> None:
    parsed = parse_command(text)
    assert parsed is not None and (parsed.name, parsed.args) == (name, args)


@pytest.mark.parametrize("text", ["ok", "OK !", "Je prends", "je prends.", "pris", "Prise", "oui"])
def test_replies_that_take_a_page(text: str) -> None:
    assert is_ack_reply(text)


@pytest.mark.parametrize("text", ["pas ok", "je ne prends pas", "qui ?", "ok mais plus tard"])
def test_replies_that_do_not(text: str) -> None:
    assert not is_ack_reply(text)


async def test_signal_ack_status_and_close_by_command(db_url: str) -> None:
    async with duty_desk(db_url, config()) as desk:
        alice = desk.device("alice")
        receipt = await say(desk, "bruno", "/signal Odeur de gaz au CH Sud\nplusieurs services touchés")
        assert receipt.startswith("Signal reçu, référence PFR-")
        ref = receipt.split("référence ")[1].split(".")[0]
        await alice.expect_page(ref, "Odeur de gaz au CH Sud")
        status = await say(desk, "david", "/statut")
        assert (
            f"{ref} · 24/11 03:12 · reçu · « Odeur de gaz au CH Sud » — étape 1/3 : Alice Martin appelé(s)"
            in status
        )
        assert (
            await say(desk, "alice", "/prendre")
            == "Précisez la référence du signal : /prendre PFR-2026-000042"
        )
        assert (
            await say(desk, "alice", f"/prendre {ref.lower()}")
            == f"{ref} pris en charge par Alice Martin à 03:12."
        )
        detail = await say(desk, "david", f"/statut {ref}")
        assert "pris en charge par Alice Martin" in detail
        assert "Pris en charge par Alice Martin (telegram)" in detail
        refused = await say(desk, "bruno", f"/clore {ref}")
        assert refused == (
            "Refusé : clore un signal est réservé aux fonctions cadre d'astreinte, responsable PFR, "
            "pilotage, décision (Bruno Petit : référent d'astreinte)."
        )
        assert await say(desk, "chloe", f"/clore {ref} fausse alerte") == f"{ref} clos par Chloé Bernard."
        state = await desk.signal_state(ref)
        assert state["status"] == "clos"
        assert state["history"][-1]["message"] == "Signal clos par Chloé Bernard : fausse alerte"
        assert "Aucun signal ouvert." == await say(desk, "david", "/statut")
        assert "Tapez /aide" in await say(desk, "david", "/nimportequoi")
        assert "/relais [durée]" in await say(desk, "david", "/aide")


async def test_relay_takes_the_duty_now_and_pages_follow(db_url: str) -> None:
    async with duty_desk(db_url, config()) as desk:
        alice, bruno = desk.device("alice"), desk.device("bruno")
        oncall = await say(desk, "bruno", "/astreinte")
        assert "titulaire          Alice Martin" in oncall
        assert await say(desk, "bruno", "/relais 3h") == (
            "Relais enregistré : vous êtes titulaire de l'astreinte « Astreinte PFR » jusqu'au 24/11 06:12."
        )
        await alice.expect("Bruno Petit prend le relais de l'astreinte « Astreinte PFR » (titulaire)")
        assert "titulaire          Bruno Petit" in await say(desk, "david", "/astreinte")
        ref = await desk.signal("Après le relais")
        await bruno.expect_page(ref, "titulaire")
        await alice.expect_nothing()
        # Three hours later the relay is over.
        await desk.advance(minutes=181)
        assert "titulaire          Alice Martin" in await say(desk, "david", "/astreinte")
        assert await say(desk, "eve", "/relais") == (
            "Refusé : prendre le relais de l'astreinte est réservé aux fonctions référent d'astreinte, "
            "cadre d'astreinte, responsable PFR (Ève Leroy : secrétariat)."
        )
        assert "durée illisible" in await say(desk, "bruno", "/relais demain")
