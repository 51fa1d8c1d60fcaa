"""``vigie drill start|list|report``: exercise drills, through the same service as chat and HTTP."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from bot.cli.common import ConfigOption, DemoOption, JsonOption, configured, run_async, with_vigie

app = typer.Typer(help="Exercices d'alerte sur la vraie chaîne d'astreinte, mesurés.", no_args_is_help=True)


@app.command("start")
def start(
    ladder: Annotated[
        str | None, typer.Option("--ladder", help="L'échelle à essayer (défaut : celle par défaut).")
    ] = None,
    with_crisis: Annotated[
        bool,
        typer.Option("--with-crisis", help="Ouvrir une cellule de crise d'exercice à la prise en charge."),
    ] = False,
    person: Annotated[str | None, typer.Option("--person", help="Qui lance l'exercice (annuaire).")] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Lance un exercice maintenant : un signal EXERCICE sur la vraie échelle, mesuré."""
    settings, cfg = configured(config, demo)
    if person is not None and cfg.person(person) is None:
        typer.echo(f"Personne inconnue « {person} ».", err=True)
        raise typer.Exit(2)

    async def work(vigie: Any) -> Any:
        return await vigie.drills.start(person, ladder, with_crisis=with_crisis)

    said = run_async(lambda: with_vigie(settings, cfg, work))
    typer.echo(said.text, err=not said.ok)
    if not said.ok:
        raise typer.Exit(1)


@app.command("list")
def list_(as_json: JsonOption = False, config: ConfigOption = None, demo: DemoOption = False) -> None:
    """Les exercices prévus et en cours (heure tirée au sort dans la fenêtre)."""
    settings, cfg = configured(config, demo)

    async def work(vigie: Any) -> Any:
        await vigie.drills.run_due()  # the schedules' coming drills are planned
        return [
            (d, vigie.engine.ctx.local_day(d.due_at) if d.due_at else "") for d in await vigie.drills.coming()
        ]

    rows = run_async(lambda: with_vigie(settings, cfg, work))
    if as_json:
        typer.echo(json.dumps([{"id": d.id, "schedule": d.schedule_id, "state": d.state, "due": when}
                               for d, when in rows], ensure_ascii=False, indent=2))  # fmt: skip
        return
    if not rows:
        typer.echo("Aucun exercice prévu (drills: dans la configuration).")
    for d, when in rows:
        typer.echo(f"n° {d.id} {d.schedule_id or 'manuel'} : {d.state}, {when}, échelle {d.ladder_id}")


@app.command("report")
def report(
    last: Annotated[int, typer.Option("--last", min=1, max=200, help="Les N derniers exercices.")] = 10,
    fmt: Annotated[Literal["md", "csv", "pdf"], typer.Option("--format", help="md, csv ou pdf.")] = "md",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Fichier (pdf : obligatoire).")
    ] = None,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Écrire aussi le graphique de tendance (PNG).")
    ] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Le rapport des derniers exercices : délais, qui a répondu, à quelle étape ; tendance."""
    from bot.drills import report as render

    settings, cfg = configured(config, demo)
    if fmt == "pdf" and output is None:
        typer.echo("--format pdf écrit un fichier : -o rapport.pdf", err=True)
        raise typer.Exit(2)

    async def work(vigie: Any) -> Any:
        drills = await vigie.drills.last(last)
        ctx = vigie.engine.ctx
        body = {"md": lambda: render.markdown(ctx, drills).encode(), "csv": lambda: render.table(ctx, drills),
                "pdf": lambda: render.pdf(ctx, drills)}[fmt]()  # fmt: skip
        return body, render.chart_png(ctx, drills) if chart else None

    body, png = run_async(lambda: with_vigie(settings, cfg, work))
    if output is not None:
        output.write_bytes(body)
        typer.echo(f"Rapport écrit : {output}")
    else:
        sys.stdout.buffer.write(body)
    if chart is not None and png is not None:
        chart.write_bytes(png)
        typer.echo(f"Graphique écrit : {chart}")


@app.command("contacts")
def contacts(
    person: Annotated[str | None, typer.Option("--person", help="Une seule personne (annuaire).")] = None,
    last: Annotated[
        bool, typer.Option("--last", help="Le résultat du dernier test au lieu d'en lancer un.")
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Test de joignabilité : chaque contact de chacun reçoit un message à confirmer ; les contacts
    non confirmés sont listés pour le responsable (« Annuaire à vérifier »)."""
    settings, cfg = configured(config, demo)
    if person is not None and cfg.person(person) is None:
        typer.echo(f"Personne inconnue « {person} ».", err=True)
        raise typer.Exit(2)

    async def work(vigie: Any) -> Any:
        checks = vigie.drills.contacts
        if last:
            found = await checks.last(1)
            return (*found[0], checks.report(*found[0])) if found else None
        return await checks.start(None, person)

    said = run_async(lambda: with_vigie(settings, cfg, work))
    if not last:
        typer.echo(said.text, err=not said.ok)
        if not said.ok:
            raise typer.Exit(1)
        return
    if said is None:
        typer.echo("Aucun test de joignabilité pour l'instant.")
        return
    check, probes, text = said
    if as_json:
        out = {"id": check.id, "state": check.state,
               "probes": [{"person": p.person_id, "channel": p.channel, "address": p.address,
                           "state": p.state, "error": p.error} for p in probes]}  # fmt: skip
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    state = "en cours : " if check.state == "en-cours" else ""
    typer.echo(state + text)
