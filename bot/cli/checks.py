"""``vigie check-config``: a configuration's summary, its errors, and its secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import DemoOption, configured
from bot.config import WEEKDAYS, VigieConfig
from bot.durations import format_duration

app = typer.Typer()


@app.command("check-config")
def check_config(
    path: Annotated[Path | None, typer.Argument(help="Fichier à vérifier.")] = None,
    env: Annotated[
        bool,
        typer.Option(
            "--env", help="Vérifie aussi les secrets de l'environnement (canaux activés, jetons d'API)."
        ),
    ] = False,
    demo: DemoOption = False,
) -> None:
    """Vérifie la configuration et en affiche le résumé (code de sortie non nul en cas d'erreur)."""
    settings, cfg = configured(path, demo)
    if env:
        _check_env(cfg)
        return
    typer.echo(f"Configuration valide : {settings.config}")
    typer.echo(
        f"  permanence : {cfg.desk.name} (fuseau {cfg.desk.timezone}, références {cfg.desk.reference_prefix})"
    )
    typer.echo(f"  personnes : {len(cfg.people)}")
    for person in cfg.people:
        functions = ", ".join(f.value for f in person.functions) or "—"
        channels = ", ".join(
            rule.channel.value + (f" (+{format_duration(rule.after)})" if rule.after else "")
            for rule in person.notify
        )
        typer.echo(f"    - {person.id} : {person.name} ({functions}) ; canaux : {channels}")
    typer.echo(f"  tableaux d'astreinte : {len(cfg.rosters)}")
    for roster in cfg.rosters:
        split = " ; jours/nuits séparés" if roster.off_hours else ""
        typer.echo(
            f"    - {roster.id} : {roster.name} ; relève le {WEEKDAYS[roster.handover.weekday]} à "
            f"{roster.handover.time:%H:%M}, {len(roster.slots)} créneau(x){split} ; "
            f"{len(roster.overrides)} remplacement(s)"
        )
    typer.echo(f"  échelles : {len(cfg.ladders)}")
    default = cfg.default_ladder()
    for ladder in cfg.ladders:
        steps = " → ".join(f"{'+'.join(step.page)} ({format_duration(step.wait)})" for step in ladder.steps)
        mark = " [par défaut]" if default is ladder else ""
        typer.echo(f"    - {ladder.id}{mark} : {steps} ; répétitions : {ladder.repeat}")
    typer.echo(f"  canaux activés : {', '.join(cfg.channels.enabled()) or 'aucun'}")
    for warning in cfg.warnings():
        typer.echo(f"  avertissement : {warning}")


def _check_env(cfg: VigieConfig) -> None:
    """Which channels would start with this environment, and which secrets are missing."""
    from bot.settings import channel_secrets, token_secrets

    secrets = channel_secrets(cfg)
    typer.echo(f"Configuration valide ; secrets des canaux activés ({len(secrets)}) :")
    blocked: set[str] = set()
    for channel, env_name, what, present in secrets:
        state = "présente" if present else "MANQUANTE"
        typer.echo(f"  {channel:<8} {env_name:<32} {state}  ({what})")
        if not present:
            blocked.add(channel)
    for channel in _adapter_names(cfg):
        owner = "twilio" if channel in ("sms", "voice") else channel  # one Twilio account for both
        verdict = "ne démarrera pas (secret manquant)" if owner in blocked else "démarrera"
        typer.echo(f"  canal {channel} : {verdict}")
    tokens = token_secrets(cfg)
    if tokens:
        typer.echo(f"Jetons d'API déclarés ({len(tokens)}) :")
    for name, env_name, present in tokens:
        entry = next(t for t in cfg.api_tokens if t.name == name)
        rights = ", ".join(s.value for s in entry.scopes)
        if entry.act_as:
            rights += " ; au nom de : " + ("tous" if entry.anyone else ", ".join(entry.act_as))
        typer.echo(f"  {name:<16} {env_name:<32} {'présente' if present else 'MANQUANTE'}  ({rights})")
    absent = [name for name, _, present in tokens if not present]
    if blocked or absent:
        typer.echo(
            f"Le service refusera de démarrer : {len(blocked)} canal(aux) et {len(absent)} jeton(s) "
            "d'API sans secret.",
            err=True,
        )
        raise typer.Exit(2)


def _adapter_names(cfg: VigieConfig) -> list[str]:
    names = [str(kind) for kind in cfg.channels.enabled()]
    if cfg.channels.mailbox.enabled:
        names.append("mailbox")
    return names
