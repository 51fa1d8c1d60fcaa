"""Tchap / Matrix end to end, against a real Synapse: Vigie's matrix-nio client on one side, each
person's own matrix-nio client on the other, over real sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.crisis.models import EntryRow
from bot.crisis.store import entries, get_crisis
from bot.models import ChannelEventRow
from handlers.matrix import MatrixAdapter
from tests.devices import NIGHT, DutyDesk
from tests.matrix_homeserver import Homeserver, MatrixUser
from tests.matrix_people import MatrixPerson, unique
from tests.support import AUTH, eventually, make_config, running_vigie
from tests.tcp_proxy import TcpProxy
from tests.test_escalation import LADDER, ROSTER

NAMES = {"alice": "Alice Martin", "bruno": "Bruno Petit", "chloe": "Chloé Bernard", "david": "David Roux"}
FUNCTIONS = {
    "alice": ["referent"],
    "bruno": ["referent"],
    "chloe": ["cadre", "decision"],
    "david": ["responsable"],
}
CRISIS = {
    "cells": {
        "restreinte": {
            "roster": "pfr",
            "functions": {"decision": ["chloe"], "pilotage": ["titulaire"], "secretariat": ["david"]},
        }
    }
}


@dataclass
class Accounts:
    """One test's accounts on the session's homeserver: the bot and the desk's people."""

    server: Homeserver
    bot: MatrixUser
    people: dict[str, MatrixUser]
    stranger: MatrixUser
    root: Path
    encryption: bool = False
    phones: dict[str, MatrixPerson] = field(default_factory=dict)

    def config(self, homeserver: str | None = None, **overrides: Any) -> Any:
        people = [
            {
                "id": pid,
                "name": NAMES[pid],
                "functions": FUNCTIONS[pid],
                "contacts": {"matrix_id": user.user_id},
                # The duty officer is told on the console when Matrix itself is down.
                "notify": ["matrix", "console"] if pid == "david" else ["matrix"],
            }
            for pid, user in self.people.items()
        ]
        channels = {
            "console": {"enabled": True},
            "matrix": {
                "enabled": True,
                "homeserver": homeserver or self.server.url,
                "user_id": self.bot.user_id,
                "sync_timeout": "2s",
                "encryption": self.encryption,
                "store_dir": str(self.root / "vigie-store"),
            },
        }
        return make_config(
            people=people,
            rosters=[ROSTER],
            ladders=[LADDER],
            duty_officers=["david"],
            channels=channels,
            crisis=CRISIS,
            **overrides,
        )


def register(server: Homeserver, root: Path, *, encryption: bool = False) -> Accounts:
    return Accounts(
        server,
        server.register(unique("vigie")),
        {pid: server.register(unique(pid)) for pid in NAMES},
        server.register(unique("mallory")),
        root,
        encryption,
    )


@asynccontextmanager
async def phones(accounts: Accounts) -> AsyncIterator[dict[str, MatrixPerson]]:
    async with AsyncExitStack() as stack:
        for pid, user in [*accounts.people.items(), ("mallory", accounts.stranger)]:
            person = MatrixPerson(
                accounts.server, user, accounts.root / f"store-{pid}", encryption=accounts.encryption
            )
            await person.start()
            stack.push_async_callback(person.stop)
            accounts.phones[pid] = person
        yield accounts.phones


@asynccontextmanager
async def vigie_on(
    db_url: str,
    accounts: Accounts,
    monkeypatch: pytest.MonkeyPatch,
    clock: ManualClock | None = None,
    homeserver: str | None = None,
) -> AsyncIterator[DutyDesk]:
    monkeypatch.setenv("VIGIE_MATRIX_TOKEN", accounts.bot.access_token)
    clock = clock or ManualClock(NIGHT)
    config = accounts.config(homeserver)
    async with running_vigie(db_url, config=config, clock=clock, background=False) as server:
        async with server.client() as client:
            desk = DutyDesk(server, client, clock)
            adapter = next(a for a in server.vigie.adapters if a.name == "matrix")
            await eventually(lambda: adapter.serving, 20)  # type: ignore[attr-defined]
            yield desk


async def main_courante(desk: DutyDesk, reference: str) -> list[EntryRow]:
    async with desk.vigie.db.read_session() as session:
        crisis = await get_crisis(session, reference)
        assert crisis is not None and crisis.id is not None
        return await entries(session, crisis.id)


async def until_logged(desk: DutyDesk, reference: str, text: str) -> list[EntryRow]:
    async def found() -> list[EntryRow] | None:
        log = await main_courante(desk, reference)
        return log if any(text in e.text for e in log) else None

    return await eventually(found, 20)  # type: ignore[no-any-return]


async def test_a_page_reaches_alice_she_answers_ok_the_ladder_stops_and_brunos_page_is_edited(
    db_url: str, homeserver: Homeserver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = register(homeserver, tmp_path)
    async with phones(accounts) as people, vigie_on(db_url, accounts, monkeypatch) as desk:
        alice, bruno = people["alice"], people["bruno"]
        ref = await desk.signal("Fuite de chlore à la piscine municipale", severity="majeure")
        page = await alice.expect(ref, "Fuite de chlore", "Répondez « ok »")
        await desk.advance(minutes=5)  # nobody answered: the suppléant is paged too
        brunos = await bruno.expect(ref, "Fuite de chlore")
        assert brunos.room_id != page.room_id  # each in a direct room of their own

        await alice.say(page.room_id, "ok", reply_to=page.event_id)
        said = await alice.expect("pris en charge par", ref)
        assert said.room_id == page.room_id
        state = await desk.signal_state(ref)
        assert state["acknowledged_by"] == "alice"
        await desk.vigie.settle()
        edit = await bruno.expect_edit_of(brunos.event_id, "Alice Martin")
        assert "✅" in edit.content["m.new_content"]["body"]
        await desk.advance(minutes=30)  # the ladder stopped: nobody else is paged
        assert not [m for m in await desk.messages(recipient="chloe") if m["kind"] == "page"]

        # The direct room is remembered: the next page goes to the same room.
        ref2 = await desk.signal("Panne électrique au CH Nord")
        again = await alice.expect(ref2)
        assert again.room_id == page.room_id


async def test_a_check_mark_reaction_takes_the_signal_and_a_bare_2_escalates(
    homeserver: Homeserver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = register(homeserver, tmp_path)
    async with phones(accounts) as people, vigie_on(sqlite_url(tmp_path), accounts, monkeypatch) as desk:
        alice, bruno = people["alice"], people["bruno"]
        ref = await desk.signal("Eau non potable à Saint-Dié")
        page = await alice.expect(ref)
        await alice.say(page.room_id, "2")  # no reply needed: the last page of the room
        await alice.expect("escalad", within=15)
        await desk.vigie.settle()
        brunos = await bruno.expect(ref)
        await bruno.react(brunos.room_id, brunos.event_id, "✅")
        await bruno.expect("pris en charge par", ref)
        assert (await desk.signal_state(ref))["acknowledged_by"] == "bruno"


async def test_a_message_to_the_bot_is_a_signal_with_its_receipt_commands_take_a_bang_strangers_are_refused(
    homeserver: Homeserver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = register(homeserver, tmp_path)
    async with phones(accounts) as people, vigie_on(sqlite_url(tmp_path), accounts, monkeypatch) as desk:
        david, mallory = people["david"], people["mallory"]
        room = await david.open_direct(accounts.bot.user_id)
        await david.say(room, "Odeur de gaz signalée rue des Lilas, école évacuée")
        receipt = await david.expect("PFR-2026-", within=20)
        assert receipt.room_id == room
        signals = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        assert [s["title"] for s in signals] == ["Odeur de gaz signalée rue des Lilas, école évacuée"]
        assert signals[0]["reference"] in receipt.body

        await david.say(room, "!astreinte")
        await david.expect("Alice Martin", within=20)

        strange = await mallory.open_direct(accounts.bot.user_id)
        await mallory.say(strange, "Je veux tout savoir")
        refusal = await mallory.expect("pas enregistré dans l'annuaire", within=20)
        assert refusal.room_id == strange
        signals = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        assert len(signals) == 1  # the stranger made nothing


async def test_a_crisis_opened_from_a_signal_gets_its_room_and_every_event_is_logged_once(
    db_url: str, homeserver: Homeserver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = register(homeserver, tmp_path)
    async with phones(accounts) as people, vigie_on(db_url, accounts, monkeypatch) as desk:
        alice, chloe, david = people["alice"], people["chloe"], people["david"]
        ref = await desk.signal("Cas groupés de légionellose à l'EHPAD des Lilas", severity="majeure")
        await alice.expect(ref)
        room = await david.open_direct(accounts.bot.user_id)
        await david.say(room, f"!crise {ref} REB Légionellose à l'EHPAD des Lilas")
        opened = await david.expect("Crise CRISE-2026-0001 ouverte", within=20)
        assert opened.room_id == room
        crisis = "CRISE-2026-0001"
        await desk.vigie.settle()
        brief = await chloe.expect(crisis, "Légionellose", within=20)  # pinned in the new room
        client = accounts.server
        state = client._request(
            "GET", f"/_matrix/client/v3/rooms/{brief.room_id}/state", token=accounts.bot.access_token
        )
        by_type = {(e["type"], e.get("state_key")): e["content"] for e in state}
        # The homeserver outlives the test: a name already taken gets a suffix, as on Slack.
        name = by_type[("m.room.name", "")]["name"]
        assert name.startswith("crise-2026-11-24-legionellose-a-l-ehpad-des-lilas")
        assert "Légionellose" in by_type[("m.room.topic", "")]["topic"]
        assert by_type[("m.room.pinned_events", "")]["pinned"] == [brief.event_id]
        assert by_type[("m.room.canonical_alias", "")]["alias"] == f"#{name}:vigie.test"
        powers = by_type[("m.room.power_levels", "")]["users"]
        for pid in ("david", "chloe", "alice"):  # the opener, décision, pilotage
            assert powers[accounts.people[pid].user_id] == 50
        invited = {
            key
            for (kind, key), content in by_type.items()
            if kind == "m.room.member" and content["membership"]
        }
        assert {accounts.people[p].user_id for p in ("alice", "chloe", "david")} <= invited

        await until_logged(desk, crisis, "Chloé Bernard rejoint la cellule (matrix)")
        said = await chloe.say(brief.room_id, "Trois résidents hospitalisés au CH Sud")
        wrong = await chloe.say(brief.room_id, "Réunion à 9h")
        await chloe.edit(brief.room_id, wrong, "Réunion à 10h")
        oops = await chloe.say(brief.room_id, "Message envoyé par erreur")
        await until_logged(desk, crisis, "Message envoyé par erreur")
        await chloe.redact(brief.room_id, oops)
        await chloe.say(brief.room_id, "!decision Fermeture de l'accueil de jour")
        log = await until_logged(desk, crisis, "Fermeture de l'accueil de jour")
        log = await until_logged(desk, crisis, "il disait : Message envoyé par erreur")
        texts = [e.text for e in log]
        assert texts.count("Trois résidents hospitalisés au CH Sud") == 1
        assert "Correction de l'entrée n° " in " ".join(texts)
        correction = next(e for e in log if "Réunion à 10h" in e.text)
        original = next(e for e in log if e.text == "Réunion à 9h")
        assert (correction.kind, correction.refers_to) == ("correction", original.number)
        decision = next(e for e in log if "Fermeture" in e.text)
        assert (decision.kind, decision.author_label) == ("decision", "Chloé Bernard")
        first = next(e for e in log if e.text == "Trois résidents hospitalisés au CH Sud")
        assert (first.origin, first.author_label, first.platform_key) == (
            "matrix",
            "Chloé Bernard",
            f"matrix:{brief.room_id}:{said}",
        )
        _, verdict = await desk.vigie.cell.verify(crisis)
        assert verdict.ok and verdict.count == len(await main_courante(desk, crisis))

        # A function given later: its holder moderates the room too, and the topic says so.
        await david.say(brief.room_id, "!role pilotage Bruno Petit")
        await until_logged(desk, crisis, "pilotage")

        def room_state() -> dict[tuple[str, str], Any]:
            events = client._request(
                "GET", f"/_matrix/client/v3/rooms/{brief.room_id}/state", token=accounts.bot.access_token
            )
            return {(e["type"], e.get("state_key")): e["content"] for e in events}

        async def bruno_moderates() -> bool:
            await desk.vigie.settle()
            users = room_state()[("m.room.power_levels", "")]["users"]
            return bool(users.get(accounts.people["bruno"].user_id) == 50)

        await eventually(bruno_moderates, 20)
        assert "Bruno Petit" in room_state()[("m.room.topic", "")]["topic"]


async def test_a_restart_of_vigie_in_the_middle_loses_and_doubles_nothing(
    db_url: str, homeserver: Homeserver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = register(homeserver, tmp_path)
    clock = ManualClock(NIGHT)
    async with phones(accounts) as people:
        david = people["david"]
        room = await david.open_direct(accounts.bot.user_id)
        async with vigie_on(db_url, accounts, monkeypatch, clock) as desk:
            await david.say(room, "Premier signal avant l'arrêt")
            await david.expect("PFR-2026-000001", within=20)
        # Vigie is down: David goes on writing; the homeserver keeps it.
        await david.say(room, "Deuxième signal pendant l'arrêt")
        await david.say(room, "Troisième signal pendant l'arrêt")
        async with vigie_on(db_url, accounts, monkeypatch, clock) as desk:
            await david.expect("PFR-2026-000002", within=20)
            await david.expect("PFR-2026-000003", within=20)
            signals = (await desk.client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
            assert sorted(s["title"] for s in signals) == [
                "Deuxième signal pendant l'arrêt",
                "Premier signal avant l'arrêt",
                "Troisième signal pendant l'arrêt",
            ]
            async with desk.vigie.db.read_session() as session:
                from sqlmodel import select

                handled = (await session.exec(select(ChannelEventRow.key))).all()
            assert len(handled) == len(set(handled)) >= 3
        with pytest.raises(AssertionError):  # no fourth receipt: nothing was handled twice
            await david.expect("PFR-2026-", within=2)


async def test_an_encrypted_crisis_room_is_logged_in_clear_in_the_main_courante(
    homeserver: Homeserver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = register(homeserver, tmp_path, encryption=True)
    async with phones(accounts) as people, vigie_on(sqlite_url(tmp_path), accounts, monkeypatch) as desk:
        alice, chloe = people["alice"], people["chloe"]
        ref = await desk.signal("Intoxication au monoxyde de carbone, 12 personnes")
        page = await alice.expect(ref, within=20)  # an encrypted direct room, read by Alice's device
        assert page.content.get("msgtype") == "m.text"
        reply = await desk.vigie.inbound.crisis_command(
            "crisis", f"{ref} Intoxication CO à Épinal", _speaker("chloe")
        )
        crisis = str(reply.reference)
        await desk.vigie.settle()
        brief = await chloe.expect(crisis, "Intoxication", within=30)
        state = accounts.server._request(
            "GET", f"/_matrix/client/v3/rooms/{brief.room_id}/state", token=accounts.bot.access_token
        )
        assert any(e["type"] == "m.room.encryption" for e in state)
        await alice.expect(crisis, "Intoxication", within=30)
        await until_logged(desk, crisis, "Alice Martin rejoint la cellule (matrix)")
        await chloe.say(brief.room_id, "Douze personnes transportées au CH d'Épinal")
        log = await until_logged(desk, crisis, "Douze personnes transportées au CH d'Épinal")
        entry = next(e for e in log if "Douze personnes" in e.text)
        assert entry.author_label == "Chloé Bernard"
        assert not [e for e in log if "illisible" in e.text]

        # A message whose key never reaches Vigie (a client that withholds it): logged as such,
        # with its sender and time, never dropped in silence.
        monkeypatch.setattr(MatrixAdapter, "decrypt_wait", 1.0)
        withheld = {
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": "AwgAEnB2Y2xlIGZhdXg",
            "sender_key": "c2VuZGVyLWtleS1pbmNvbm51ZQ",
            "session_id": "c2Vzc2lvbi1pbmNvbm51ZQ",
            "device_id": "INCONNU",
        }
        accounts.server._request(
            "PUT",
            f"/_matrix/client/v3/rooms/{brief.room_id}/send/m.room.encrypted/withheld-1",
            withheld,
            token=accounts.people["chloe"].access_token,
        )
        log = await until_logged(desk, crisis, "message chiffré illisible par Vigie")
        unreadable = next(e for e in log if "illisible" in e.text)
        assert accounts.people["chloe"].user_id in unreadable.text
        assert unreadable.author_label == "Chloé Bernard" and "/2026" in unreadable.text
        _, verdict = await desk.vigie.cell.verify(crisis)
        assert verdict.ok


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}"


def _speaker(person: str) -> Any:
    from bot.crisis.commands import Speaker

    return Speaker(person, "cli")


async def test_with_two_instances_one_syncs_and_the_other_takes_over_when_it_stops(
    pg_url: str, homeserver: Homeserver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = register(homeserver, tmp_path)
    async with phones(accounts) as people:
        david = people["david"]
        room = await david.open_direct(accounts.bot.user_id)
        monkeypatch.setenv("VIGIE_MATRIX_TOKEN", accounts.bot.access_token)
        clock = ManualClock(NIGHT)
        async with AsyncExitStack() as both:
            first = await both.enter_async_context(
                running_vigie(pg_url, config=accounts.config(), clock=clock, background=False)
            )
            async with running_vigie(
                pg_url, config=accounts.config(), clock=clock, background=False
            ) as second:
                adapters = [
                    next(a for a in server.vigie.adapters if a.name == "matrix") for server in (first, second)
                ]
                await eventually(lambda: any(a.serving for a in adapters), 20)  # type: ignore[attr-defined]
                assert [a.serving for a in adapters] == [True, False]  # type: ignore[attr-defined]
                await david.say(room, "Premier signal, deux instances")
                await david.expect("PFR-2026-000001", within=20)
                await both.aclose()  # the syncing instance stops; the other holds the lease next
                await eventually(lambda: adapters[1].serving, 30)  # type: ignore[attr-defined]
                await david.say(room, "Deuxième signal, après la relève")
                await david.expect("PFR-2026-000002", within=20)
                async with second.client() as client:
                    signals = (await client.get("/api/v1/signals", headers=AUTH)).json()["signals"]
                assert sorted(s["title"] for s in signals) == [
                    "Deuxième signal, après la relève",
                    "Premier signal, deux instances",
                ]
        with pytest.raises(AssertionError):  # nothing handled twice by the two instances
            await david.expect("PFR-2026-", within=2)


async def test_a_homeserver_gone_mid_run_degrades_the_channel_the_desk_is_told_and_it_comes_back(
    homeserver: Homeserver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = register(homeserver, tmp_path)
    proxy = TcpProxy(homeserver.port)
    await proxy.up()
    async with (
        phones(accounts) as people,
        vigie_on(sqlite_url(tmp_path), accounts, monkeypatch, homeserver=proxy.url) as desk,
    ):
        david = people["david"]
        room = await david.open_direct(accounts.bot.user_id)
        await proxy.down()

        async def told(word: str) -> list[dict[str, Any]]:
            await desk.vigie.settle()
            notices = await desk.messages(recipient="david", kind="channel")
            return [m for m in notices if word in m["text"] and m["state"] == "delivered"]

        down = await eventually(lambda: told("matrix"), 20)
        assert down[0]["channel"] == "console"  # not on the channel that is down
        health = (await desk.client.get("/healthz")).json()
        assert health["channels"]["matrix"]["state"] == "degraded"
        await david.say(room, "Signal écrit pendant la panne du serveur")  # kept by the homeserver
        await proxy.up()
        await david.expect("PFR-2026-000001", within=40)  # resumed, with back-off
        assert (await desk.client.get("/healthz")).json()["channels"]["matrix"]["state"] == "up"
        assert len(await told("matrix")) == 2  # down, then back: once each


def test_a_malformed_matrix_id_or_a_bot_without_its_account_is_a_clear_configuration_error() -> None:
    from bot.config import ConfigError

    person = {"id": "alice", "name": "Alice Martin", "contacts": {"matrix_id": "alice.martin@tchap"}}
    with pytest.raises(ConfigError) as caught:
        make_config(people=[person])
    assert "matrix_id" in caught.value.render()
    with pytest.raises(ConfigError) as caught:
        make_config(channels={"matrix": {"enabled": True}})
    assert "l'identifiant du compte du bot" in caught.value.render()
    good = {**person, "contacts": {"matrix_id": "@alice.martin-ars-exemple.fr:agent.tchap.gouv.fr"}}
    assert make_config(people=[good]).people[0].contacts.matrix_id == good["contacts"]["matrix_id"]


async def test_a_contact_check_reaches_each_tchap_account_and_is_confirmed_by_reply_or_reaction(
    homeserver: Homeserver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = register(homeserver, tmp_path)
    async with phones(accounts) as people, vigie_on(sqlite_url(tmp_path), accounts, monkeypatch) as desk:
        started = await desk.vigie.drills.contacts.start("david")
        assert started.ok, started.text
        await desk.vigie.settle()
        alice, bruno = people["alice"], people["bruno"]
        alices = await alice.expect("test de joignabilité de votre compte Tchap", "Répondez T", within=20)
        code = alices.body.split("Répondez ")[1].split()[0]
        await alice.say(alices.room_id, code)
        await alice.expect("confirm", within=20)
        brunos = await bruno.expect("test de joignabilité de votre compte Tchap", within=20)
        await bruno.react(brunos.room_id, brunos.event_id, "✅")
        await bruno.expect("confirm", within=20)
        async with desk.vigie.db.read_session() as session:
            from sqlmodel import select

            from bot.drills.models import ContactProbeRow

            probes = (await session.exec(select(ContactProbeRow))).all()
        confirmed = {p.person_id for p in probes if p.channel == "matrix" and p.confirmed_at is not None}
        assert confirmed == {"alice", "bruno"}


async def test_handled_event_marks_are_kept_a_week_then_pruned(db_url: str) -> None:
    from datetime import timedelta

    from bot import migrate
    from bot.channel_state import ChannelState
    from bot.db import Database

    db = Database(db_url)
    await migrate.upgrade(db)
    state = ChannelState(db, "matrix")
    await state.mark("$ancien", NIGHT - timedelta(days=8))
    await state.mark("$recent", NIGHT - timedelta(days=1))
    await state.mark("$recent", NIGHT)  # marking twice is harmless
    await state.prune(NIGHT)
    assert await state.handled(["$ancien", "$recent", "$jamais"]) == {"$recent"}
    await state.put("sync_token", "s1", NIGHT)
    await state.put("sync_token", "s2", NIGHT)
    assert await state.get("sync_token") == "s2"
    await db.dispose()
