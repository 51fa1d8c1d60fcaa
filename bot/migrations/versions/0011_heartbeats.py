"""heartbeat monitors

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = bot.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "heartbeats",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", TS(), nullable=False),
        sa.Column("last_ping_at", TS(), nullable=True),
        sa.Column("pings", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("heartbeats")
