"""maintenance windows

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = bot.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("starts_at", TS(), nullable=False),
        sa.Column("ends_at", TS(), nullable=False),
        sa.Column("motif", sa.String(length=300), nullable=True),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("ended_at", TS(), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_maintenance_source_end", "maintenance_windows", ["source", "ends_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_maintenance_source_end", table_name="maintenance_windows")
    op.drop_table("maintenance_windows")
