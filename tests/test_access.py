"""Who may do what (issue 13, defect 2): API tokens with a name, scopes and the people they may
act for; the desk's function rules (``permissions``) the same on chat, HTTP and the CLI."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import build
from bot.config import ConfigError, VigieConfig, parse_config
from bot.domain import OriginChannel
from bot.intake import Origin
from tests.devices import DutyDesk, duty_desk
from tests.support import REPO, config_yaml, make_config, make_settings
from tests.test_cli import VIGIE
from tests.test_escalation import LADDER, PEOPLE, ROSTER

SECRETS = {
    "VIGIE_TOKEN_SUPERVISION": "secret-supervision-0001",
    "VIGIE_TOKEN_ASTREINTE": "secret-astreinte-0002",
    "MUR_SECRET": "secret-mur-0003",
    "VIGIE_TOKEN_PILOTES": "secret-pilotes-0004",
}
TOKENS: list[dict[str, Any]] = [
    {"name": "supervision", "scopes": ["signals:write"]},
    {"name": "astreinte", "scopes": ["paging:act", "read"], "act_as": ["alice", "bruno"]},
    {"name": "mur", "env": "MUR_SECRET", "scopes": ["read"]},
    {"name": "pilotes", "scopes": ["paging:act"], "act_as": ["*"]},
]


def bearer(env: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRETS[env]}"}


DESK: dict[str, Any] = {
    "people": PEOPLE,
    "rosters": [ROSTER],
    "ladders": [LADDER],
    "duty_officers": ["david"],
    "api_tokens": TOKENS,
}


def config() -> VigieConfig:
    return make_config(**DESK)


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "vigie.yaml"
    path.write_text(config_yaml(**DESK))
    return path


@pytest.fixture(autouse=True)
def token_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


async def raise_signal(desk: DutyDesk, title: str) -> str:
    answer = await desk.client.post(
        "/api/v1/signals", json={"title": title}, headers=bearer("VIGIE_TOKEN_SUPERVISION")
    )
    assert answer.status_code == 202, answer.text
    await desk.vigie.settle()
    return str(answer.json()["reference"])


async def test_each_token_does_only_what_its_scopes_allow(db_url: str) -> None:
    async with duty_desk(db_url, config()) as desk:
        alice = desk.device("alice")
        ref = await raise_signal(desk, "Cas groupés de gastro-entérite en EHPAD")
        await alice.expect_page(ref)
        client = desk.client
        # The monitoring source raises signals, and that is all.
        for method, path in (("GET", f"/api/v1/signals/{ref}"), ("GET", "/api/v1/outbox")):
            refused = await client.request(method, path, headers=bearer("VIGIE_TOKEN_SUPERVISION"))
            assert refused.status_code == 403
            assert refused.json() == {
                "error": "forbidden",
                "message": "Refusé : le jeton « supervision » n'a pas la portée « read » "
                "(ses portées : signals:write).",
            }
        took = await client.post(
            f"/api/v1/signals/{ref}/ack", json={"person": "alice"}, headers=bearer("VIGIE_TOKEN_SUPERVISION")
        )
        assert took.status_code == 403
        assert "n'a pas la portée « paging:act »" in took.json()["message"]
        # The wall screen reads, and may not raise a signal.
        read = await client.get(f"/api/v1/signals/{ref}", headers=bearer("MUR_SECRET"))
        assert read.status_code == 200 and read.json()["status"] == "recu"
        raised = await client.post("/api/v1/signals", json={"title": "x"}, headers=bearer("MUR_SECRET"))
        assert raised.status_code == 403
        for path in ("/api/v1/oncall", "/api/v1/rosters/pfr.ics"):
            assert (await client.get(path, headers=bearer("MUR_SECRET"))).status_code == 200
            assert (await client.get(path, headers=bearer("VIGIE_TOKEN_SUPERVISION"))).status_code == 403
        # A token nobody declared is still a 401.
        stranger = await client.get("/api/v1/outbox", headers={"Authorization": "Bearer secret-inconnu"})
        assert stranger.status_code == 401
        await desk.vigie.settle()
        assert (await desk.signal_state(ref))["status"] == "recu"  # nothing was done


async def test_an_acting_token_acts_only_for_the_people_it_names(db_url: str) -> None:
    async with duty_desk(db_url, config()) as desk:
        alice, chloe = desk.device("alice"), desk.device("chloe")
        ref = await raise_signal(desk, "Panne électrique au CH Nord")
        await alice.expect_page(ref)
        client = desk.client
        # « astreinte » acts for Alice and Bruno, not for the cadre.
        as_chloe = await client.post(
            f"/api/v1/signals/{ref}/ack", json={"person": "chloe"}, headers=bearer("VIGIE_TOKEN_ASTREINTE")
        )
        assert as_chloe.status_code == 403
        assert as_chloe.json()["message"] == (
            "Refusé : le jeton « astreinte » ne peut pas agir au nom de Chloé Bernard."
        )
        closed = await client.post(
            f"/api/v1/signals/{ref}/resolve",
            json={"person": "chloe"},
            headers=bearer("VIGIE_TOKEN_ASTREINTE"),
        )
        assert closed.status_code == 403
        # An escalation in nobody's name is the desk's: only a token for anyone may ask it.
        anonymous = await client.post(
            f"/api/v1/signals/{ref}/escalate", headers=bearer("VIGIE_TOKEN_ASTREINTE")
        )
        assert anonymous.status_code == 403
        assert "n'agit qu'au nom des personnes qu'il nomme" in anonymous.json()["message"]
        await desk.vigie.settle()
        await chloe.expect_nothing()
        assert (await desk.signal_state(ref))["status"] == "recu"
        # For Alice it may: she takes the signal.
        took = await client.post(
            f"/api/v1/signals/{ref}/ack", json={"person": "alice"}, headers=bearer("VIGIE_TOKEN_ASTREINTE")
        )
        assert took.status_code == 200, took.text
        assert took.json()["message"] == f"{ref} pris en charge par Alice Martin à 03:12."
        await desk.vigie.settle()
        state = await desk.signal_state(ref)
        assert state["status"] == "acquitte" and state["acknowledged_by"] == "alice"


async def test_closing_needs_the_persons_functions_on_every_way_in(db_url: str, tmp_path: Path) -> None:
    """permissions.clore used to be enforced only in chat: over HTTP a referent closed."""
    async with duty_desk(db_url, config()) as desk:
        alice = desk.device("alice")
        ref = await raise_signal(desk, "Fuite de chlore à la piscine municipale")
        await alice.expect_page(ref)
        expected = (
            "Refusé : clore un signal est réservé aux fonctions cadre d'astreinte, responsable PFR, "
            "pilotage, décision (Bruno Petit : référent d'astreinte)."
        )
        # HTTP, with a token that may act for anyone: the person's functions still decide.
        http = await desk.client.post(
            f"/api/v1/signals/{ref}/resolve",
            json={"person": "bruno", "note": "fausse alerte"},
            headers=bearer("VIGIE_TOKEN_PILOTES"),
        )
        assert http.status_code == 403
        assert http.json() == {"error": "forbidden", "message": expected}
        # Chat: the same words.
        chat = await desk.vigie.inbound.handle_message(
            "bruno",
            f"/clore {ref} fausse alerte",
            Origin(OriginChannel.TELEGRAM, address="7", person_id="bruno"),
        )
        assert chat.text == expected and not chat.ok
        await desk.vigie.settle()
        assert (await desk.signal_state(ref))["status"] == "recu"
        # The CLI, on the same store: the same words again, and exit status 1.
        cfg_file = config_file(tmp_path)
        cli = await asyncio.create_subprocess_exec(
            VIGIE,
            *("resolve", ref, "--as", "bruno", "--config", str(cfg_file)),
            cwd=REPO,
            env={"PATH": "/usr/bin:/bin", "VIGIE_DATABASE_URL": db_url, **_secrets()},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        said, _ = await asyncio.wait_for(cli.communicate(), 60)
        assert cli.returncode != 0
        assert expected in said.decode()
        assert (await desk.signal_state(ref))["status"] == "recu"
        # The cadre may close, in the name the token is allowed to use.
        done = await desk.client.post(
            f"/api/v1/signals/{ref}/resolve", json={"person": "chloe"}, headers=bearer("VIGIE_TOKEN_PILOTES")
        )
        assert done.status_code == 200
        await desk.vigie.settle()
        await alice.expect("Signal clos par Chloé Bernard", ref, kind="resolved")


def _secrets() -> dict[str, str]:
    return dict(SECRETS)


async def test_legacy_tokens_keep_full_scope(db_url: str) -> None:
    """VIGIE_API_TOKENS still works (everything, for anyone): the warning is at start."""
    vigie = build(make_settings(db_url), config())
    legacy = [t for t in vigie.tokens if t.legacy]
    assert [t.name for t in legacy] == ["test", "samu"]
    assert all(t.may_act_for("chloe") and t.may_act_for(None) for t in legacy)
    assert {t.name for t in vigie.tokens} == {"supervision", "astreinte", "mur", "pilotes", "test", "samu"}


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        (
            [{"name": "cli", "scopes": ["paging:act"]}],
            "api_tokens[0] : la portée paging:act demande act_as",
        ),
        (
            [{"name": "cli", "scopes": ["read"], "act_as": ["alice"]}],
            "api_tokens[0] : act_as sans la portée paging:act",
        ),
        (
            [{"name": "cli", "scopes": ["paging:act"], "act_as": ["alice", "zoe"]}],
            "api_tokens[0].act_as[1] : personne inconnue « zoe »",
        ),
        ([{"name": "cli", "scopes": ["tout"]}], "api_tokens[0].scopes[0]"),
        ([{"name": "cli", "scopes": []}], "api_tokens[0].scopes"),
        (
            [{"name": "a", "scopes": ["read"]}, {"name": "a", "scopes": ["read"]}],
            "nom de jeton d'API en double : « a »",
        ),
    ],
)
def test_bad_token_declarations_are_located(tokens: list[dict[str, Any]], message: str) -> None:
    data = {
        "version": 1,
        "desk": {"name": "PFR test"},
        "people": [{"id": "alice", "name": "Alice"}],
        "api_tokens": tokens,
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data), Path("vigie.yaml"))
    assert message in str(caught.value)


def test_serve_refuses_to_start_without_a_declared_tokens_secret(tmp_path: Path) -> None:
    cfg_file = config_file(tmp_path)
    env = {"PATH": "/usr/bin:/bin", **_secrets()}
    del env["MUR_SECRET"]
    checked = subprocess.run(
        [VIGIE, "check-config", str(cfg_file), "--env"], env=env, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 2
    assert "mur              MUR_SECRET" in checked.stdout and "MANQUANTE  (read)" in checked.stdout
    assert "astreinte" in checked.stdout and "au nom de : alice, bruno" in checked.stdout
    served = subprocess.run(
        [VIGIE, "serve", "--config", str(cfg_file)],
        env={**env, "VIGIE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'v.db'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 2
    assert "api_tokens « mur » : la variable d'environnement MUR_SECRET est vide ou absente" in served.stderr
    assert "secret-" not in served.stdout + served.stderr


async def test_legacy_tokens_are_warned_about_at_start(tmp_path: Path) -> None:
    from bot.cli.serve import token_warnings

    warned = token_warnings(config(), make_settings("sqlite+aiosqlite://"))
    assert any("VIGIE_API_TOKENS (test, samu) : jetons sans portée" in w for w in warned)
    assert token_warnings(config(), make_settings("sqlite+aiosqlite://", tokens="")) == []
    none = token_warnings(make_config(), make_settings("sqlite+aiosqlite://", tokens=""))
    assert none == ["aucun jeton d'API (api_tokens, VIGIE_API_TOKENS) : l'API HTTP refusera toute requête."]
