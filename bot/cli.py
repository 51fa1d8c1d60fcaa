"""The ``vigie`` command."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import structlog
import typer

from bot.config import WEEKDAYS, ConfigError, VigieConfig, load_config
from bot.durations import format_duration
from bot.settings import Settings

app = typer.Typer(help="Vigie : point d'entrée unique des signaux et astreinte 24/7.", no_args_is_help=True)
db_app = typer.Typer(help="Base de données : migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")

# The demo configuration ships beside the package (a clone or an editable install).
DEMO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "demo.yaml"
DEMO_TOKEN = "vigie-demo-token"

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


def _demo(config: Path | None, demo: bool) -> Path | None:
    return config or DEMO_CONFIG if demo else config


@app.callback()
def _quiet_logs() -> None:
    # Commands print their own French output; only warnings go to the log (stderr).
    # `serve` reconfigures logging from the settings.
    from bot.logging_setup import configure_logging

    configure_logging("WARNING", "console")


def _settings(config: Path | None) -> Settings:
    settings = Settings()
    if config is not None:
        settings = settings.model_copy(update={"config": config})
    return settings


def _load(settings: Settings) -> VigieConfig:
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


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(factory())  # type: ignore[arg-type]


async def _with_vigie(settings: Settings, config: VigieConfig, work: Callable[[Any], Awaitable[T]]) -> T:
    from bot.app import build

    vigie = build(settings, config, adapters=False)
    try:
        await vigie.start(background=False)
        return await work(vigie)
    finally:
        await vigie.stop()


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
        os.environ.setdefault("VIGIE_API_TOKENS", f"demo:{DEMO_TOKEN}")
    settings = _settings(config)
    updates: dict[str, Any] = {}
    if host:
        updates["host"] = host
    if port:
        updates["port"] = port
    settings = settings.model_copy(update=updates)
    configure_logging(settings.log_level, settings.log_format)
    cfg = _load(settings)
    if not settings.tokens():
        typer.echo("Attention : VIGIE_API_TOKENS est vide, l'API d'entrée refusera toute requête.", err=True)
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
    typer.echo(f"  API des signaux : {base}/api/v1/signals")
    typer.echo(f"  Alertmanager : {base}/api/v1/alertmanager")
    typer.echo(f"  messages envoyés (outbox) : {base}/api/v1/outbox")
    typer.echo(f"  santé : {base}/healthz   métriques : {base}/metrics")
    if demo and os.environ.get("VIGIE_API_TOKENS") == f"demo:{DEMO_TOKEN}":
        typer.echo(f"  jeton de démonstration : {DEMO_TOKEN}")
    raise typer.Exit(_run(lambda: _serve(settings, cfg)))


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
    """One line per secret an enabled channel needs and the environment lacks (never a value)."""
    from bot.settings import channel_secrets

    return [
        f"{channel} : la variable d'environnement {env} est vide ou absente ({what}) / "
        f"the environment variable {env} is empty or missing"
        for channel, env, what, present in channel_secrets(cfg)
        if not present
    ]


@app.command("check-config")
def check_config(
    path: Annotated[Path | None, typer.Argument(help="Fichier à vérifier.")] = None,
    env: Annotated[
        bool, typer.Option("--env", help="Vérifie aussi les secrets de l'environnement des canaux activés.")
    ] = False,
    demo: DemoOption = False,
) -> None:
    """Vérifie la configuration et en affiche le résumé (code de sortie non nul en cas d'erreur)."""
    settings = _settings(_demo(path, demo))
    cfg = _load(settings)
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
    from bot.settings import channel_secrets

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
    if blocked:
        typer.echo(f"Le service refusera de démarrer : {len(blocked)} canal(aux) sans secret.", err=True)
        raise typer.Exit(2)


def _adapter_names(cfg: VigieConfig) -> list[str]:
    names = [str(kind) for kind in cfg.channels.enabled()]
    if cfg.channels.mailbox.enabled:
        names.append("mailbox")
    return names


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Applique les migrations de schéma."""
    from bot import migrate
    from bot.db import Database

    settings = Settings()

    async def work() -> str | None:
        db = Database(settings.database_url)
        try:
            await migrate.upgrade(db)
            return await migrate.current_revision(db)
        finally:
            await db.dispose()

    typer.echo(f"Schéma à jour (révision {_run(work)}).")


@db_app.command("current")
def db_current() -> None:
    """Affiche la révision du schéma."""
    from bot import migrate
    from bot.db import Database

    settings = Settings()

    async def work() -> str | None:
        db = Database(settings.database_url)
        try:
            return await migrate.current_revision(db)
        finally:
            await db.dispose()

    current = _run(work)
    head = migrate.head_revision()
    typer.echo(f"Révision : {current or 'aucune'} (dernière : {head})")
    if current != head:
        raise typer.Exit(1)


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

    settings = _settings(_demo(config, demo))
    cfg = _load(settings)
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

    receipt = _run(lambda: _with_vigie(settings, cfg, work))
    typer.echo(receipt.text(cfg.desk.language))


@app.command()
def signals(
    status: Annotated[str, typer.Option(help="open, closed ou un statut (recu, acquitte…).")] = "open",
    state: Annotated[
        str | None,
        typer.Option(help="État de l'échelle : en-cours, sans-reponse, acquitte, clos, sans-echelle."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Liste les signaux, avec où en est l'échelle de chacun et qui a été appelé."""
    from bot.signals import list_signals, signal_to_dict
    from escalation.status import LadderState, ladder_views, run_states

    settings = _settings(_demo(config, demo))
    cfg = _load(settings)
    choices = [s.value for s in LadderState]
    if state is not None and state not in choices:
        typer.echo(f"État inconnu « {state} » (valeurs possibles : {', '.join(choices)}).", err=True)
        raise typer.Exit(2)
    runs = run_states(LadderState(state)) if state else None

    async def work(vigie: Any) -> Any:
        rows = await list_signals(vigie.db, status, run_states=runs)
        return rows, await ladder_views(vigie.db, vigie.engine.ctx, rows), vigie.engine.ctx

    rows, views, ctx = _run(lambda: _with_vigie(settings, cfg, work))
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
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Affiche les messages envoyés (ou qui l'auraient été, en console)."""
    from bot.outbox import OutboxFilter, list_messages, message_to_dict

    settings = _settings(_demo(config, demo))
    cfg = _load(settings)
    zone = cfg.desk.zone
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=zone)
    flt = OutboxFilter(recipient=recipient, channel=channel, since=since, limit=limit)

    async def work(vigie: Any) -> Any:
        return await list_messages(vigie.db, flt)

    rows = _run(lambda: _with_vigie(settings, cfg, work))
    if as_json:
        typer.echo(json.dumps([message_to_dict(r, ref) for r, ref in rows], ensure_ascii=False, indent=2))
        return
    for row, ref in rows:
        when = row.created_at.astimezone(zone).strftime("%d/%m %H:%M:%S")
        to = row.recipient_person_id or row.recipient_address or "?"
        typer.echo(f"{when}  {row.channel:<8} → {to:<16} [{row.state}] {ref or ''} {row.text}")
    if not rows:
        typer.echo("Aucun message.")


def _act(config: Path | None, action: Callable[[Any], Awaitable[Any]]) -> None:
    from escalation.actions import ActionError

    settings = _settings(config)
    cfg = _load(settings)
    try:
        result = _run(lambda: _with_vigie(settings, cfg, action))
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
    _act(_demo(config, demo), lambda vigie: vigie.actions.acknowledge(reference, person, channel="cli"))


@app.command()
def escalate(
    reference: Annotated[str, typer.Argument(help="Référence du signal.")],
    person: Annotated[str | None, typer.Option("--as", help="Qui demande l'escalade.")] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Passe immédiatement à l'étape suivante de l'échelle."""
    _act(_demo(config, demo), lambda vigie: vigie.actions.escalate(reference, person))


@app.command()
def resolve(
    reference: Annotated[str, typer.Argument(help="Référence du signal.")],
    person: Annotated[str, typer.Option("--as", help="Qui clôt le signal.")],
    note: Annotated[str | None, typer.Option(help="Motif de clôture.")] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Clôt un signal et arrête son échelle."""
    _act(_demo(config, demo), lambda vigie: vigie.actions.resolve(reference, person, note))


@app.command()
def oncall(
    at: Annotated[
        datetime | None, typer.Option(help="Instant (ISO 8601 ; heure locale du bureau si sans fuseau).")
    ] = None,
    roster: Annotated[str | None, typer.Option(help="Un seul tableau d'astreinte.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Qui est d'astreinte maintenant (ou à --at), et la prochaine relève."""
    from bot.clock import SystemClock
    from escalation.context import PagingContext
    from escalation.oncall import UnknownRoster, format_oncall, oncall_view

    settings = _settings(_demo(config, demo))
    cfg = _load(settings)
    ctx = PagingContext(cfg, SystemClock())
    when = ctx.clock.now() if at is None else (at if at.tzinfo else at.replace(tzinfo=cfg.desk.zone))
    try:
        views = oncall_view(ctx, when, roster)
    except UnknownRoster:
        typer.echo(f"Tableau d'astreinte inconnu « {roster} ».", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(views, ensure_ascii=False, indent=2))
        return
    typer.echo(f"Astreinte au {ctx.local(when, '%d/%m/%Y %H:%M')} ({cfg.desk.timezone})")
    typer.echo(format_oncall(ctx, views))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
