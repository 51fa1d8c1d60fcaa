"""Apply Alembic migrations; safe when several instances start at once on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from bot.db import UNAVAILABLE_ERRORS, Database

if TYPE_CHECKING:
    from alembic.config import Config

# Arbitrary constant shared by every instance: the advisory lock that serialises upgrades.
MIGRATION_LOCK_KEY = 0x56494749  # "VIGI"

# The newest migration (tests/test_migrations.py checks it against Alembic's head). A store
# already there is seen with one query, without loading Alembic and its scripts: a fifth of a
# second less at every start, which is a fifth of a second sooner for the steps due after a crash.
HEAD = "0013"


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def _upgrade(connection: sa.Connection, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def _stored_revision(db: Database) -> str | None:
    """The store's revision by one query; None when unknown (a new store: no table yet)."""
    try:
        async with db.engine.connect() as conn:
            return (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
    except UNAVAILABLE_ERRORS:
        return None


async def upgrade(db: Database, revision: str = "head") -> None:
    if revision == "head" and await _stored_revision(db) == HEAD:
        return
    async with db.engine.begin() as conn:
        if db.is_postgres:
            await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await conn.run_sync(_upgrade, revision)


def _current(connection: sa.Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
