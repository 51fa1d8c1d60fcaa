"""The ``vigie`` command: one module per concept (``serve``, ``checks``, ``signals``, ``paging``,
``oncall``, ``db``, ``feeds``), each a Typer app merged here (``db`` and ``feeds`` as groups)."""

from __future__ import annotations

import gc
import sys

import typer

from bot.cli import checks, crisis, db, diffusion, drill, feeds, maintenance, oncall, paging, serve, signals

app = typer.Typer(help="Vigie : point d'entrée unique des signaux et astreinte 24/7.", no_args_is_help=True)
for commands in (serve.app, checks.app, signals.app, paging.app, oncall.app, crisis.top):
    app.add_typer(commands)
app.add_typer(db.app, name="db")
app.add_typer(feeds.app, name="feeds")
app.add_typer(crisis.app, name="crisis")
app.add_typer(diffusion.partners_app, name="partners")
app.add_typer(diffusion.app, name="diffusion")
app.add_typer(drill.app, name="drill")
app.add_typer(maintenance.app, name="maintenance")


@app.callback()
def _quiet_logs(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand != "serve":  # serve: once start-up is frozen (bot.service)
        gc.enable()  # held off while the commands loaded (bot.launch)
    # Commands print their own French output; only warnings go to the log (stderr).
    # `serve` reconfigures logging from the settings.
    from bot.logging_setup import configure_logging

    configure_logging("WARNING", "console")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
