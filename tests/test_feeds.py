"""Per-person calendar feeds (issue 13, defect 3): a calendar app subscribes to a signed address
that reveals one roster, and stops getting anything once it is revoked."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from bot.app import build
from tests.support import LiveServer, config_yaml, make_config, make_settings
from tests.test_cli import run_cli
from tests.test_escalation import LADDER, PEOPLE, ROSTER

SECRET = "feed-secret-for-tests-0123456789"
SAMU_ROSTER = {
    "id": "samu",
    "name": "Régulation SAMU",
    "start": "2026-01-05",
    "slots": [{"titulaire": "zoe"}],
}
DESK: dict[str, Any] = {
    "desk": {
        "name": "PFR test",
        "timezone": "Europe/Paris",
        "reference_prefix": "PFR",
        "public_url": "https://vigie.ars.example",
    },
    "people": [*PEOPLE, {"id": "zoe", "name": "Zoé Garnier", "functions": ["referent"]}],
    "rosters": [ROSTER, SAMU_ROSTER],
    "ladders": [LADDER],
    "duty_officers": ["david"],
}


@pytest.fixture(autouse=True)
def feed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_FEED_SECRET", SECRET)


def summaries(body: bytes) -> set[str]:
    return {str(event["summary"]) for event in Calendar.from_ical(body).walk("VEVENT")}


async def create(tmp_path: Path, db_url: str, *args: str, secret: str = SECRET) -> tuple[int, str]:
    path = tmp_path / "vigie.yaml"
    path.write_text(config_yaml(**DESK))
    made = await run_cli(["feeds", "create", *args], db_url, path, {"VIGIE_FEED_SECRET": secret})
    assert made.returncode == 0, made.stderr
    url = re.search(r"https://vigie\.ars\.example(/ical/\S+\.ics)", made.stdout)
    number = re.search(r"Calendrier n°(\d+)", made.stdout)
    assert url and number, made.stdout
    return int(number[1]), url[1]


async def test_a_calendar_app_subscribes_to_one_roster_until_revoked(db_url: str, tmp_path: Path) -> None:
    vigie = build(make_settings(db_url), make_config(**DESK))
    async with LiveServer(vigie, background=False) as server, server.client() as client:
        number, path = await create(tmp_path, db_url, "alice")
        # No header: the address is the credential, as for a calendar app.
        answer = await client.get(path)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
        seen = summaries(answer.content)
        assert {
            "Titulaire : Alice Martin",
            "Suppléant : Bruno Petit",
            "Cadre d'astreinte : Chloé Bernard",
        } <= seen
        assert not any("Zoé" in s for s in seen)  # only that roster
        # Zoé's own feed shows her roster, not the PFR's.
        _, zoe = await create(tmp_path, db_url, "zoe")
        assert summaries((await client.get(zoe)).content) == {"Titulaire : Zoé Garnier"}
        # An altered or invented address gets the same answer as a revoked one.
        feed_id, signature = path.removeprefix("/ical/").removesuffix(".ics").split("-", 1)
        flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
        for wrong in (
            f"/ical/{feed_id}-{flipped}.ics",
            f"/ical/{int(feed_id) + 7}-{signature}.ics",
            "/ical/1.ics",
            f"/ical/{'9' * 40}-{signature}.ics",
        ):
            refused = await client.get(wrong)
            assert refused.status_code == 404
            assert refused.json() == {"error": "not_found", "message": "Calendrier inconnu ou révoqué."}
        listed = await run_cli(["feeds", "list", "--json"], db_url, tmp_path / "vigie.yaml")
        assert [f["person"] for f in json.loads(listed.stdout)] == ["alice", "zoe"]
        assert signature not in listed.stdout  # the list never shows an address
        revoked = await run_cli(["feeds", "revoke", str(number)], db_url, tmp_path / "vigie.yaml")
        assert revoked.stdout.strip() == f"Calendrier n°{number} de Alice Martin révoqué."
        assert (await client.get(path)).status_code == 404
        assert (await client.get(zoe)).status_code == 200  # the others live on


async def test_changing_the_secret_revokes_every_address(db_url: str, tmp_path: Path) -> None:
    _, path = await create(tmp_path, db_url, "bruno", secret="an-older-secret-0000000000")
    vigie = build(make_settings(db_url), make_config(**DESK))
    async with LiveServer(vigie, background=False) as server, server.client() as client:
        assert (await client.get(path)).status_code == 404


async def test_no_feed_for_someone_outside_the_roster_or_without_a_secret(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "vigie.yaml"
    path.write_text(config_yaml(**DESK))
    env = {"VIGIE_FEED_SECRET": SECRET}
    outside = await run_cli(["feeds", "create", "david", "--roster", "pfr"], db_url, path, env)
    assert outside.returncode == 1
    assert "David Roux ne figure pas dans le tableau « pfr »" in outside.stderr
    nobody = await run_cli(["feeds", "create", "yann"], db_url, path, env)
    assert "Personne inconnue « yann »" in nobody.stderr
    without = await run_cli(["feeds", "create", "alice"], db_url, path)
    assert without.returncode == 2
    assert "VIGIE_FEED_SECRET est vide ou absente" in without.stderr
    # A service without the secret serves no feed at all.
    _, feed = await create(tmp_path, db_url, "alice")
    monkeypatch.delenv("VIGIE_FEED_SECRET")
    vigie = build(make_settings(db_url), make_config(**DESK))
    async with LiveServer(vigie, background=False) as server, server.client() as client:
        assert (await client.get(feed)).status_code == 404


async def test_leaving_the_roster_ends_the_feed(db_url: str, tmp_path: Path) -> None:
    _, path = await create(tmp_path, db_url, "bruno")
    roster = {**ROSTER, "slots": [{"titulaire": "alice", "suppleant": "chloe", "cadre": "david"}]}
    vigie = build(make_settings(db_url), make_config(**{**DESK, "rosters": [roster, SAMU_ROSTER]}))
    async with LiveServer(vigie, background=False) as server, server.client() as client:
        assert (await client.get(path)).status_code == 404
