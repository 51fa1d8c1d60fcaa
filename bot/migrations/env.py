"""Alembic environment: always runs on a connection handed over by ``bot.migrate``."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import bot.crisis.models
import bot.diffusion.models
import bot.drills.models
import bot.heartbeats.models
import bot.models  # noqa: F401  (registers the tables on the metadata)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `vigie db upgrade` (bot.migrate), not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
