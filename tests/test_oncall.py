"""Who is on duty, over the API, as iCalendar, and with `vigie oncall`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from icalendar import Calendar

from tests.devices import duty_desk
from tests.processes import write_config as write_sections
from tests.support import AUTH
from tests.test_calendar import ROSTER, SUNDAY, config
from tests.test_cli import run_cli
from tests.test_escalation import LADDER, PEOPLE


def write_config(tmp_path: Path) -> Path:
    return write_sections(
        tmp_path / "vigie.yaml", people=PEOPLE, rosters=[ROSTER], ladders=[LADDER], duty_officers=["david"]
    )


async def test_oncall_api_gives_holders_and_next_handover(db_url: str) -> None:
    async with duty_desk(db_url, config(), start=SUNDAY) as desk:
        answer = (await desk.client.get("/api/v1/oncall", headers=AUTH)).json()
        [pfr] = answer["rosters"]
        assert pfr["levels"]["titulaire"] == {"id": "alice", "name": "Alice Martin"}
        assert pfr["next"]["at"] == "2026-11-30T08:00:00+00:00"
        assert pfr["next"]["levels"]["titulaire"]["id"] == "bruno"
        at = (await desk.client.get("/api/v1/oncall", params={"at": "2026-12-01T10:00"}, headers=AUTH)).json()
        assert at["rosters"][0]["levels"]["titulaire"]["id"] == "bruno"
        missing = await desk.client.get("/api/v1/oncall", params={"roster": "nope"}, headers=AUTH)
        assert missing.status_code == 404


async def test_roster_calendar_export(db_url: str) -> None:
    async with duty_desk(db_url, config(), start=SUNDAY) as desk:
        answer = await desk.client.get("/api/v1/rosters/pfr.ics", params={"weeks": 3}, headers=AUTH)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/calendar")
        events = [e for e in Calendar.from_ical(answer.content).walk("VEVENT")]
        titulaires = [
            (str(e["summary"]), e["dtstart"].dt.astimezone(UTC))
            for e in events
            if "Titulaire" in str(e["summary"])
        ]
        assert titulaires == [
            # Alice's duty under way starts at its real hand-over, not at the time of the export.
            ("Titulaire : Alice Martin", datetime(2026, 11, 23, 8, 0, tzinfo=UTC)),
            ("Titulaire : Bruno Petit", datetime(2026, 11, 30, 8, 0, tzinfo=UTC)),
            ("Titulaire : Alice Martin", datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),
            ("Titulaire : Bruno Petit", datetime(2026, 12, 14, 8, 0, tzinfo=UTC)),
        ]
        assert (await desk.client.get("/api/v1/rosters/nope.ics", headers=AUTH)).status_code == 404


async def test_vigie_oncall_command(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    result = await run_cli(["oncall", "--at", "2026-03-30T08:59", "--config", str(path)])
    assert result.returncode == 0, result.stderr
    assert "Astreinte au 30/03/2026 08:59 (Europe/Paris)" in result.stdout
    assert "titulaire          Bruno Petit" in result.stdout
    assert "prochaine relève : lundi 30/03 09:00 → titulaire Alice Martin" in result.stdout
    wrong = await run_cli(["oncall", "--roster", "nope", "--config", str(path)])
    assert wrong.returncode == 2
    assert "Tableau d'astreinte inconnu « nope »" in wrong.stderr


async def test_vigie_ack_command_stops_the_ladder(db_url: str, tmp_path: Path) -> None:
    path = write_config(tmp_path)
    raised = await run_cli(["signal", "Alerte canicule"], db_url, path)
    ref = raised.stdout.split("référence ")[1].split(".")[0]
    result = await run_cli(["ack", ref, "--as", "bruno"], db_url, path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{ref} pris en charge par Bruno Petit à ")
    again = await run_cli(["escalate", ref, "--as", "alice"], db_url, path)
    assert again.returncode == 1
    assert "Refusé" in again.stderr and "déjà pris en charge par Bruno Petit" in again.stderr
    taken = await run_cli(["ack", ref, "--as", "alice"], db_url, path)  # Bruno has it: refused
    assert taken.returncode == 1
    assert "Refusé" in taken.stderr and "déjà pris en charge par Bruno Petit" in taken.stderr
    retry = await run_cli(["ack", ref, "--as", "bruno"], db_url, path)  # his own retry: fine
    assert retry.returncode == 0 and "déjà pris en charge par Bruno Petit" in retry.stdout
    unknown = await run_cli(["ack", ref, "--as", "zoe"], db_url, path)
    assert unknown.returncode == 1
    assert "Personne inconnue « zoe »" in unknown.stderr
