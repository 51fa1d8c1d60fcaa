"""run-time roster overrides

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roster_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("roster_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("start", bot.models.UTCDateTime(), nullable=False),
        sa.Column("end", bot.models.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("roster_overrides", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_roster_overrides_end"), ["end"], unique=False)
        batch_op.create_index(batch_op.f("ix_roster_overrides_roster_id"), ["roster_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("roster_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_roster_overrides_roster_id"))
        batch_op.drop_index(batch_op.f("ix_roster_overrides_end"))

    op.drop_table("roster_overrides")
