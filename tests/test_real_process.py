"""The real ``vigie serve`` process, started as a user starts it, with every channel it documents
enabled at once against the local fakes over real sockets: Telegram, Slack, Twilio SMS and voice,
e-mail out and the "alerte" mailbox.

A green suite once hid a service that could not start with Twilio enabled (the tests built the
app inside a running loop; the real process did not) and one that would not start while Telegram
was unreachable. These tests run the process itself, so that class of defect shows here first.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections import Counter
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.telegram import FakeTelegram
from tests.matrix_homeserver import Homeserver
from tests.matrix_people import MatrixPerson, unique
from tests.processes import ServeProcess
from tests.realdesk import ALICE, BRUNO, RealDesk, desk_config, providers, real_desk, secrets_env
from tests.support import AUTH, TOKEN, eventually, free_port


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}"


async def page_and_take_on_every_channel(entry: RealDesk, desk: RealDesk) -> list[str]:
    """One signal per channel kind, raised on ``entry``; Alice takes each one on that channel
    (the callbacks reach ``desk``), and Bruno, paged with her, is told. Returns the references."""
    refs = []

    async def taken(ref: str) -> bool:
        return await entry.acknowledged_by(ref) == "alice"

    async def recorded(ref: str, channel: str) -> bool:
        """Alice's page is on record as delivered (a person presses seconds later, not within
        the milliseconds between the provider's answer and Vigie's commit)."""
        pages = await entry.outbox(kind="page", signal=ref, recipient="alice", channel=channel)
        return any(m["state"] == "delivered" for m in pages)

    # Telegram: the « Je prends » button; Bruno's page is edited.
    ref = await entry.signal("Cas groupés de légionellose, CH Nord", "via-telegram")
    page = await desk.telegram_page(ALICE, ref)
    assert ("Je prends", f"ack:{ref}") in FakeTelegram.buttons(page)
    await eventually(lambda: recorded(ref, "telegram"), 15)
    await desk.fakes.telegram.press(int(ALICE["tg"]), page, f"ack:{ref}")
    await eventually(lambda: taken(ref), 15)
    await eventually(
        lambda: any(
            "Pris en charge par Alice Martin" in m["text"] and ref in m["text"]
            for m in desk.fakes.telegram.from_bot(int(BRUNO["tg"]))
        ),
        15,
    )
    refs.append(ref)

    # Slack: the button in the DM; Bruno's DM page is updated.
    ref = await entry.signal("Panne du réseau d'eau chaude, CH Sud", "via-slack")
    page = await desk.slack_page(ALICE, ref)
    await eventually(lambda: recorded(ref, "slack"), 15)
    await desk.slack_press(ALICE, page, "ack")
    await eventually(lambda: taken(ref), 15)
    await eventually(
        lambda: any(
            "Pris en charge par Alice Martin" in m["text"] and ref in m["text"]
            for m in desk.fakes.slack.dm(str(BRUNO["slack"]))
        ),
        15,
    )
    refs.append(ref)

    # SMS: the reply code; Alice gets a confirmation, Bruno a notice.
    ref = await entry.signal("Intoxication au monoxyde de carbone, 3 personnes", "via-sms")
    code = int(ref.rsplit("-", 1)[1])
    await desk.sms_to(ALICE, f"Répondez {code} pour prendre en charge")
    await desk.sms_from(ALICE, f"{code}")
    await desk.sms_to(ALICE, f"Vigie : {ref} pris en charge par Alice Martin")
    await desk.sms_to(BRUNO, "Pris en charge par Alice Martin à")
    assert await entry.acknowledged_by(ref) == "alice"
    refs.append(ref)

    # Voice: key 1 during the call; Bruno is told on the channel his page reached him on.
    ref = await entry.signal("Incendie dans un EHPAD, évacuation en cours", "via-voice")
    call = await desk.call_to(ALICE)
    assert "vous prenez en charge" in await desk.press_key(call, "1")
    await eventually(lambda: taken(ref), 15)
    await eventually(lambda: desk.told("bruno", ref), 15)
    refs.append(ref)

    # E-mail: the signed link (GET shows one button, POST acts); Bruno gets a mail.
    ref = await entry.signal("Rupture de stock d'un médicament, pharmacie hospitalière", "via-email")
    mail = await desk.mail_to(ALICE, ref)
    link = desk.mail_link(mail, "Prendre en charge")
    async with httpx.AsyncClient(timeout=10) as client:
        shown = await client.get(link)
        assert shown.status_code == 200 and "<form method='post'>" in shown.text
        assert await entry.acknowledged_by(ref) is None  # opening the link takes nothing
        done = await client.post(link)
        assert done.status_code == 200, done.text
    await eventually(lambda: taken(ref), 15)
    await desk.mail_to(BRUNO, "Pris en charge par Alice Martin à")
    refs.append(ref)
    return refs


async def page_and_take_on_matrix(desk: RealDesk, alice: MatrixPerson, bruno: MatrixPerson) -> str:
    """Tchap: Alice answers « ok » to her page in her direct room; Bruno's page is edited."""
    ref = await desk.signal("Contamination d'un réseau d'eau, commune de Bar", "via-matrix")
    page = await alice.expect(ref, "Répondez « ok »", within=20)
    brunos = await bruno.expect(ref, within=20)
    await alice.say(page.room_id, "ok", reply_to=page.event_id)
    await alice.expect("pris en charge par Alice Martin", within=20)
    await bruno.expect_edit_of(brunos.event_id, "Pris en charge par Alice Martin", within=20)
    assert await desk.acknowledged_by(ref) == "alice"
    return ref


async def every_inbound_way_gets_its_receipt(desk: RealDesk) -> None:
    """A signal by Telegram, Slack DM, SMS and mail gets its reference back the way it came."""
    receipt = "Signal reçu, référence PFR-"
    await desk.fakes.telegram.send_text(int(ALICE["tg"]), "Fuite de chlore à la piscine municipale")
    await eventually(
        lambda: any(receipt in m["text"] for m in desk.fakes.telegram.from_bot(int(ALICE["tg"]))), 15
    )
    await desk.slack_dm(ALICE, "Coupure d'électricité au centre hospitalier")
    await eventually(lambda: any(receipt in m["text"] for m in desk.fakes.slack.dm(str(ALICE["slack"]))), 15)
    await desk.sms_from(ALICE, "Malaise collectif au collège Jean Moulin")
    await desk.sms_to(ALICE, receipt)
    await desk.mail_alerte(ALICE, "Cas de rougeole dans une crèche", "Trois enfants, signalé par la PMI.")
    await desk.mail_to(ALICE, receipt)


def assert_clean_stop(process: ServeProcess, status: int | None) -> None:
    output = process.output()
    assert status == 0, output[-3000:]
    assert '"event": "vigie_stopped"' in output
    assert "Unclosed" not in output  # every client session closed
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("telegram_mode", "slack_socket"),
    [("polling", False), ("webhook", True)],
    ids=["telegram-polling+slack-http", "telegram-webhook+slack-socket"],
)
async def test_every_channel_at_once_in_the_real_process(
    tmp_path: Path, telegram_mode: str, slack_socket: bool, homeserver: Homeserver
) -> None:
    bot, alice_mx, bruno_mx = (homeserver.register(unique(n)) for n in ("vigie", "alice", "bruno"))
    matrix = {
        "channel": {
            "enabled": True,
            "homeserver": homeserver.url,
            "user_id": bot.user_id,
            "sync_timeout": "2s",
            "store_dir": str(tmp_path / "matrix-store"),
        },
        "ids": {"alice": alice_mx.user_id, "bruno": bruno_mx.user_id},
        "token": bot.access_token,
    }
    async with (
        providers() as fakes,
        MatrixPerson(homeserver, alice_mx, tmp_path / "alice-mx", encryption=True) as alice_phone,
        MatrixPerson(homeserver, bruno_mx, tmp_path / "bruno-mx", encryption=True) as bruno_phone,
        # DEBUG: the level at which libraries log the most, tokens in URLs included.
        real_desk(
            sqlite_url(tmp_path),
            tmp_path,
            fakes,
            telegram_mode=telegram_mode,
            slack_socket=slack_socket,
            log_level="DEBUG",
            matrix=matrix,
        ) as desk,
    ):
        health = await desk.health()
        assert health["status"] == "ok", health
        assert {c: s["state"] for c, s in health["channels"].items()} == {
            "telegram": "up",
            "slack": "up",
            "sms": "up",
            "voice": "up",
            "email": "up",
            "mailbox": "up",
            "matrix": "up",
        }
        refs = await page_and_take_on_every_channel(desk, desk)
        refs.append(await page_and_take_on_matrix(desk, alice_phone, bruno_phone))
        await every_inbound_way_gets_its_receipt(desk)
        room = await alice_phone.open_direct(bot.user_id)
        await alice_phone.say(room, "Légionellose suspectée au gymnase")
        await alice_phone.expect("Signal reçu, référence PFR-", within=20)
        pages = Counter(
            (m["signal"], m["recipient"]) for m in await desk.outbox(kind="page") if m["signal"] in refs
        )
        assert set(pages.values()) == {1} and len(pages) == 12  # Alice and Bruno, once per signal
        status = await desk.process.stop()
    assert_clean_stop(desk.process, status)
    output = desk.process.output()
    assert '"level": "debug"' in output  # the libraries did talk…
    secrets = {**secrets_env(slack_socket), "test API token": TOKEN, "Matrix token": bot.access_token}
    for name, secret in secrets.items():
        assert secret not in output, f"{name} in the log"  # …and no secret reached a line
    assert "[secret]" in output  # httpx's Bot API URLs, scrubbed


async def test_two_instances_on_postgresql_with_every_channel(pg_url: str, tmp_path: Path) -> None:
    """Telegram in webhook mode (two pollers on one bot conflict), Slack over HTTP. Signals go in
    through one instance, the platforms call the other back: each page is sent exactly once."""
    async with (
        providers() as fakes,
        real_desk(pg_url, tmp_path, fakes, telegram_mode="webhook", name="a") as a,
        real_desk(pg_url, tmp_path, fakes, telegram_mode="webhook", name="b") as b,
    ):
        # Telegram calls back the instance that registered last.
        webhook = fakes.telegram.webhook
        assert webhook is not None
        callbacks = b if webhook["url"].startswith(b.url) else a
        entry = a if callbacks is b else b
        refs = await page_and_take_on_every_channel(entry, callbacks)
        await every_inbound_way_gets_its_receipt(entry)
        pages = Counter(
            (m["signal"], m["recipient"]) for m in await a.outbox(kind="page") if m["signal"] in refs
        )
        assert set(pages.values()) == {1} and len(pages) == 10

        def telegram_pages(ids: dict[str, object]) -> list[str]:
            chat = fakes.telegram.from_bot(int(str(ids["tg"])))
            return [m["text"] for m in chat if m["text"].startswith(f"Signal {refs[0]}")]

        for ids in (ALICE, BRUNO):  # one page each, edited in place once taken
            await eventually(
                lambda ids=ids: "✅ Pris en charge par Alice Martin" in telegram_pages(ids)[0], 10
            )
            assert len(telegram_pages(ids)) == 1
        statuses = await asyncio.gather(a.process.stop(), b.process.stop())
    for desk, status in zip((a, b), statuses, strict=True):
        assert_clean_stop(desk.process, status)


# --- a provider down does not take the desk down --------------------------------------------

# provider -> (channels it serves, Alice's fallback channel, where David's notice lands)
OUTAGES = {
    "telegram": (["telegram"], "sms", "email"),
    "slack": (["slack"], "sms", "telegram"),
    "twilio": (["sms", "voice"], "telegram", "telegram"),
    "smtp": (["email"], "telegram", "telegram"),
}


@pytest.mark.parametrize("provider", list(OUTAGES))
async def test_a_provider_down_at_start_degrades_its_channel_and_it_recovers(
    tmp_path: Path, provider: str
) -> None:
    channels, fallback, notice_on = OUTAGES[provider]
    async with providers(down=(provider,)) as fakes:
        port, mailbox = free_port(), free_port()
        # Alice's own preferences: the degraded channel first, the fallback only after 10 minutes.
        config = desk_config(
            tmp_path / "vigie.yaml",
            fakes,
            public_url=f"http://127.0.0.1:{port}",
            mailbox_port=mailbox,
            alice_notify=[channels[0], {"channel": fallback, "after": "10m"}],
        )
        process = ServeProcess(
            sqlite_url(tmp_path), config, tmp_path / "vigie.log", env=secrets_env(), port=port
        )
        started = time.monotonic()
        await process.start()
        assert time.monotonic() - started < 15  # no waiting for the provider
        desk = RealDesk(fakes, process, mailbox, slack_socket=False)
        try:
            health = await desk.health()
            assert health["status"] == "degraded"  # …and still 200: the desk is up
            for channel in channels:
                assert health["channels"][channel]["state"] == "degraded"
            metrics = (await desk.http.get("/metrics")).text
            assert f'vigie_channel_up{{channel="{channels[0]}"}} 0.0' in metrics

            # The duty officer is told once, on a channel that works.
            async def told_down() -> list[dict[str, object]] | None:
                found = await _channel_notices(desk, "indisponible")
                return found if len(found) >= len(channels) else None

            notices = await eventually(told_down, 15)
            assert [n["channel"] for n in notices] == [notice_on] * len(channels)  # one per channel
            assert all(
                f"le canal {c} est indisponible" in str(n["text"])
                for n, c in zip(notices, channels, strict=True)
            )

            # A page meanwhile fails over to Alice's next channel at once, not after 10 minutes.
            ref = await desk.signal("Signal pendant la panne", "alice")
            await eventually(lambda: _delivered_on(desk, ref, fallback), 15)
            history = (await desk.http.get(f"/api/v1/signals/{ref}", headers=AUTH)).json()["history"]
            assert any(f"canal {channels[0]} indisponible" in e["message"] for e in history)

            # The provider comes back: the channel resumes by itself, and the officer is told.
            await fakes.up(provider)
            await eventually(lambda: _state(desk, "ok"), 20)
            metrics = (await desk.http.get("/metrics")).text
            assert f'vigie_channel_up{{channel="{channels[0]}"}} 1.0' in metrics
            await eventually(lambda: _channel_notices(desk, "rétabli"), 15)
            ref = await desk.signal("Signal après la panne", "alice")
            await eventually(lambda: _delivered_on(desk, ref, channels[0]), 15)
            status = await process.stop()
        finally:
            await desk.close()
            await process.stop()
    assert_clean_stop(process, status)


async def _state(desk: RealDesk, status: str) -> bool:
    return (await desk.health())["status"] == status


async def _channel_notices(desk: RealDesk, word: str) -> list[dict[str, object]]:
    return [
        m
        for m in await desk.outbox(recipient="david", kind="channel")
        if word in str(m["text"]) and m["state"] in ("delivered", "sent")
    ]


async def _delivered_on(desk: RealDesk, ref: str, channel: str) -> bool:
    return any(
        m["channel"] == channel and m["state"] in ("delivered", "sent")
        for m in await desk.outbox(kind="page", signal=ref, recipient="alice")
    )


# --- stopping -----------------------------------------------------------------------------


async def test_sigterm_mid_delivery_sends_nothing_twice_and_loses_nothing(tmp_path: Path) -> None:
    async with providers() as fakes:
        fakes.telegram.send_delay = 0.8  # a slow Bot API: SIGTERM lands while a page is in flight
        port, mailbox = free_port(), free_port()
        # One message in flight at a time: SIGTERM then finds messages claimed but not yet tried,
        # which must go back to the queue (with several at once, these are rarer but the same).
        config = desk_config(
            tmp_path / "vigie.yaml", fakes, public_url=f"http://127.0.0.1:{port}", mailbox_port=mailbox,
            extra={"delivery": {"parallel": 1}},
        )  # fmt: skip
        first = ServeProcess(
            sqlite_url(tmp_path), config, tmp_path / "first.log", env=secrets_env(), port=port
        )
        await first.start()
        desk = RealDesk(fakes, first, mailbox, slack_socket=False)
        refs = [await desk.signal(f"Signal {n}", "via-telegram") for n in range(3)]
        await desk.close()
        await eventually(lambda: any(c.method == "sendMessage" for c in fakes.telegram.calls), 10)
        stopping = time.monotonic()
        status = await first.stop()
        assert time.monotonic() - stopping < 10
        assert_clean_stop(first, status)
        assert '"event": "delivery_released"' in first.output()  # the rest went back to the queue

        second = ServeProcess(
            sqlite_url(tmp_path), config, tmp_path / "second.log", env=secrets_env(), port=port
        )
        await second.start()
        desk = RealDesk(fakes, second, mailbox, slack_socket=False)
        try:

            def pages_shown() -> Counter[tuple[str, int]]:
                return Counter(
                    (ref, chat)
                    for chat in (int(ALICE["tg"]), int(BRUNO["tg"]))
                    for m in fakes.telegram.from_bot(chat)
                    for ref in refs
                    if m["text"].startswith(f"Signal {ref}")
                )

            async def states() -> Counter[str]:
                return Counter(m["state"] for m in await desk.outbox(kind="page") if m["signal"] in refs)

            await eventually(lambda: len(pages_shown()) == 6, 30)
            await eventually(lambda: _equal(states(), Counter({"delivered": 6})), 10)
            assert set(pages_shown().values()) == {1}  # each page once: none doubled, none lost
        finally:
            await desk.close()
            assert_clean_stop(second, await second.stop())


async def _equal(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def test_a_crisis_cell_through_the_real_process(tmp_path: Path) -> None:
    """Opened over HTTP; its Slack channel and Telegram topic made by the running service; fed
    from the channel, the topic, an SMS and a mail; exported over HTTP; verified by the CLI."""
    from pypdf import PdfReader

    from tests.realdesk import DAVID, FORUM
    from tests.test_cli import run_cli

    url = sqlite_url(tmp_path)
    async with providers() as fakes, real_desk(url, tmp_path, fakes, crisis=True) as desk:
        opened = await desk.http.post(
            "/api/v1/crises",
            headers=AUTH,
            json={"person": "david", "title": "Intoxication au CO, école Jules Ferry"},
        )
        assert opened.status_code == 201, opened.text
        crisis = opened.json()["reference"]
        assert crisis == "CRISE-2026-0001"
        channel = await eventually(lambda: fakes.slack.channel_named("crise-"), 20)
        thread = await eventually(lambda: fakes.telegram.topic_named(FORUM, "crise-"), 20)
        assert channel["name"].endswith("-intoxication-au-co-ecole-jules-ferry")
        # Alice, pilotage, is called on her first channel (Telegram) and joins with the button.
        call = await eventually(
            lambda: next((m for m in fakes.telegram.from_bot(int(ALICE["tg"])) if crisis in m["text"]), None),
            20,
        )
        assert ("Je rejoins", f"join:{crisis}") in FakeTelegram.buttons(call)
        await fakes.telegram.press(int(ALICE["tg"]), call, f"join:{crisis}")

        async def crisis_state() -> dict[str, Any]:
            return dict((await desk.http.get(f"/api/v1/crises/{crisis}", headers=AUTH)).json())

        async def armed() -> bool:
            return bool((await crisis_state())["armed_at"])

        # David is décision and opened it: armed as soon as Alice is in.
        await eventually(armed, 20)
        await fakes.slack.channel_message(
            f"{desk.url}/slack/events", str(ALICE["slack"]), channel["id"], "Trois classes évacuées"
        )
        await fakes.telegram.post_in_topic(int(ALICE["tg"]), FORUM, thread, "/decision Fermeture de l'école")
        await desk.sms_from(ALICE, f"{crisis} Deux enfants transférés au CH Sud")
        await desk.mail_alerte(DAVID, "MC point avec la mairie", "La mairie ouvre un gymnase.")

        async def origins() -> set[str] | None:
            found = {e["origin"] for e in (await crisis_state())["entries"]}
            return found if {"slack", "telegram", "sms", "email"} <= found else None

        await eventually(origins, 20)
        entries = (await crisis_state())["entries"]
        texts = {e["origin"]: e["text"] for e in entries if e["origin"] != "system"}
        assert texts == {
            "slack": "Trois classes évacuées",
            "telegram": "Fermeture de l'école",
            "sms": "Deux enfants transférés au CH Sud",
            "email": "point avec la mairie\nLa mairie ouvre un gymnase.",
        }
        await desk.sms_to(ALICE, f"enregistrée dans la main courante de {crisis}")
        # What came by SMS and mail is echoed in the rooms.
        await eventually(
            lambda: any(
                "SMS — Alice Martin : Deux enfants" in m["text"]
                for m in fakes.slack.in_channel(channel["id"])
            ),
            20,
        )
        pdf = await desk.http.get(f"/api/v1/crises/{crisis}/export.pdf", headers=AUTH)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        assert "Deux enfants transférés au CH Sud" in text and "Fermeture de l'école" in text
        head = entries[-1]["hash"]
    config = tmp_path / "vigie.yaml"
    verified = await run_cli(["verify", crisis, "--config", str(config)], url)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.strip().endswith(f"Empreinte de tête : {head}")
    exported = await run_cli(["export", crisis, "--format", "json", "-o", "-", "--config", str(config)], url)
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["verification"]["head"] == head


async def test_points_de_situation_in_the_real_process_survive_a_kill_9(tmp_path: Path) -> None:
    """A short cadence (one minute) so real time can run it: the draft is posted, the service
    is killed with SIGKILL, restarted, and the reminders still come, once each; the point is
    validated from the Telegram topic and mailed upward with a hash the CLI confirms; closing
    archives the channel, closes the topic, and the RETEX document comes from the CLI."""
    from tests.realdesk import DAVID, FORUM
    from tests.test_cli import run_cli

    url = sqlite_url(tmp_path)
    cadence = {
        "phases": {"aigue": "1m"},
        "points": {"prompt_before": "50s", "late_after": "10s"},
        "upward": ["craps@ars-exemple.fr"],
    }
    # A message the kill caught mid-send (a post in the topic) is settled 10 s later instead of 5 min,
    # so the topic can close within the test.
    lease = {"delivery": {"claim_lease": "10s"}}
    async with providers() as fakes, real_desk(url, tmp_path, fakes, crisis=cadence, extra=lease) as desk:
        opened = await desk.http.post(
            "/api/v1/crises", headers=AUTH, json={"person": "david", "title": "Canicule, EHPAD sans clim"}
        )
        assert opened.status_code == 201, opened.text
        crisis = opened.json()["reference"]
        channel = await eventually(lambda: fakes.slack.channel_named("crise-"), 20)
        thread = await eventually(lambda: fakes.telegram.topic_named(FORUM, "crise-"), 20)
        call = await eventually(
            lambda: next((m for m in fakes.telegram.from_bot(int(ALICE["tg"])) if crisis in m["text"]), None),
            20,
        )
        await fakes.telegram.press(int(ALICE["tg"]), call, f"join:{crisis}")

        def prompts() -> list[dict[str, Any]]:
            return [
                m
                for m in fakes.slack.in_channel(channel["id"])
                if "projet du point de situation n° 1" in m["text"]
            ]

        await eventually(lambda: prompts() or None, 40)
        await desk.process.kill9()  # between the prompt and the due time
        await desk.process.start()

        def told(person: dict[str, Any], fragment: str) -> list[dict[str, Any]]:
            return [m for m in fakes.telegram.from_bot(int(person["tg"])) if fragment in m["text"]]

        await eventually(lambda: told(ALICE, "n° 1 était attendu") or None, 60)
        await eventually(lambda: told(DAVID, "toujours pas validé") or None, 40)
        assert len(told(ALICE, "n° 1 était attendu")) == 1 and len(prompts()) == 1

        await fakes.telegram.post_in_topic(int(ALICE["tg"]), FORUM, thread, "/point valider")
        mail = await eventually(lambda: next(iter(fakes.smtp.to("craps@ars-exemple.fr")), None), 30)
        body = mail.get_body(preferencelist=("plain",)).get_content()
        found = re.search(r"entrée n° (\d+) \(ce point\) : ([0-9a-f]{64})", body)
        assert found is not None, body
        number, head = found[1], found[2]

        await fakes.telegram.post_in_topic(
            int(ALICE["tg"]), FORUM, thread, "/crise clore Vague de chaleur passée"
        )
        await eventually(
            lambda: any(
                "POINT DE SORTIE DE CRISE" in m["text"] for m in fakes.slack.in_channel(channel["id"])
            ),
            30,
        )
        await fakes.telegram.post_in_topic(int(ALICE["tg"]), FORUM, thread, "/point valider")
        await eventually(lambda: fakes.slack.channels[channel["id"]].get("is_archived") or None, 40)
        # Closed once its last posts are out (the group's posts are paced: 20 a minute).
        await eventually(lambda: fakes.telegram.topics[(FORUM, thread)]["closed"] or None, 75)
        await eventually(lambda: told(ALICE, "RETEX à chaud") or None, 20)
    config = tmp_path / "vigie.yaml"
    verified = await run_cli(
        ["verify", crisis, "--entry", number, "--hash", head, "--config", str(config)], url
    )
    assert verified.returncode == 0, verified.stderr
    forged = await run_cli(
        ["verify", crisis, "--entry", number, "--hash", "0" * 64, "--config", str(config)], url
    )
    assert forged.returncode == 1 and "ne correspond pas" in forged.stderr
    retex = await run_cli(["retex", crisis, "--config", str(config)], url)
    assert retex.returncode == 0, retex.stderr
    assert (
        f"# RETEX — {crisis}" in retex.stdout
        and "Crise close par Alice Martin : Vague de chaleur passée" in retex.stdout
    )


async def test_a_kill_9_mid_diffusion_sends_nobody_twice_and_skips_nobody(tmp_path: Path) -> None:
    """300 alerte mailboxes; the service is killed with SIGKILL while the mails go out, and
    restarted: each mailbox gets the message once. What was claimed but not yet tried goes back
    to the queue; only a mail caught mid-send may stay « uncertain » (never sent twice)."""
    url = sqlite_url(tmp_path)
    partners = [
        {"id": f"ems-{n:03d}", "name": f"EMS {n}", "email": f"alerte@ems-{n:03d}.fr", "groups": ["region"]}
        for n in range(300)
    ]
    extra = {"partners": partners, "delivery": {"claim_lease": "3s"}}
    async with providers() as fakes, real_desk(url, tmp_path, fakes, extra=extra) as desk:
        sent = await desk.http.post(
            "/api/v1/diffusions",
            headers=AUTH,
            json={
                "person": "david",
                "groups": ["region"],
                "title": "MARS n° 2026-07",
                "text": "Rappel de lots.",
            },
        )
        assert sent.status_code == 201, sent.text

        def received() -> Counter[str]:
            return Counter(
                str(m["To"]) for m in fakes.smtp.collector.messages if "MARS n° 2026-07" in str(m["Subject"])
            )

        await eventually(lambda: len(received()) >= 40 or None, 30)
        await desk.process.kill9()
        await desk.process.start()
        uncertain = 0

        async def settled() -> bool:
            nonlocal uncertain
            listed = await desk.http.get(
                "/api/v1/outbox",
                params={"kind": "diffusion", "state": "uncertain", "limit": 1000},
                headers=AUTH,
            )
            uncertain = len(listed.json()["messages"])
            return len(received()) + uncertain >= 300

        await eventually(settled, 60)
        counts = received()
        assert max(counts.values()) == 1  # nobody twice
        assert len(counts) >= 300 - uncertain and uncertain <= 1  # nobody skipped but the one caught mid-send


async def test_a_drill_with_a_crisis_cell_on_every_channel_in_the_real_process(tmp_path: Path) -> None:
    """A drill on Alice's own preferences (Telegram, Slack, SMS, a call, e-mail at once), with an
    exercise cell: every message about it says EXERCICE first; Alice takes it on Telegram, the
    cell opens in the forum, David joins, the drill measures the armed cell and reports."""
    from tests.realdesk import DAVID, FORUM

    manager = "responsable-pfr@ars-exemple.fr"
    everything = ["telegram", "slack", "sms", "voice", "email"]
    url = sqlite_url(tmp_path)
    async with (
        providers() as fakes,
        real_desk(
            url,
            tmp_path,
            fakes,
            crisis=True,
            alice_notify=everything,
            extra={"drills": {"report_to": [manager]}},
        ) as desk,
    ):
        started = await desk.http.post(
            "/api/v1/drills", headers=AUTH, json={"person": "david", "ladder": "alice", "with_crisis": True}
        )
        assert started.status_code == 201, started.text
        ref = re.search(r"signal (PFR-\d{4}-\d{6})", started.json()["message"])
        assert ref, started.json()
        signal = ref[1]
        page = await desk.telegram_page(ALICE, signal)
        slack_page = await desk.slack_page(ALICE, signal)
        sms = await desk.sms_to(ALICE, signal)
        call = await desk.call_to(ALICE)
        mail = await desk.mail_to(ALICE, signal)
        twiml = await fakes.twilio.answer(call)
        spoken = re.search(r"<Say[^>]*>([^<]+)</Say>", twiml)
        assert spoken and spoken[1].startswith("Exercice, exercice, exercice."), twiml
        for text in (page["text"], slack_page["text"], sms, str(mail["Subject"]), mail.get_content()):
            assert text.startswith("EXERCICE EXERCICE EXERCICE"), text

        async def delivered() -> bool:
            pages = await desk.outbox(kind="page", signal=signal, channel="telegram")
            return any(m["state"] == "delivered" for m in pages)

        await eventually(delivered, 15)
        await fakes.telegram.press(int(ALICE["tg"]), page, f"ack:{signal}")
        await eventually(lambda: _acked(desk, signal), 15)
        # The exercise cell: its topic in the forum, David (décision) called and joining.
        thread = await eventually(lambda: fakes.telegram.topic_named(FORUM, "crise-"), 20)
        assert "-exercice-" in fakes.telegram.topics[(FORUM, thread)]["name"]
        call_to_cell = await eventually(
            lambda: next(
                (m for m in fakes.telegram.from_bot(int(DAVID["tg"])) if "CRISE-" in m.get("text", "")), None
            ),
            20,
        )
        crisis = re.search(r"CRISE-\d{4}-\d{4}", call_to_cell["text"])
        assert crisis and call_to_cell["text"].startswith("EXERCICE")
        await fakes.telegram.press(int(DAVID["tg"]), call_to_cell, f"join:{crisis[0]}")

        async def reported() -> dict[str, Any] | None:
            drills = (await desk.http.get("/api/v1/drills", headers=AUTH)).json()["drills"]
            return drills[0] if drills else None

        drill = await eventually(reported, 30)
        measures = drill["measures"]
        assert measures["acked_by"] == "alice" and measures["acked_channel"] == "telegram"
        assert measures["crisis"] == crisis[0] and measures["armed_s"] >= measures["ack_s"] > 0
        assert set(measures["joined_s"]) >= {"alice", "david"}
        report = await desk.mail_to({"email": manager}, "Rapport de l'exercice")
        body = report.get_body(preferencelist=("plain",))
        assert body is not None and f"Cellule de crise {crisis[0]} : armée en " in body.get_content()
        assert [p.get_content_type() for p in report.iter_attachments()] == ["image/png"]
        await eventually(
            lambda: any(
                m["text"].startswith("EXERCICE EXERCICE EXERCICE — Rapport de l'exercice")
                for m in fakes.telegram.from_bot(int(DAVID["tg"]))
            ),
            20,
        )
        # Every message Vigie sent about it, on every channel, the pages edited since, says so.
        for message in await desk.outbox(signal=signal):
            assert message["text"].startswith("EXERCICE EXERCICE EXERCICE"), message
        for message in fakes.telegram.from_bot(int(ALICE["tg"])) + fakes.telegram.from_bot(int(DAVID["tg"])):
            assert message["text"].startswith("EXERCICE EXERCICE EXERCICE"), message["text"]
        for message in fakes.slack.dm(str(ALICE["slack"])):
            assert message["text"].startswith("EXERCICE EXERCICE EXERCICE"), message["text"]
        for message in fakes.telegram.in_topic(FORUM, thread):
            assert message["text"].startswith("EXERCICE"), message["text"]
        for body in fakes.twilio.to(str(ALICE["phone"])):
            assert body.startswith("EXERCICE EXERCICE EXERCICE"), body
        # A real signal list does not show it.
        listed = (await desk.http.get("/api/v1/signals", headers=AUTH)).json()["signals"]
        assert signal not in {s["reference"] for s in listed}


async def _acked(desk: RealDesk, ref: str) -> bool:
    return await desk.acknowledged_by(ref) == "alice"
