"""``vigie db``: schema migrations."""

from __future__ import annotations

import typer

from bot.cli.common import run_async
from bot.settings import Settings

app = typer.Typer(help="Base de données : migrations.", no_args_is_help=True)


@app.command("upgrade")
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

    typer.echo(f"Schéma à jour (révision {run_async(work)}).")


@app.command("current")
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

    current = run_async(work)
    head = migrate.head_revision()
    typer.echo(f"Révision : {current or 'aucune'} (dernière : {head})")
    if current != head:
        raise typer.Exit(1)
