"""``vigie maintenance start|stop|list``: a source's pages held for a while, through the same
service as chat and HTTP."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bot.cli.common import ConfigOption, DemoOption, configured, run_async, with_vigie

app = typer.Typer(
    help="Fenêtres de maintenance d'une source (signaux enregistrés, sans appel).", no_args_is_help=True
)


def _run(config: Any, demo: bool, person: str | None, args: str) -> None:
    settings, cfg = configured(config, demo)
    if person is not None and cfg.person(person) is None:
        typer.echo(f"Personne inconnue « {person} ».", err=True)
        raise typer.Exit(2)

    async def work(vigie: Any) -> Any:
        return await vigie.maintenance.command(person or "cli", args)

    said = run_async(lambda: with_vigie(settings, cfg, work))
    typer.echo(said.text, err=not said.ok)
    if not said.ok:
        raise typer.Exit(1)


@app.command("start")
def start(
    source: Annotated[str, typer.Option("--source", help="La source (son nom dans les signaux).")],
    duration: Annotated[str, typer.Option("--for", help="Durée : 2h, 30m…")],
    motif: Annotated[str | None, typer.Option("--motif", help="Pourquoi (dit aux cadres).")] = None,
    person: Annotated[str | None, typer.Option("--as", help="Qui la déclare (annuaire).")] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Met une source en maintenance : ses signaux sont enregistrés et accusés, sans appel."""
    _run(config, demo, person, f"{source} {duration} {motif or ''}".strip())


@app.command("stop")
def stop(
    source: Annotated[str, typer.Option("--source", help="La source.")],
    person: Annotated[str | None, typer.Option("--as", help="Qui y met fin (annuaire).")] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Termine la maintenance : les signaux retenus et encore ouverts sont appelés."""
    _run(config, demo, person, f"fin {source}")


@app.command("list")
def list_(config: ConfigOption = None, demo: DemoOption = False) -> None:
    """Les sources en maintenance maintenant."""
    _run(config, demo, None, "")
