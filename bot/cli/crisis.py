"""``vigie crisis open|list|show``, ``vigie verify``, ``vigie export``: the crisis cell from the
command line, through the same way in as chat (bot.inbound) and the same store."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import ConfigOption, DemoOption, JsonOption, configured, run_async, with_vigie

app = typer.Typer(help="Cellule de crise : ouvrir, lister, consulter.", no_args_is_help=True)
top = typer.Typer()  # verify and export, top-level commands


@app.command("open")
def open_(
    title: Annotated[list[str] | None, typer.Argument(help="Titre de la crise.")] = None,
    person: Annotated[str, typer.Option("--as", help="Qui ouvre la crise (people[].id).")] = "",
    signal: Annotated[list[str] | None, typer.Option(help="Signal d'origine (répétable).")] = None,
    plan: Annotated[
        str | None, typer.Option(help="Plan ORSAN (AMAVI, EPI-CLIM, REB, NRC, MEDICO-PSY).")
    ] = None,
    exercise: Annotated[bool, typer.Option("--exercise", help="Crise d'exercice.")] = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Ouvre une crise : salon, membres appelés, fonctions, main courante."""
    from bot.crisis.commands import Speaker

    if not person:
        typer.echo("Précisez qui ouvre la crise : --as <identifiant>.", err=True)
        raise typer.Exit(2)
    settings, cfg = configured(config, demo)
    words = [*(signal or []), *([plan] if plan else []), *(["exercice"] if exercise else []), *(title or [])]

    async def work(vigie: Any) -> Any:
        return await vigie.inbound.crisis_command("crisis", " ".join(words), Speaker(person, "cli"))

    reply = run_async(lambda: with_vigie(settings, cfg, work))
    typer.echo(reply.text, err=not reply.ok)
    if not reply.ok:
        raise typer.Exit(1)


@app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help="ouverte ou close.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Liste les crises, les plus récentes d'abord."""
    from bot.crisis.store import list_crises

    settings, cfg = configured(config, demo)

    async def work(vigie: Any) -> list[dict[str, Any]]:
        ctx = vigie.engine.ctx
        async with vigie.db.read_session() as session:
            crises = await list_crises(session, state)
        return [
            {
                "reference": c.reference,
                "title": c.title,
                "state": c.state,
                "phase": c.phase,
                "plan": c.plan,
                "exercise": c.is_exercise,
                "opened_at": ctx.local(c.opened_at, "%d/%m/%Y %H:%M"),
                "armed_at": ctx.local(c.armed_at, "%d/%m/%Y %H:%M") if c.armed_at else None,
            }
            for c in crises
        ]

    crises = run_async(lambda: with_vigie(settings, cfg, work))
    if as_json:
        typer.echo(json.dumps(crises, ensure_ascii=False, indent=2))
        return
    if not crises:
        typer.echo("Aucune crise.")
    for c in crises:
        armed = f"armée {c['armed_at']}" if c["armed_at"] else "non armée"
        typer.echo(f"{c['reference']}  {c['state']:<8} {c['opened_at']}  {armed:<22} « {c['title']} »")


@app.command("show")
def show(
    reference: Annotated[str, typer.Argument(help="Référence de la crise (CRISE-2026-0001).")],
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Les fonctions et la main courante d'une crise."""
    from bot.crisis.store import entries, get_crisis

    settings, cfg = configured(config, demo)

    async def work(vigie: Any) -> str | None:
        async with vigie.db.read_session() as session:
            crisis = await get_crisis(session, reference)
            if crisis is None or crisis.id is None:
                return None
            log = await entries(session, crisis.id)
        lines = [await vigie.cell.roles_text(crisis.reference), "", "Main courante :"]
        ctx = vigie.engine.ctx
        lines += [
            f"  {e.number:>4} {ctx.local(e.at, '%d/%m %H:%M')} [{e.kind}] {e.author_label} : {e.text}"
            for e in log
        ]
        return "\n".join(lines)

    shown = run_async(lambda: with_vigie(settings, cfg, work))
    if shown is None:
        typer.echo(f"Aucune crise {reference}.", err=True)
        raise typer.Exit(1)
    typer.echo(shown)


@top.command()
def verify(
    reference: Annotated[str, typer.Argument(help="Référence de la crise (CRISE-2026-0001).")],
    entry: Annotated[
        int | None,
        typer.Option("--entry", help="Vérifier jusqu'à cette entrée (celle d'un point de situation reçu)."),
    ] = None,
    expected: Annotated[
        str | None, typer.Option("--hash", help="L'empreinte reçue pour cette entrée, à comparer.")
    ] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Recalcule la chaîne d'empreintes de la main courante ; nomme la première entrée altérée."""
    from bot.crisis.cell import CellError

    settings, cfg = configured(config, demo)

    async def work(vigie: Any) -> Any:
        try:
            return await vigie.cell.verify(reference, entry)
        except CellError as exc:
            typer.echo(exc.message, err=True)
            raise typer.Exit(2) from None

    crisis, verdict = run_async(lambda: with_vigie(settings, cfg, work))
    if not verdict.ok:
        typer.echo(
            f"{crisis.reference} : CHAÎNE ROMPUE — {verdict.problem}. "
            f"{verdict.count} entrée(s) saines avant elle (dernière empreinte saine : {verdict.head}).",
            err=True,
        )
        raise typer.Exit(1)
    if entry is not None and verdict.count < entry:
        typer.echo(f"{crisis.reference} : pas d'entrée n° {entry} ({verdict.count} entrée(s)).", err=True)
        raise typer.Exit(1)
    label = f"Empreinte de l'entrée n° {entry}" if entry is not None else "Empreinte de tête"
    if expected is not None and expected.strip().lower() != verdict.head:
        typer.echo(
            f"{crisis.reference} : l'empreinte reçue ne correspond pas — l'historique a été réécrit "
            f"jusqu'à l'entrée n° {verdict.count}. {label} : {verdict.head}",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"{crisis.reference} : chaîne intacte, {verdict.count} entrée(s). {label} : {verdict.head}")


@top.command()
def retex(
    reference: Annotated[str, typer.Argument(help="Référence de la crise (CRISE-2026-0001).")],
    format: Annotated[str, typer.Option("--format", "-f", help="md ou pdf.")] = "md",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Fichier (défaut : sortie standard en md, <réf>-retex.pdf en pdf)."
        ),
    ] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Le document du RETEX, pré-rempli : l'événement, sa chronologie, les réponses à chaud."""
    from bot.crisis.cell import CellError

    if format not in ("md", "pdf"):
        typer.echo(f"Format inconnu « {format} » (md, pdf).", err=True)
        raise typer.Exit(2)
    settings, cfg = configured(config, demo)

    async def work(vigie: Any) -> bytes | None:
        try:
            document = await vigie.crisis.retex.document(reference)
        except CellError as exc:
            typer.echo(exc.message, err=True)
            return None
        return document.pdf() if format == "pdf" else document.markdown().encode()

    data = run_async(lambda: with_vigie(settings, cfg, work))
    if data is None:
        raise typer.Exit(1)
    if (output is None and format == "md") or (output is not None and str(output) == "-"):
        sys.stdout.buffer.write(data)
        return
    target = output or Path(f"{reference.upper()}-retex.{format}")
    target.write_bytes(data)
    typer.echo(f"RETEX de {reference.upper()} : {target} ({len(data)} octets).")


@top.command()
def export(
    reference: Annotated[str, typer.Argument(help="Référence de la crise (CRISE-2026-0001).")],
    format: Annotated[str, typer.Option("--format", "-f", help="pdf, csv ou json.")] = "pdf",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Fichier (défaut : <réf>.<format>; - : sortie standard)."),
    ] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Exporte la main courante d'une crise (PDF, CSV ou JSON)."""
    from bot.crisis.export import FORMATS, load_record, to_csv, to_json, to_pdf

    if format not in FORMATS:
        typer.echo(f"Format inconnu « {format} » (pdf, csv, json).", err=True)
        raise typer.Exit(2)
    settings, cfg = configured(config, demo)

    async def work(vigie: Any) -> bytes | None:
        names = {p.id: p.name for p in cfg.people}
        async with vigie.db.read_session() as session:
            record = await load_record(session, reference, names, vigie.engine.ctx.zone)
        if record is None:
            return None
        if format == "csv":
            return to_csv(record)
        if format == "json":
            return to_json(record)
        return to_pdf(record, vigie.clock.now())

    data = run_async(lambda: with_vigie(settings, cfg, work))
    if data is None:
        typer.echo(f"Aucune crise {reference}.", err=True)
        raise typer.Exit(1)
    if output is not None and str(output) == "-":
        sys.stdout.buffer.write(data)
        return
    target = output or Path(f"{reference.upper()}.{format}")
    target.write_bytes(data)
    typer.echo(f"Main courante de {reference.upper()} exportée : {target} ({len(data)} octets).")
