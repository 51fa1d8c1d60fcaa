"""``vigie feeds``: each person's subscribable on-call calendar (create, list, revoke)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from bot.cli.common import ConfigOption, DemoOption, JsonOption, configured, run_async, with_vigie

app = typer.Typer(
    help="Calendriers d'astreinte personnels (adresses signées à s'abonner).", no_args_is_help=True
)


def _signer_or_exit(vigie: Any) -> Any:
    if vigie.feeds is None:
        typer.echo(
            "VIGIE_FEED_SECRET est vide ou absente : les calendriers personnels sont désactivés. "
            "Donnez-lui une valeur longue et aléatoire (openssl rand -hex 32), la même pour le service.",
            err=True,
        )
        raise typer.Exit(2)
    return vigie.feeds


@app.command("create")
def create(
    person: Annotated[str, typer.Argument(help="Identifiant de la personne (people[].id).")],
    roster: Annotated[str | None, typer.Option(help="Tableau d'astreinte (s'il y en a plusieurs).")] = None,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Crée l'adresse d'abonnement au calendrier d'astreinte d'une personne."""
    from escalation.feeds import FeedError, create_feed

    settings, cfg = configured(config, demo)

    async def work(vigie: Any) -> str:
        signer = _signer_or_exit(vigie)
        try:
            issued = await create_feed(
                vigie.db, vigie.engine.ctx, signer, person, roster, "cli", vigie.clock.now()
            )
        except FeedError as exc:
            typer.echo(exc.message, err=True)
            raise typer.Exit(1) from None
        url = issued.url(cfg.desk.public_url)
        return (
            f"Calendrier n°{issued.row.id} de {vigie.engine.ctx.name(person)} "
            f"(tableau « {issued.row.roster_id} ») :\n  {url}\n"
            "À ajouter dans l'agenda comme « calendrier par URL » ; à révoquer avec "
            f"vigie feeds revoke {issued.row.id}."
        )

    typer.echo(run_async(lambda: with_vigie(settings, cfg, work)))


@app.command("list")
def list_(
    person: Annotated[str | None, typer.Option(help="Une seule personne.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Liste les calendriers personnels (jamais leur adresse, qui est un secret)."""
    from escalation.feeds import list_feeds

    settings, cfg = configured(config, demo)

    async def work(vigie: Any) -> list[dict[str, Any]]:
        ctx = vigie.engine.ctx
        return [
            {
                "id": row.id,
                "person": row.person_id,
                "name": ctx.name(row.person_id),
                "roster": row.roster_id,
                "created_at": row.created_at.isoformat(),
                "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
            }
            for row in await list_feeds(vigie.db, person)
        ]

    feeds = run_async(lambda: with_vigie(settings, cfg, work))
    if as_json:
        typer.echo(json.dumps(feeds, ensure_ascii=False, indent=2))
        return
    if not feeds:
        typer.echo("Aucun calendrier personnel.")
    for feed in feeds:
        state = f"révoqué le {feed['revoked_at'][:16]}" if feed["revoked_at"] else "actif"
        typer.echo(f"  n°{feed['id']:<4} {feed['name']:<24} {feed['roster']:<12} {state}")


@app.command("revoke")
def revoke(
    feed: Annotated[int, typer.Argument(help="Numéro du calendrier (vigie feeds list).")],
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Révoque un calendrier personnel : son adresse ne donne plus rien."""
    from escalation.feeds import FeedError, revoke_feed

    settings, cfg = configured(config, demo)

    async def work(vigie: Any) -> str:
        try:
            row, revoked = await revoke_feed(vigie.db, feed, vigie.clock.now())
        except FeedError as exc:
            typer.echo(exc.message, err=True)
            raise typer.Exit(1) from None
        name = vigie.engine.ctx.name(row.person_id)
        return f"Calendrier n°{feed} de {name} révoqué." if revoked else f"Calendrier n°{feed} déjà révoqué."

    typer.echo(run_async(lambda: with_vigie(settings, cfg, work)))
