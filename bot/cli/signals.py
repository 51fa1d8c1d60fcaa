"""``vigie signal``, ``vigie signals``, ``vigie outbox``: raise and read signals and what was sent."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Annotated, Any

import typer

from bot.cli.common import ConfigOption, DemoOption, JsonOption, configured, run_async, with_vigie

app = typer.Typer()


@app.command()
def signal(
    title: Annotated[str, typer.Argument(help="Titre du signal.")],
    body: Annotated[str | None, typer.Option(help="Description.")] = None,
    severity: Annotated[str | None, typer.Option(help="Gravité : mineure … catastrophique.")] = None,
    category: Annotated[str | None, typer.Option(help="Catégorie (ex. etablissement).")] = None,
    dedup_key: Annotated[str | None, typer.Option(help="Clé de dédoublonnage.")] = None,
    reporter: Annotated[str | None, typer.Option(help="Déclarant.")] = None,
    exercise: Annotated[bool, typer.Option(help="Signal d'exercice.")] = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Enregistre un signal et affiche son accusé de réception."""
    from bot.domain import Category, OriginChannel, parse_severity
    from bot.intake import Origin, SignalDraft

    settings, cfg = configured(config, demo)
    try:
        draft = SignalDraft(
            title=title.strip(),
            body=body,
            severity=parse_severity(severity) if severity else None,
            category=Category(category) if category else None,
            dedup_key=dedup_key,
            reporter=reporter,
            is_exercise=exercise,
            source="cli",
            origin=Origin(channel=OriginChannel.CLI, address=os.environ.get("USER")),
        )
    except ValueError as exc:
        typer.echo(f"Erreur : {exc}", err=True)
        raise typer.Exit(2) from None
    if not draft.title:
        typer.echo("Erreur : le titre ne doit pas être vide.", err=True)
        raise typer.Exit(2)

    async def work(vigie: Any) -> Any:
        return await vigie.intake.accept(draft)

    receipt = run_async(lambda: with_vigie(settings, cfg, work))
    typer.echo(receipt.text(cfg.desk.language))


@app.command()
def signals(
    status: Annotated[str, typer.Option(help="open, closed ou un statut (recu, acquitte…).")] = "open",
    state: Annotated[
        str | None,
        typer.Option(help="État de l'échelle : en-cours, sans-reponse, acquitte, clos, sans-echelle."),
    ] = None,
    exercises: Annotated[
        bool, typer.Option("--exercices", "--exercises", help="Inclure les exercices (masqués sinon).")
    ] = False,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Liste les signaux, avec où en est l'échelle de chacun et qui a été appelé."""
    from bot.signals import list_signals, signal_to_dict
    from escalation.status import LadderState, ladder_views, run_states

    settings, cfg = configured(config, demo)
    choices = [s.value for s in LadderState]
    if state is not None and state not in choices:
        typer.echo(f"État inconnu « {state} » (valeurs possibles : {', '.join(choices)}).", err=True)
        raise typer.Exit(2)
    runs = run_states(LadderState(state)) if state else None

    async def work(vigie: Any) -> Any:
        rows = await list_signals(
            vigie.db, status, run_states=runs, exercise="include" if exercises else "exclude"
        )
        return rows, await ladder_views(vigie.db, vigie.engine.ctx, rows), vigie.engine.ctx

    rows, views, ctx = run_async(lambda: with_vigie(settings, cfg, work))
    if as_json:
        out = [
            {**signal_to_dict(r), "ladder": views[r.id].to_dict() if r.id in views else None} for r in rows
        ]
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    zone = cfg.desk.zone
    for row in rows:
        when = row.received_at.astimezone(zone).strftime("%d/%m %H:%M")
        view = views.get(row.id) if row.id is not None else None
        ladder = view.summary(ctx) if view else ""
        paged = ", ".join(ctx.name(p) for p in view.paged) if view and view.paged else ""
        mark = "EXERCICE " if row.is_exercise else ""
        typer.echo(
            f"{row.reference}  {when}  {row.status:<9} {row.severity or '-':<14} {mark}{row.title}\n"
            f"    échelle : {ladder}" + (f" ; appelé(s) : {paged}" if paged else "")
        )
    if not rows:
        typer.echo("Aucun signal.")


@app.command()
def outbox(
    recipient: Annotated[str | None, typer.Option(help="Destinataire (identifiant ou adresse).")] = None,
    channel: Annotated[str | None, typer.Option(help="Canal (console, sms…).")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Depuis (ISO 8601, heure locale si sans fuseau).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Nombre maximal de messages.")] = 50,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Affiche les messages envoyés (ou qui l'auraient été, en console)."""
    from bot.outbox import OutboxFilter, list_messages, message_to_dict

    settings, cfg = configured(config, demo)
    zone = cfg.desk.zone
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=zone)
    flt = OutboxFilter(recipient=recipient, channel=channel, since=since, limit=limit)

    async def work(vigie: Any) -> Any:
        return await list_messages(vigie.db, flt)

    rows = run_async(lambda: with_vigie(settings, cfg, work))
    if as_json:
        typer.echo(json.dumps([message_to_dict(r, ref) for r, ref in rows], ensure_ascii=False, indent=2))
        return
    for row, ref in rows:
        when = row.created_at.astimezone(zone).strftime("%d/%m %H:%M:%S")
        to = row.recipient_person_id or row.recipient_address or "?"
        typer.echo(f"{when}  {row.channel:<8} → {to:<16} [{row.state}] {ref or ''} {row.text}")
    if not rows:
        typer.echo("Aucun message.")
