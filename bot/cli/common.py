"""What the ``vigie`` commands share: options, settings, loading the configuration, running."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bot.config import ConfigError, VigieConfig, load_config
from bot.settings import Settings

# The demo configuration ships beside the package (a clone or an editable install).
DEMO_CONFIG = Path(__file__).resolve().parent.parent.parent / "config" / "demo.yaml"
DEMO_TOKEN = "vigie-demo-token"
DEMO_FEED_SECRET = "vigie-demo-feed-secret"


def demo_environment() -> None:
    """The demo's secrets, unless the environment gives its own (never for a real desk)."""
    os.environ.setdefault("VIGIE_DEMO_TOKEN", DEMO_TOKEN)
    os.environ.setdefault("VIGIE_FEED_SECRET", DEMO_FEED_SECRET)


T = TypeVar("T")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Fichier de configuration (défaut : $VIGIE_CONFIG ou config/vigie.yaml)."
    ),
]


DemoOption = Annotated[
    bool,
    typer.Option(
        "--demo", help="Configuration de démonstration (config/demo.yaml), comme vigie serve --demo."
    ),
]


def with_demo(config: Path | None, demo: bool) -> Path | None:
    return config or DEMO_CONFIG if demo else config


JsonOption = Annotated[bool, typer.Option("--json", help="Sortie JSON.")]


def configured(config: Path | None, demo: bool = False) -> tuple[Settings, VigieConfig]:
    """The settings and the loaded configuration of a command (exit 2 with the errors)."""
    if demo:
        demo_environment()
    settings = settings_for(with_demo(config, demo))
    return settings, load_or_exit(settings)


def settings_for(config: Path | None) -> Settings:
    settings = Settings()
    if config is not None:
        settings = settings.model_copy(update={"config": config})
    return settings


def load_or_exit(settings: Settings) -> VigieConfig:
    if not settings.config.exists():
        origin = (
            "$VIGIE_CONFIG"
            if os.environ.get("VIGIE_CONFIG")
            else "--config"
            if settings.config != Path("config/vigie.yaml")
            else "emplacement par défaut"
        )
        typer.echo(
            f"Configuration introuvable : {settings.config.resolve()} ({origin}).\n"
            "Indiquez-la avec --config FICHIER ou la variable VIGIE_CONFIG, ou essayez la démonstration "
            "avec --demo (config/demo.yaml). Un exemple commenté : config/vigie.example.yaml.\n"
            f"Configuration not found: {settings.config.resolve()}. "
            "Use --config FILE, $VIGIE_CONFIG or --demo.",
            err=True,
        )
        raise typer.Exit(2)
    try:
        return load_config(settings.config)
    except ConfigError as exc:
        typer.echo(exc.render(), err=True)
        raise typer.Exit(2) from None


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(factory())


async def with_vigie(settings: Settings, config: VigieConfig, work: Callable[[Any], Awaitable[T]]) -> T:
    from bot.app import build

    vigie = build(settings, config, adapters=False)
    try:
        await vigie.start(background=False)
        return await work(vigie)
    finally:
        await vigie.stop()
