"""The `vigie` command as a desk manager runs it (a real subprocess)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import REPO

VIGIE = str(Path(sys.executable).with_name("vigie"))


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


async def run_cli(
    args: list[str],
    db_url: str | None = None,
    config: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")} | (extra_env or {})
    if db_url:
        env["VIGIE_DATABASE_URL"] = db_url
    if config:
        env["VIGIE_CONFIG"] = str(config)
    proc = await asyncio.create_subprocess_exec(
        VIGIE, *args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await proc.communicate()
    return Result(proc.returncode or 0, out.decode(), err.decode())


async def test_check_config_summarises_the_demo_configuration() -> None:
    result = await run_cli(["check-config", "config/demo.yaml"])
    assert result.returncode == 0, result.stderr
    assert "Configuration valide : config/demo.yaml" in result.stdout
    assert "personnes : 4" in result.stdout
    assert "alice : Alice Martin (referent, pilotage)" in result.stdout
    assert "canaux activés : console" in result.stdout


async def test_check_config_accepts_the_documented_example() -> None:
    result = await run_cli(["check-config", "config/vigie.example.yaml"])
    assert result.returncode == 0, result.stderr + result.stdout


BROKEN = """\
version: 1
desk:
  name: PFR
  timezone: Europe/Pariss
people:
  - id: alice
    name: Alice
  - id: bruno
    name: Bruno
  - id: chloe
    name: Chloé
  - id: david
    name: David
    contacts:
      phone: "06 12"
      emial: david@example.org
    functions: [pilote]
"""


async def test_check_config_locates_each_error_in_plain_french(tmp_path: Path) -> None:
    path = tmp_path / "vigie.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = await run_cli(["check-config", str(path)])
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"Configuration invalide : {path} (4 erreur(s))"
    assert (
        f"  {path}:4:3: desk.timezone : fuseau horaire inconnu « Europe/Pariss » (exemple : Europe/Paris)"
        in lines
    )
    assert f"  {path}:15:7: people[3].contacts.phone : numéro de téléphone invalide « 06 12 »" in lines
    assert f"  {path}:16:7: people[3].contacts.emial : clé inconnue (faute de frappe ?)" in lines
    assert any(
        line.startswith(f"  {path}:17:17: people[3].functions[0] : valeur non autorisée « pilote »")
        for line in lines
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("desk: [unclosed\n", "YAML illisible"),
        ("- a list\n", "le document doit être une section"),
        ("version: 1\n", "desk : champ obligatoire manquant"),
        (
            "version: 1\ndesk: {name: X}\npeople:\n  - {id: a, name: A}\n  - {id: a, name: B}\n",
            "identifiant de personne en double : « a »",
        ),
        ("version: 1\ndesk: {name: X, reference_prefix: pfr}\n", "desk.reference_prefix : format invalide"),
    ],
)
async def test_check_config_refuses_broken_documents(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "vigie.yaml"
    path.write_text(text, encoding="utf-8")
    result = await run_cli(["check-config", str(path)])
    assert result.returncode == 2
    assert expected in result.stderr


async def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = await run_cli(["check-config", str(tmp_path / "absent.yaml")])
    assert result.returncode == 2
    assert f"Configuration introuvable : {tmp_path / 'absent.yaml'}" in result.stderr
    assert "--config FICHIER ou la variable VIGIE_CONFIG" in result.stderr and "--demo" in result.stderr


async def test_check_config_warns_about_people_who_cannot_be_reached(tmp_path: Path) -> None:
    path = tmp_path / "vigie.yaml"
    path.write_text(
        "version: 1\ndesk: {name: X}\npeople:\n  - {id: a, name: A, notify: [sms]}\n", encoding="utf-8"
    )
    result = await run_cli(["check-config", str(path)])
    assert result.returncode == 0
    assert "avertissement : people[0] (a) : aucun canal de notification utilisable" in result.stdout


async def test_serve_refuses_to_start_on_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "vigie.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    result = await run_cli(["serve", "--config", str(path), "--port", "1"])
    assert result.returncode == 2
    assert "Configuration invalide" in result.stderr


async def test_signal_from_the_cli_prints_its_receipt(db_url: str) -> None:
    config = REPO / "config" / "demo.yaml"
    first = await run_cli(["signal", "Coupure électrique CH Sud", "--severity", "majeure"], db_url, config)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Signal reçu, référence PFR-")
    listing = await run_cli(["signals"], db_url, config)
    assert "Coupure électrique CH Sud" in listing.stdout
    assert "majeure" in listing.stdout
    bad = await run_cli(["signal", "x", "--severity", "énorme"], db_url, config)
    assert bad.returncode == 2
    assert "gravité inconnue" in bad.stderr


async def test_config_phone_numbers_are_stored_in_e164() -> None:
    from bot.config import load_config

    config = load_config(REPO / "config" / "demo.yaml")
    assert config.person("alice").contacts.phone == "+33612345678"  # type: ignore[union-attr]
    assert config.person("bruno").contacts.phone == "+33698765432"  # type: ignore[union-attr]


ROSTER_WITHOUT_CONTACT = """\
version: 1
desk: {name: PFR}
people:
  - {id: alice, name: Alice, notify: [console]}
  - {id: bruno, name: Bruno, notify: [sms]}
rosters:
  - id: pfr
    name: Astreinte
    start: 2026-01-05
    slots: [{titulaire: alice, suppleant: bruno}]
ladders:
  - {id: default, roster: pfr, steps: [{page: [titulaire], wait: 5m}, {page: [suppleant], wait: 5m}]}
"""


async def test_check_config_warns_about_a_roster_slot_nobody_can_reach(tmp_path: Path) -> None:
    path = tmp_path / "vigie.yaml"
    path.write_text(ROSTER_WITHOUT_CONTACT, encoding="utf-8")
    result = await run_cli(["check-config", str(path)])
    assert result.returncode == 0, result.stderr
    assert (
        "avertissement : rosters[0].slots[0].suppleant (bruno) : cette personne n'a aucun contact "
        "utilisable, elle ne pourra pas être appelée" in result.stdout
    )
    assert "default [par défaut] : titulaire (5min) → suppleant (5min)" in result.stdout


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("suppleant: bruno}]", "suppleant: zoe}]"),
            ":10:32: rosters[0].slots[0].suppleant : personne inconnue « zoe »",
        ),
        (
            ("page: [titulaire]", "page: [titulair]"),
            ":12:48: ladders[0].steps[0].page[0] : « titulair » n'est ni un niveau",
        ),
        (("wait: 5m}, {page: [suppleant]", "wait: cinq}, {page: [suppleant]"), "durée illisible « cinq »"),
        (("start: 2026-01-05", "start: 2026-01-06"), "doit tomber un lundi"),
    ],
)
async def test_check_config_locates_roster_and_ladder_errors(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    path = tmp_path / "vigie.yaml"
    path.write_text(ROSTER_WITHOUT_CONTACT.replace(*change), encoding="utf-8")
    result = await run_cli(["check-config", str(path)])
    assert result.returncode == 2
    assert expected in result.stderr, result.stderr


async def test_one_shot_commands_leave_the_channels_to_the_service(db_url: str, tmp_path: Path) -> None:
    """`vigie signal` / `vigie ack` only touch the store: no bot token needed, no Telegram poller
    competing with the running service, no second listener on the mailbox port."""
    path = tmp_path / "vigie.yaml"
    path.write_text(
        ROSTER_WITHOUT_CONTACT
        + "channels:\n  telegram: {enabled: true, base_url: 'http://127.0.0.1:9/bot'}\n"
        + "  mailbox: {enabled: true, port: 1, addresses: [alerte@example.org]}\n",
        encoding="utf-8",
    )
    raised = await run_cli(["signal", "Signal par la ligne de commande"], db_url, path)
    assert raised.returncode == 0, raised.stderr
    ref = raised.stdout.split("référence ")[1].split(".")[0]
    taken = await run_cli(["ack", ref, "--as", "alice"], db_url, path)
    assert taken.returncode == 0, taken.stderr
    assert taken.stdout.startswith(f"{ref} pris en charge par Alice")


ALL_AT_ONCE = """\
version: 1
desk: {name: PFR}
people:
  - {id: alice, name: Alice}
ladders:
  - id: default
    steps:
      - {page: [alice, bob], wait: 30x}
      - {page: [carole], wait: 5m}
duty_officers: [zoe]
"""


async def test_every_error_of_a_file_comes_in_one_run(tmp_path: Path) -> None:
    """A bad duration and three unknown names: all four at once, not in rounds."""
    path = tmp_path / "vigie.yaml"
    path.write_text(ALL_AT_ONCE, encoding="utf-8")
    result = await run_cli(["check-config", str(path)])
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"Configuration invalide : {path} (4 erreur(s))"
    assert lines[1:] == [
        f"  {path}:8:24: ladders[0].steps[0].page[1] : « bob » n'est ni un niveau "
        "(titulaire, suppleant, cadre) ni une personne connue",
        f"  {path}:8:30: ladders[0].steps[0].wait : durée illisible « 30x » (exemples : 30s, 5m, 1h30m, 2d)",
        f"  {path}:9:17: ladders[0].steps[1].page[0] : « carole » n'est ni un niveau (titulaire, suppleant, "
        "cadre) ni une personne connue",
        f"  {path}:10:17: duty_officers[0] : personne inconnue « zoe » (absente de people)",
    ]


async def test_an_unclosed_quote_is_reported_where_it_opens(tmp_path: Path) -> None:
    path = tmp_path / "vigie.yaml"
    lines = [
        "version: 1",
        "desk: {name: PFR}",
        "people:",
        "  - id: alice",
        "    name: Alice",
        "  - id: bruno",
        '    name: "Bruno Petit',
        "    functions: [referent]",
        "  - id: chloe",
        "    name: Chloé",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = await run_cli(["check-config", str(path)])
    assert result.returncode == 2
    assert f"{path}:7: YAML illisible : guillemet ouvert sur cette ligne et jamais fermé" in result.stderr
    assert '      7 |     name: "Bruno Petit' in result.stderr  # the line itself, quoted


async def test_value_lists_read_the_same_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "vigie.yaml"
    path.write_text(
        "version: 1\ndesk: {name: PFR}\nintake:\n  routes:\n    - {category: hopital, ladder: x}\n"
        "    - {min_severity: enorme, ladder: x}\nladders:\n  - {id: x, steps: [{page: [a], wait: 1m}]}\n"
        "people:\n  - {id: a, name: A}\n",
        encoding="utf-8",
    )
    result = await run_cli(["check-config", str(path)])
    assert "valeurs possibles : surveillance-humaine, vigilances, environnement" in result.stderr
    assert "'" not in result.stderr.split("valeurs possibles", 1)[1].split(")")[0]  # no Python quotes
    assert "en anglais aussi : minor" in result.stderr  # English severities are accepted: say so
