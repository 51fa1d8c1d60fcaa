"""The duty console in a real browser: Playwright driving Debian's Chromium (never a downloaded
browser) against the service on a loopback port, its workers running."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import AUTH, LiveServer, eventually, make_config, running_vigie
from tests.test_escalation import ROSTER

CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(__file__).parent / "artefacts"
PEOPLE = [
    {
        "id": "alice",
        "name": "Alice Martin",
        "functions": ["referent"],
        "contacts": {"email": "alice@ars-exemple.fr"},
    },
    {"id": "bruno", "name": "Bruno Petit", "functions": ["referent"]},
    {"id": "chloe", "name": "Chloé Bernard", "functions": ["cadre"]},
    {"id": "david", "name": "David Roux", "functions": ["responsable"]},
]
LADDER = {
    "id": "default",
    "roster": "pfr",
    "steps": [{"page": ["titulaire"], "wait": "5m"}, {"page": ["suppleant"], "wait": "5m"}],
}

# Skipped on a machine without Debian's chromium, never in CI (.ci/run installs it).
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"), reason="apt-get install -y chromium"
)


@asynccontextmanager
async def desk(db_url: str) -> AsyncIterator[LiveServer]:
    config = make_config(people=PEOPLE, rosters=[ROSTER], ladders=[LADDER], duty_officers=["david"])
    async with running_vigie(db_url, config=config) as server:
        yield server


@asynccontextmanager
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            await chromium.close()


async def sign_in_link(url: str, person: str) -> str:
    async def link() -> str | None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            messages = (
                await client.get(
                    "/api/v1/outbox", params={"recipient": person, "kind": "console_login"}, headers=AUTH
                )
            ).json()["messages"]
        found = [re.search(r"(http\S+/console/entrer/\S+)", m["text"]) for m in messages]
        return next((f.group(1) for f in found if f), None)

    return str(await eventually(link, 10))


async def signed_in(chromium: Any, url: str, person: str, identifier: str) -> Any:
    """A browser context where ``person`` asked for a link on the login page and followed it."""
    context = await chromium.new_context(base_url=url)
    page = await context.new_page()
    await page.goto("/console/")
    assert page.url.endswith("/console/login?suite=/console/")  # no session: to sign-in
    await page.get_by_label(re.compile("identifiant")).fill(identifier)
    await page.get_by_role("button", name="Recevoir un lien de connexion").click()
    await page.get_by_text("Si cet identifiant est dans l'annuaire").wait_for()
    await page.goto(await sign_in_link(url, person))
    await page.get_by_role("button", name=re.compile("Se connecter en tant que")).click()
    await page.get_by_role("heading", name="Tableau de bord").wait_for()
    return context, page


async def post_signal(url: str, title: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        answer = await client.post(
            "/api/v1/signals", headers=AUTH, json={"title": title, "severity": "majeure"}
        )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["reference"])


async def accessible(page: Any) -> None:
    """Basics every page keeps: its language, one h1, a label for every control."""
    assert await page.locator("html").get_attribute("lang") == "fr"
    assert await page.locator("h1").count() == 1
    unlabelled = await page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map(el => el.outerHTML)"""
    )
    assert unlabelled == []


async def test_sign_in_then_a_signal_posted_over_http_appears_live_and_je_prends_takes_it(
    db_url: str, tmp_path: Path
) -> None:
    ARTEFACTS.mkdir(exist_ok=True)
    async with desk(db_url) as server, browser() as chromium:
        alice_context, alice = await signed_in(chromium, server.url, "alice", "alice@ars-exemple.fr")
        david_context, david = await signed_in(chromium, server.url, "david", "david")
        await accessible(alice)
        await alice.screenshot(path=str(ARTEFACTS / "tableau-de-bord-vide.png"), full_page=True)

        ref = await post_signal(server.url, "Fuite de chlore à la piscine municipale")
        row = alice.locator(f"#signal-{ref}")
        await row.wait_for(timeout=5000)  # no reload: the server said something changed
        assert "Fuite de chlore" in await row.inner_text()
        await david.locator(f"#signal-{ref}").wait_for(timeout=5000)
        await alice.locator("table.outbox").get_by_text(ref).first.wait_for(timeout=5000)  # her page, sent
        await alice.screenshot(path=str(ARTEFACTS / "tableau-de-bord.png"), full_page=True)
        # Sign-in links are never shown to the others: they would open that person's session.
        outbox = await david.locator("table.outbox").inner_text()
        assert "/console/entrer/" not in outbox and "Lien de connexion (masqué)" in outbox

        # A forged form: another site makes Alice's browser post here, with her cookies but
        # without the page's CSRF token. Refused; nothing is taken.
        forged = await alice_context.request.post(f"/console/signaux/{ref}/ack", form={"note": ""})
        assert forged.status == 403
        async with server.client() as client:
            assert (await client.get(f"/api/v1/signals/{ref}", headers=AUTH)).json()[
                "acknowledged_by"
            ] is None

        # The duty manager takes it from his screen; the titulaire's screen shows it live, and her
        # outbox says who took it.
        await david.locator(f"#signal-{ref}").get_by_role("button", name=f"Je prends {ref}").click()
        await david.locator("#said").get_by_text("pris en charge par David Roux").wait_for(timeout=5000)
        await row.get_by_text("Pris en charge par David Roux").wait_for(timeout=5000)
        async with server.client() as client:
            state = (await client.get(f"/api/v1/signals/{ref}", headers=AUTH)).json()
            assert state["acknowledged_by"] == "david"
            taken = [e for e in state["history"] if e["kind"] == "acknowledged"]
            assert taken and taken[0]["channel"] == "web"

            async def told() -> bool:
                messages = (
                    await client.get("/api/v1/outbox", params={"recipient": "alice"}, headers=AUTH)
                ).json()["messages"]
                return any(
                    "Pris en charge par David Roux" in m["text"] and ref in m["text"] for m in messages
                )

            await eventually(told, 10)

        # The signal page: its whole history.
        await alice.goto(f"/console/signaux/{ref}")
        await alice.get_by_role("heading", name=re.compile(ref)).wait_for()
        history = await alice.locator("ol.history").inner_text()
        assert "Alice Martin" in history and "David Roux" in history  # paged, then taken
        await accessible(alice)
        await alice.screenshot(path=str(ARTEFACTS / "signal.png"), full_page=True)
        # On a phone at night: the tableau de bord fits the screen's width.
        await alice.set_viewport_size({"width": 390, "height": 844})
        await alice.goto("/console/")
        await alice.get_by_role("heading", name="Tableau de bord").wait_for()
        width = await alice.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, width
        await alice.screenshot(path=str(ARTEFACTS / "tableau-de-bord-telephone.png"), full_page=True)
        await alice_context.close()
        await david_context.close()


async def test_without_a_session_every_page_goes_to_sign_in_and_every_action_is_refused(
    tmp_path: Path,
) -> None:
    async with desk(f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}") as server:
        ref = await post_signal(server.url, "Panne électrique au CH Nord")
        async with httpx.AsyncClient(base_url=server.url, follow_redirects=False) as client:
            for path in ("/console/", f"/console/signaux/{ref}", "/console/fragments/board", "/console/live"):
                answer = await client.get(path)
                assert answer.status_code == 303 and "/console/login" in answer.headers["location"], path
            login = await client.get("/console/login")
            token = re.search(r'name="csrftoken" value="([^"]+)"', login.text)
            assert token is not None
            # With a valid CSRF token but no session: refused, nothing taken.
            answer = await client.post(f"/console/signaux/{ref}/ack", data={"csrftoken": token.group(1)})
            assert answer.status_code == 401
            # The login answer never tells whether an identifier exists.
            said = []
            for identifier in ("alice", "quelquun-inconnu"):
                answer = await client.post(
                    "/console/login", data={"identifier": identifier, "csrftoken": token.group(1)}
                )
                said.append(answer.text.replace(identifier, ""))
            assert said[0] == said[1]
            state = (await client.get(f"/api/v1/signals/{ref}", headers=AUTH)).json()
        assert state["acknowledged_by"] is None


async def test_a_sign_in_link_works_once_and_a_forged_one_not_at_all(tmp_path: Path) -> None:
    async with desk(f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}") as server, browser() as chromium:
        context, page = await signed_in(chromium, server.url, "alice", "alice")
        link = await sign_in_link(server.url, "alice")
        other = await chromium.new_context(base_url=server.url)
        again = await other.new_page()
        answer = await again.goto(link)
        assert answer is not None and answer.status == 410  # spent
        answer = await again.goto(link[:-4] + "AAAA")
        assert answer is not None and answer.status == 410  # not signed by Vigie
        await page.get_by_role("button", name="Se déconnecter").click()
        await page.get_by_role("heading", name="Connexion à la console").wait_for()
        await page.goto("/console/")
        assert "/console/login" in page.url
        await context.close()
        await other.close()


SLACK_TOKEN, SIGNING = "xoxb-console-token", "console-signing-secret-0123456789"
SLACK_IDS = {"alice": "U0ALICE01", "bruno": "U0BRUNO01", "chloe": "U0CHLOE01", "david": "U0DAVID01"}


async def test_a_crisis_page_shows_the_room_live_and_what_is_written_there_reaches_the_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.slack import FakeSlack
    from tests.support import AsgiServer

    ARTEFACTS.mkdir(exist_ok=True)
    slack = FakeSlack(SLACK_TOKEN, SIGNING)
    for pid, user in SLACK_IDS.items():
        slack.user(user, pid)
    monkeypatch.setenv("VIGIE_SLACK_BOT_TOKEN", SLACK_TOKEN)
    monkeypatch.setenv("VIGIE_SLACK_SIGNING_SECRET", SIGNING)
    people = [
        {**p, "contacts": {**p.get("contacts", {}), "slack_id": SLACK_IDS[p["id"]]}, "notify": ["slack"]}
        for p in PEOPLE
    ]
    people[2]["functions"] = ["cadre", "decision"]
    async with AsgiServer(slack.app) as slack_api:
        slack.url = slack_api.url
        config = make_config(
            people=people,
            rosters=[ROSTER],
            ladders=[LADDER],
            duty_officers=["david"],
            channels={
                "console": {"enabled": True},
                "slack": {"enabled": True, "base_url": f"{slack_api.url}/api/"},
            },
            crisis={
                "cells": {
                    "restreinte": {
                        "roster": "pfr",
                        "functions": {"decision": ["chloe"], "pilotage": ["titulaire"]},
                    }
                }
            },
        )
        db = f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}"
        async with running_vigie(db, config=config) as server, browser() as chromium:
            context, page = await signed_in(chromium, server.url, "david", "david")
            async with server.client() as client:
                opened = await client.post(
                    "/api/v1/crises",
                    headers=AUTH,
                    json={"title": "Légionellose à l'EHPAD des Lilas", "person": "david"},
                )
            assert opened.status_code == 201, opened.text
            crisis = opened.json()["reference"]
            channel = await eventually(lambda: slack.channel_named("crise-"), 10)
            await page.goto("/console/crises")
            await page.get_by_role("link", name=crisis).click()
            await page.get_by_role("heading", name=re.compile(crisis)).wait_for()
            await accessible(page)

            # Said in the Slack channel: in the page, live.
            await slack.channel_message(
                f"{server.url}/slack/events",
                SLACK_IDS["chloe"],
                channel["id"],
                "Trois résidents hospitalisés",
            )
            await (
                page.locator("ol.entries").get_by_text("Trois résidents hospitalisés").wait_for(timeout=5000)
            )

            # Written in the page: in the main courante, and posted in the Slack channel.
            await page.get_by_label("Type d'entrée").select_option("action")
            await page.get_by_label("Texte", exact=True).fill("Prélèvements d'eau chaude")
            await page.get_by_label("Responsable ou destinataire (facultatif)").select_option("bruno")
            await page.get_by_label("Échéance (ex. 16h30, facultatif)").fill("23h30")
            await page.get_by_role("button", name="Enregistrer l'entrée").click()
            await page.locator("#said").get_by_text("enregistrée").wait_for(timeout=5000)
            entry = page.locator("ol.entries li.kind-action")
            await entry.wait_for(timeout=5000)
            assert "Prélèvements d'eau chaude" in await entry.inner_text()
            await page.locator("ul.open-actions").get_by_text("Bruno Petit").wait_for(timeout=5000)
            await eventually(
                lambda: any(
                    "Prélèvements d'eau chaude" in m["text"] for m in slack.in_channel(channel["id"])
                ),
                10,
            )
            # Décision and pilotage join: the cell is armed, its first point is planned and drafted.
            from bot.inbound import Answer

            for person in ("chloe", "alice"):
                await server.vigie.inbound.respond(person, crisis, Answer.JOIN, "slack")
            await page.locator("#point-heading + p").get_by_text(re.compile("^n° 1 ")).wait_for(timeout=5000)
            await page.get_by_label("Rubrique", exact=True).select_option("situation")
            await page.get_by_label("Texte de la rubrique").fill("Trois résidents hospitalisés, aucun décès")
            await page.get_by_role("button", name="Modifier la rubrique").click()
            await page.locator("pre.draft").get_by_text("aucun décès").wait_for(timeout=5000)
            await page.get_by_role("button", name="Valider le point").click()
            await page.locator("#said p").wait_for(timeout=5000)  # validated, or refused with why
            await page.get_by_role("button", name="Vérifier la chaîne").click()
            await page.locator("#said").get_by_text("Chaîne intègre").wait_for(timeout=5000)
            await page.screenshot(path=str(ARTEFACTS / "crise.png"), full_page=True)
            async with page.expect_download() as download:
                await page.get_by_role("link", name="Exporter en PDF").click()
            assert (await download.value).suggested_filename == f"{crisis}.pdf"
            await context.close()


async def test_the_astreinte_page_shows_the_coming_weeks_and_gives_a_personal_calendar_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_FEED_SECRET", "feed-secret-for-the-console-test")
    roster = {
        **ROSTER,
        "slots": [
            {"titulaire": "alice", "suppleant": "bruno", "cadre": "chloe"},
            {"titulaire": "bruno", "suppleant": "alice", "cadre": "chloe"},
        ],
        "overrides": [
            {"start": "2030-01-07T08:00", "end": "2030-01-08T08:00", "by": "david", "replace": "alice"}
        ],
    }
    config = make_config(people=PEOPLE, rosters=[roster], ladders=[LADDER], duty_officers=["david"])
    db = f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}"
    async with running_vigie(db, config=config) as server, browser() as chromium:
        context, page = await signed_in(chromium, server.url, "alice", "alice")
        await page.get_by_role("link", name="Astreinte").click()
        await page.get_by_role("heading", name="Astreinte des quatre semaines à venir").wait_for()
        rows = await page.locator("table.rota tbody tr").all_inner_texts()
        assert len(rows) >= 4  # a weekly rotation: at least four hand-overs in four weeks
        assert any("Alice Martin\tBruno Petit" in r for r in rows)
        assert any("Bruno Petit\tAlice Martin" in r for r in rows)
        assert (
            "David Roux remplace Alice Martin" in await page.locator("#overrides-heading + ul").inner_text()
        )
        await accessible(page)
        await page.screenshot(path=str(ARTEFACTS / "astreinte.png"), full_page=True)
        await page.get_by_role("button", name=re.compile("Obtenir mon lien iCalendar")).click()
        link = await page.locator("code.feed").inner_text()
        async with httpx.AsyncClient() as client:
            calendar = await client.get(link)
        assert calendar.status_code == 200 and "BEGIN:VCALENDAR" in calendar.text
        await page.get_by_role("link", name="Exercices").click()
        await page.get_by_role("heading", name="Exercices", exact=True).wait_for()
        await accessible(page)
        await context.close()


async def test_the_console_speaks_english_when_the_desk_does(tmp_path: Path) -> None:
    config = make_config(
        desk={"name": "PFR test", "timezone": "Europe/Paris", "language": "en"},
        people=PEOPLE,
        rosters=[ROSTER],
        ladders=[LADDER],
        duty_officers=["david"],
    )
    async with running_vigie(f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}", config=config) as server:
        async with server.client() as client:
            login = await client.get("/console/login")
    assert login.status_code == 200
    assert '<html lang="en">' in login.text and "Sign in to the console" in login.text
    assert "Connexion" not in login.text


async def test_the_console_in_the_real_process_and_a_clean_stop_with_pages_open(tmp_path: Path) -> None:
    """``vigie serve`` as a user starts it: a browser signs in, keeps the tableau de bord open (its
    live connection too), a signal appears; SIGTERM still stops the service promptly and cleanly."""
    import time

    from tests.processes import ServeProcess, write_config

    config = write_config(
        tmp_path / "vigie.yaml",
        desk={"name": "PFR test", "timezone": "Europe/Paris"},
        people=PEOPLE,
        rosters=[ROSTER],
        ladders=[LADDER],
        duty_officers=["david"],
        channels={"console": {"enabled": True}},
    )
    process = ServeProcess(
        f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}",
        config,
        tmp_path / "vigie.log",
        env={"VIGIE_CONSOLE_SECRET": "console-secret-real-process"},
    )
    await process.start()
    try:
        async with browser() as chromium:
            context, page = await signed_in(chromium, process.url, "alice", "alice")
            ref = await post_signal(process.url, "Odeur de gaz à l'école Jules Ferry")
            await page.locator(f"#signal-{ref}").wait_for(timeout=5000)
            started = time.monotonic()
            status = await process.stop()
            stopped_in = time.monotonic() - started
            await context.close()
    finally:
        await process.stop()
    assert status == 0, process.output()[-2000:]
    assert stopped_in < 10, stopped_in
    assert "console-secret-real-process" not in process.output()
