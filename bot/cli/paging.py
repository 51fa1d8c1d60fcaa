"""``vigie ack``, ``vigie escalate``, ``vigie resolve``: what a person does to a signal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import (
    ConfigOption,
    DemoOption,
    load_or_exit,
    run_async,
    settings_for,
    with_demo,
    with_vigie,
)

app = typer.Typer()


def _act(config: Path | None, action: Callable[[Any], Awaitable[Any]]) -> None:
    from escalation.actions import ActionError

    settings = settings_for(config)
    cfg = load_or_exit(settings)
    try:
        result = run_async(lambda: with_vigie(settings, cfg, action))
    except ActionError as exc:
        typer.echo(f"Refusé : {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(result.message)


@app.command()
def ack(
    reference: Annotated[str, typer.Argument(help="Référence du signal (PFR-2026-000042).")],
    person: Annotated[str, typer.Option("--as", help="Identifiant de la personne qui prend en charge.")],
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Prend en charge un signal : arrête l'échelle et prévient les autres personnes appelées."""
    _act(with_demo(config, demo), lambda vigie: vigie.actions.acknowledge(reference, person, channel="cli"))


@app.command()
def escalate(
    reference: Annotated[str, typer.Argument(help="Référence du signal.")],
    person: Annotated[str | None, typer.Option("--as", help="Qui demande l'escalade.")] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Passe immédiatement à l'étape suivante de l'échelle."""
    _act(with_demo(config, demo), lambda vigie: vigie.actions.escalate(reference, person))


@app.command()
def resolve(
    reference: Annotated[str, typer.Argument(help="Référence du signal.")],
    person: Annotated[str, typer.Option("--as", help="Qui clôt le signal.")],
    note: Annotated[str | None, typer.Option(help="Motif de clôture.")] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Clôt un signal et arrête son échelle."""
    _act(with_demo(config, demo), lambda vigie: vigie.actions.resolve(reference, person, note))
