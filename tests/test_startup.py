"""Start-up as an operator meets it: what refuses to start says which channel and why, in French
and English, within seconds; `vigie check-config --env` tells beforehand."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.processes import wait_until_up, write_config
from tests.realdesk import TG_TOKEN, desk_config, providers, secrets_env
from tests.support import REPO, free_port
from tests.test_cli import VIGIE


async def run_vigie(*args: str, env: dict[str, str], within: float = 20) -> tuple[int, str, float]:
    """Run ``vigie`` to its end: exit status, everything it printed, seconds it took."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        VIGIE, *args, cwd=REPO, env={**clean, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        raise AssertionError("vigie did not exit:\n" + out.decode()) from None
    return int(proc.returncode or 0), out.decode(), time.monotonic() - started


def telegram_config(tmp_path: Path, base_url: str = "http://127.0.0.1:9/bot") -> Path:
    return write_config(
        tmp_path / "vigie.yaml",
        channels={"console": {"enabled": True}, "telegram": {"enabled": True, "base_url": base_url}},
    )


def db_env(tmp_path: Path) -> dict[str, str]:
    return {"VIGIE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'vigie.db'}"}


async def test_a_channel_without_its_secret_is_refused_naming_the_variable(tmp_path: Path) -> None:
    config = telegram_config(tmp_path)
    status, out, seconds = await run_vigie("serve", "--config", str(config), env=db_env(tmp_path))
    assert status == 2 and seconds < 10
    assert "VIGIE_TELEGRAM_TOKEN" in out
    assert "la variable d'environnement VIGIE_TELEGRAM_TOKEN est vide ou absente" in out
    assert "the environment variable VIGIE_TELEGRAM_TOKEN is empty or missing" in out
    assert "Uvicorn running" not in out  # never a half-started service


async def test_a_token_the_provider_refuses_stops_the_start_with_the_channel_named(tmp_path: Path) -> None:
    async with providers() as fakes:
        config = telegram_config(tmp_path, f"{fakes.url('telegram')}/bot")
        env = {**db_env(tmp_path), "VIGIE_TELEGRAM_TOKEN": "123:not-the-bot-token"}
        status, out, seconds = await run_vigie("serve", "--config", str(config), env=env)
    assert status == 2 and seconds < 10, out
    assert "Impossible de démarrer le canal telegram" in out
    assert "Cannot start the telegram channel" in out
    assert "Telegram refuse le jeton du bot" in out
    assert "not-the-bot-token" not in out  # the cause is named, never the secret
    assert "Uvicorn running" not in out


async def test_the_mailbox_port_taken_stops_the_start_naming_the_mailbox(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(
            tmp_path / "vigie.yaml",
            channels={
                "console": {"enabled": True},
                "mailbox": {"enabled": True, "port": port, "addresses": ["alerte@ars-exemple.fr"]},
            },
        )
        status, out, seconds = await run_vigie("serve", "--config", str(config), env=db_env(tmp_path))
    assert status == 2 and seconds < 10, out
    assert "Impossible de démarrer le canal mailbox" in out
    assert "address already in use" in out.lower()


async def test_an_unreachable_provider_does_not_stop_the_start(tmp_path: Path) -> None:
    """Telegram down at start: the service comes up and answers; SIGTERM stops it with 0."""
    config = telegram_config(tmp_path)  # port 9: nothing listens
    port = free_port()
    env = {**db_env(tmp_path), "VIGIE_TELEGRAM_TOKEN": TG_TOKEN, "VIGIE_PORT": str(port)}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    proc = await asyncio.create_subprocess_exec(
        VIGIE,
        "serve",
        "--config",
        str(config),
        cwd=REPO,
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert await wait_until_up(f"http://127.0.0.1:{port}", proc), "service did not come up"
        async with httpx.AsyncClient() as client:
            health = await client.get(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200
        assert health.json()["channels"]["telegram"]["state"] == "degraded"
    finally:
        proc.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, out.decode()
    assert '"event": "channel_degraded"' in out.decode()


async def test_check_config_env_says_which_secrets_are_missing_and_which_channels_start(
    tmp_path: Path,
) -> None:
    async with providers() as fakes:
        config = desk_config(
            tmp_path / "vigie.yaml", fakes, public_url="http://127.0.0.1:1", mailbox_port=free_port()
        )
    env = {k: v for k, v in secrets_env().items() if k != "VIGIE_TWILIO_AUTH_TOKEN"}
    status, out, _ = await run_vigie("check-config", str(config), "--env", env=env)
    assert status == 2, out
    assert "VIGIE_TWILIO_AUTH_TOKEN" in out and "MANQUANTE" in out
    assert "canal sms : ne démarrera pas (secret manquant)" in out
    assert "canal telegram : démarrera" in out
    assert "canal mailbox : démarrera" in out
    assert secrets_env()["VIGIE_TELEGRAM_TOKEN"] not in out  # names, never values
    status, out, _ = await run_vigie("check-config", str(config), "--env", env=secrets_env())
    assert status == 0, out
    assert "MANQUANTE" not in out
