"""``vigie ack``, ``vigie escalate``, ``vigie resolve``: what a person does to a signal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import ConfigOption, DemoOption, configured, run_async, with_vigie
from bot.inbound import Answer, Reply

app = typer.Typer()


def _act(config: Path | None, demo: bool, action: Callable[[Any], Awaitable[Reply]]) -> None:
    settings, cfg = configured(config, demo)
    reply = run_async(lambda: with_vigie(settings, cfg, action))
    if not reply.ok:
        said = reply.text if reply.text.startswith(("Refusé", "Refused")) else f"Refusé : {reply.text}"
        typer.echo(said, err=True)
        raise typer.Exit(1)
    typer.echo(reply.text)


@app.command()
def ack(
    reference: Annotated[str, typer.Argument(help="Référence du signal (PFR-2026-000042).")],
    person: Annotated[str, typer.Option("--as", help="Identifiant de la personne qui prend en charge.")],
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Prend en charge un signal : arrête l'échelle et prévient les autres personnes appelées."""
    _act(config, demo, lambda vigie: vigie.inbound.respond(person, reference, Answer.ACK, "cli"))


@app.command()
def escalate(
    reference: Annotated[str, typer.Argument(help="Référence du signal.")],
    person: Annotated[str | None, typer.Option("--as", help="Qui demande l'escalade.")] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Passe immédiatement à l'étape suivante de l'échelle."""
    _act(config, demo, lambda vigie: vigie.inbound.respond(person, reference, Answer.ESCALATE, "cli"))


@app.command()
def resolve(
    reference: Annotated[str, typer.Argument(help="Référence du signal.")],
    person: Annotated[str, typer.Option("--as", help="Qui clôt le signal.")],
    note: Annotated[str | None, typer.Option(help="Motif de clôture.")] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Clôt un signal et arrête son échelle."""
    _act(config, demo, lambda vigie: vigie.inbound.close(person, reference, note, "cli"))
