"""``vigie oncall``: who is on duty now (or at a given time), and the next hand-over."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from bot.cli.common import ConfigOption, DemoOption, JsonOption, configured

app = typer.Typer()


@app.command()
def oncall(
    at: Annotated[
        datetime | None, typer.Option(help="Instant (ISO 8601 ; heure locale du bureau si sans fuseau).")
    ] = None,
    roster: Annotated[str | None, typer.Option(help="Un seul tableau d'astreinte.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = None,
    demo: DemoOption = False,
) -> None:
    """Qui est d'astreinte maintenant (ou à --at), et la prochaine relève."""
    from bot.clock import SystemClock
    from escalation.context import PagingContext
    from escalation.oncall import UnknownRoster, format_oncall, oncall_view

    _, cfg = configured(config, demo)
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
