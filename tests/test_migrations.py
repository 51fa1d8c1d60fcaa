"""Migrations from an empty database, on both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from bot import migrate
from bot.db import Database

TABLES = {"people", "contacts", "signals", "signal_events", "outbox_messages", "reference_counters"}


async def test_upgrade_from_empty_database_creates_the_schema_and_is_idempotent(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert await migrate.current_revision(db) is None
        await migrate.upgrade(db)
        await migrate.upgrade(db)  # a second start changes nothing
        assert await migrate.current_revision(db) == migrate.head_revision()
        # The start-up's quick look (no Alembic) knows the newest migration: a new one must
        # update migrate.HEAD, or every start would skip it.
        assert migrate.HEAD == migrate.head_revision()
        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
            # The migrations produce exactly what the models describe.
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
            )
        assert TABLES <= tables
        assert diff == []
    finally:
        await db.dispose()


async def test_signal_history_cannot_be_rewritten(db_url: str) -> None:
    db = Database(db_url)
    try:
        await migrate.upgrade(db)
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO signals (reference, year, seq, title, origin_channel, status, is_exercise,"
                    " duplicate_count, attributes, received_at, last_seen_at)"
                    " VALUES ('PFR-2026-000001', 2026, 1, 't', 'http', 'recu', false, 0, '{}',"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            await conn.execute(
                sa.text(
                    "INSERT INTO signal_events (signal_id, at, kind, message, data)"
                    " VALUES (1, CURRENT_TIMESTAMP, 'received', 'Signal reçu', '{}')"
                )
            )
        for statement in ("UPDATE signal_events SET message = 'réécrit'", "DELETE FROM signal_events"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                async with db.engine.begin() as conn:
                    await conn.execute(sa.text(statement))
        async with db.engine.connect() as conn:
            assert (
                await conn.execute(sa.text("SELECT message FROM signal_events"))
            ).scalar_one() == "Signal reçu"
    finally:
        await db.dispose()


async def test_cli_db_upgrade_on_empty_database(db_url: str, tmp_path, monkeypatch) -> None:
    from tests.test_cli import run_cli

    result = await run_cli(["db", "upgrade"], db_url)
    assert result.returncode == 0, result.stderr
    assert f"révision {migrate.head_revision()}" in result.stdout
    current = await run_cli(["db", "current"], db_url)
    assert current.returncode == 0


async def test_a_store_one_migration_behind_is_brought_up_to_date_at_start(db_url: str) -> None:
    db = Database(db_url)
    try:
        await migrate.upgrade(db, "0012")
        assert await migrate.current_revision(db) == "0012"
        await migrate.upgrade(db)  # what `vigie serve` does at start
        assert await migrate.current_revision(db) == migrate.HEAD
    finally:
        await db.dispose()
