"""``vigie serve``: run the service, with clear refusals when it cannot start."""

from __future__ import annotations

import os
from typing import Annotated, Any

import structlog
import typer

from bot.cli.common import (
    DEMO_CONFIG,
    DEMO_TOKEN,
    ConfigOption,
    demo_environment,
    load_or_exit,
    run_async,
    settings_for,
)
from bot.config import VigieConfig
from bot.settings import Settings, api_tokens

app = typer.Typer()


@app.command()
def serve(
    config: ConfigOption = None,
    demo: Annotated[
        bool, typer.Option(help="Configuration de démonstration, jeton de démonstration.")
    ] = False,
    host: Annotated[
        str | None, typer.Option(help="Adresse d'écoute (défaut : $VIGIE_HOST ou 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port HTTP (défaut : $VIGIE_PORT ou 8080).")] = None,
) -> None:
    """Lance le service (API HTTP, envoi des messages)."""
    from bot.logging_setup import configure_logging

    if demo:
        config = config or DEMO_CONFIG
        demo_environment()
    settings = settings_for(config)
    updates: dict[str, Any] = {}
    if host:
        updates["host"] = host
    if port:
        updates["port"] = port
    settings = settings.model_copy(update=updates)
    configure_logging(settings.log_level, settings.log_format)
    cfg = load_or_exit(settings)
    # Secrets held in variables the configuration names (token_env…), whatever they are called.
    from bot.logging_setup import REDACTOR
    from bot.settings import channel_secrets

    email = cfg.channels.email
    named = [env for _, env, _, _ in channel_secrets(cfg)] + [
        email.username_env or "",
        email.password_env or "",
    ]
    REDACTOR.add(os.environ.get(env) for env in named if env)
    tokens = api_tokens(cfg, settings)
    REDACTOR.add(token.secret for token in tokens)
    for line in token_warnings(cfg, settings):
        typer.echo(f"Attention : {line}", err=True)
    missing = missing_secrets(cfg)
    if missing:
        for line in missing:
            typer.echo(f"Impossible de démarrer / cannot start : {line}", err=True)
        raise typer.Exit(2)
    base = f"http://{settings.host}:{settings.port}"
    typer.echo(f"Vigie — {cfg.desk.name}")
    typer.echo(f"  configuration : {settings.config}")
    typer.echo(f"  base de données : {settings.database_url}")
    typer.echo(f"  canaux : {', '.join(cfg.channels.enabled()) or 'aucun'}")
    typer.echo(f"  console de veille : {base}/console/")
    typer.echo(f"  API des signaux : {base}/api/v1/signals")
    typer.echo(f"  Alertmanager : {base}/api/v1/alertmanager")
    typer.echo(f"  messages envoyés (outbox) : {base}/api/v1/outbox")
    typer.echo(f"  santé : {base}/healthz   métriques : {base}/metrics")
    feeds = (
        "activés"
        if settings.feed_secret and settings.feed_secret.get_secret_value().strip()
        else ("désactivés (VIGIE_FEED_SECRET absente)")
    )
    typer.echo(f"  calendriers personnels (vigie feeds) : {feeds}")
    if demo and os.environ.get("VIGIE_DEMO_TOKEN") == DEMO_TOKEN:
        typer.echo(f"  jeton de démonstration : {DEMO_TOKEN}")
        typer.echo(
            "  connexion à la console : identifiant « alice » (ou bruno, chloe, david) ; "
            "le lien de connexion s'affiche ci-dessous (console_message) et dans l'outbox"
        )
    raise typer.Exit(run_async(lambda: _serve(settings, cfg)))


async def _serve(settings: Settings, cfg: VigieConfig) -> int:
    # Built inside the running loop, as every client session and listener must be.
    from bot.app import build
    from bot.channels import ChannelStartError
    from bot.service import HttpService

    try:
        vigie = build(settings, cfg)
    except Exception as exc:  # a channel that cannot even be built: a fault of configuration or code
        structlog.get_logger("vigie").exception("vigie_build_failed")
        typer.echo(f"Impossible de démarrer / cannot start : {type(exc).__name__}: {exc}", err=True)
        return 2
    try:
        await HttpService(vigie, settings.host, settings.port).run(handle_signals=True)
    except ChannelStartError as exc:
        typer.echo(exc.render(), err=True)
        return 2
    return 0


def missing_secrets(cfg: VigieConfig) -> list[str]:
    """One line per secret an enabled channel or a declared API token needs and the environment
    lacks (never a value)."""
    from bot.settings import channel_secrets, token_secrets

    return [
        f"{channel} : la variable d'environnement {env} est vide ou absente ({what}) / "
        f"the environment variable {env} is empty or missing"
        for channel, env, what, present in channel_secrets(cfg)
        if not present
    ] + [
        f"api_tokens « {name} » : la variable d'environnement {env} est vide ou absente / "
        f"the environment variable {env} is empty or missing"
        for name, env, present in token_secrets(cfg)
        if not present
    ]


def token_warnings(cfg: VigieConfig, settings: Settings) -> list[str]:
    """What a desk manager must hear at start about the API's tokens."""
    tokens = api_tokens(cfg, settings)
    legacy = [t.name for t in tokens if t.legacy]
    found: list[str] = []
    if not tokens and not cfg.api_tokens:
        found.append("aucun jeton d'API (api_tokens, VIGIE_API_TOKENS) : l'API HTTP refusera toute requête.")
    if legacy:
        found.append(
            f"VIGIE_API_TOKENS ({', '.join(legacy)}) : jetons sans portée, qui peuvent tout faire au "
            "nom de n'importe qui ; déclarez-les dans api_tokens (portées, act_as), voir le README "
            "« Sécurité »."
        )
    return found
