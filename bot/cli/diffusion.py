"""``vigie partners import|list`` and ``vigie diffusion send|status|confirm|chase|report``: the
partners directory and the diffusions, through the same services as chat and HTTP."""

from __future__ import annotations

import base64
import json
import mimetypes
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli.common import ConfigOption, DemoOption, JsonOption, configured, run_async, with_vigie

partners_app = typer.Typer(
    help="Annuaire des partenaires (points d'entrée « alerte »).", no_args_is_help=True
)
app = typer.Typer(
    help="Diffusion de messages aux partenaires, avec accusé de réception.", no_args_is_help=True
)


@partners_app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="Fichier CSV (UTF-8) : id,name,kind,finess,department,email,phone,groups.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Vérifier et dire ce qui changerait, sans rien écrire.")
    ] = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Importe les partenaires d'un fichier CSV (tout ou rien) : ils remplacent ceux du dernier import."""
    from bot.diffusion.partners import import_csv

    if not file.is_file():
        typer.echo(f"Fichier introuvable : {file}", err=True)
        raise typer.Exit(2)
    settings, cfg = configured(config, demo)

    async def work(vigie: Any) -> Any:
        return await import_csv(vigie.db, file.read_bytes(), vigie.clock.now(), dry_run=dry_run)

    result = run_async(lambda: with_vigie(settings, cfg, work))
    if result.errors:
        typer.echo(f"{file} : {len(result.errors)} erreur(s), rien n'a été importé.", err=True)
        for error in result.errors:
            typer.echo(f"  {error}", err=True)
        raise typer.Exit(1)
    verb = "changerait" if dry_run else "importé"
    typer.echo(f"{file} {verb} : {result.summary()}.")
    for label, ids in (("ajoutés", result.added), ("modifiés", result.changed), ("retirés", result.removed)):
        if ids:
            typer.echo(f"  {label} : {', '.join(ids[:50])}{' …' if len(ids) > 50 else ''}")


@partners_app.command("list")
def list_(
    group: Annotated[str | None, typer.Option("--group", help="Seulement ce groupe.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Les partenaires (configuration et import), par identifiant."""
    from bot.diffusion.partners import list_partners

    settings, cfg = configured(config, demo)

    async def work(vigie: Any) -> Any:
        return await list_partners(vigie.db, group)

    rows = run_async(lambda: with_vigie(settings, cfg, work))
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False, indent=2))
        return
    for r in rows:
        where = " ".join(x for x in (r.email, r.phone) if x)
        typer.echo(f"{r.id:<24} {r.kind:<12} {r.name[:40]:<40} {where}  [{', '.join(r.groups)}] ({r.source})")
    typer.echo(f"{len(rows)} partenaire(s).")


@app.command("send")
def send(
    text: Annotated[list[str], typer.Argument(help="Le message à diffuser.")],
    person: Annotated[str, typer.Option("--as", help="Qui diffuse (people[].id).")] = "",
    nature: Annotated[str, typer.Option(help="information, action, diffusion ou mars.")] = "diffusion",
    group: Annotated[
        list[str] | None, typer.Option("--group", help="Groupe de partenaires (répétable ; tous).")
    ] = None,
    title: Annotated[str | None, typer.Option(help="Première ligne : « MINSANTE n° 2026-112 ».")] = None,
    attach: Annotated[list[Path] | None, typer.Option("--attach", help="Pièce jointe (répétable).")] = None,
    exercise: Annotated[bool, typer.Option("--exercice", "--exercise", help="Diffusion d'exercice.")] = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Diffuse un message aux partenaires des groupes donnés, jusqu'à confirmation de réception."""
    if not person or not group:
        typer.echo("Précisez qui diffuse (--as) et à quels groupes (--group).", err=True)
        raise typer.Exit(2)
    files = []
    for path in attach or []:
        if not path.is_file():
            typer.echo(f"Pièce jointe introuvable : {path}", err=True)
            raise typer.Exit(2)
        files.append(
            {
                "filename": path.name,
                "content_type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                "base64": base64.b64encode(path.read_bytes()).decode(),
            }
        )
    settings, cfg = configured(config, demo)
    from bot.permissions import function_refusal

    if refusal := function_refusal(cfg, person, "diffusion"):
        typer.echo(refusal, err=True)
        raise typer.Exit(1)

    async def work(vigie: Any) -> Any:
        from bot.diffusion.service import DiffusionError

        try:
            return await vigie.diffusions.send(
                person,
                nature,
                list(group or []),
                " ".join(text),
                title=title,
                attachments=files,
                exercise=exercise,
            )
        except DiffusionError as exc:
            typer.echo(exc.message, err=True)
            raise typer.Exit(1) from None

    reply = run_async(lambda: with_vigie(settings, cfg, work))
    typer.echo(reply.text)


def _follow(action: str, reference: str, config: Path | None, demo: bool, **extra: Any) -> None:
    settings, cfg = configured(config, demo)

    async def work(vigie: Any) -> Any:
        from bot.diffusion.service import DiffusionError

        try:
            if action == "status":
                return await vigie.diffusions.status(reference)
            if action == "chase":
                return await vigie.diffusions.chase(reference)
            return await vigie.diffusions.confirm(reference, extra["partner"], "operateur", **extra["how"])
        except DiffusionError as exc:
            typer.echo(exc.message, err=True)
            raise typer.Exit(1) from None

    reply = run_async(lambda: with_vigie(settings, cfg, work))
    typer.echo(reply.text)


@app.command("status")
def status(
    reference: Annotated[str, typer.Argument(help="DIFF-2026-0007")],
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Où en est une diffusion : confirmés, en attente, injoignables, les retardataires par nom."""
    _follow("status", reference, config, demo)


@app.command("chase")
def chase(
    reference: Annotated[str, typer.Argument(help="DIFF-2026-0007")],
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Relance les partenaires qui n'ont pas confirmé (un cycle de plus)."""
    _follow("chase", reference, config, demo)


@app.command("confirm")
def confirm(
    reference: Annotated[str, typer.Argument(help="DIFF-2026-0007")],
    partner: Annotated[str, typer.Argument(help="Identifiant du partenaire.")],
    person: Annotated[str, typer.Option("--as", help="Qui a obtenu la confirmation (people[].id).")] = "",
    comment: Annotated[str | None, typer.Option(help="Ex. « confirmé par l'IDEC au téléphone ».")] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Enregistre une confirmation obtenue par téléphone (comptée à part dans le rapport)."""
    if not person:
        typer.echo("Précisez qui enregistre la confirmation : --as <identifiant>.", err=True)
        raise typer.Exit(2)
    _, cfg = configured(config, demo)
    who = cfg.person(person)
    how = {"by": who.name if who else person, "comment": comment}
    _follow("confirm", reference, config, demo, partner=partner, how=how)


@app.command("report")
def report(
    reference: Annotated[str, typer.Argument(help="DIFF-2026-0007")],
    format: Annotated[str, typer.Option("--format", "-f", help="csv ou pdf.")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Fichier (défaut : sortie standard).")
    ] = None,
    send_upward: Annotated[
        bool,
        typer.Option("--send-upward", help="Envoyer aussi le rapport (résumé, CSV, PDF) à diffusion.upward."),
    ] = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Le rapport : chaque partenaire, chaque tentative, sa confirmation, son état final."""
    if format not in ("csv", "pdf"):
        typer.echo(f"Format inconnu « {format} » (csv, pdf).", err=True)
        raise typer.Exit(2)
    settings, cfg = configured(config, demo)

    async def work(vigie: Any) -> Any:
        from bot.diffusion.service import DiffusionError

        try:
            if send_upward:
                typer.echo((await vigie.diffusions.send_upward(reference)).text, err=True)
            if format == "pdf":
                return await vigie.diffusions.report_pdf(reference)
            return await vigie.diffusions.report_csv(reference)
        except DiffusionError as exc:
            typer.echo(exc.message, err=True)
            raise typer.Exit(1) from None

    data = run_async(lambda: with_vigie(settings, cfg, work))
    if output is None:
        sys.stdout.buffer.write(data)
        return
    output.write_bytes(data)
    typer.echo(f"Rapport de {reference.upper()} : {output} ({len(data)} octets).")
