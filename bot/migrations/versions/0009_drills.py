"""exercise drills

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = bot.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "drills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.String(length=64), nullable=True),
        sa.Column("ladder_id", sa.String(length=64), nullable=True),
        sa.Column("with_crisis", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("window_start", TS(), nullable=True),
        sa.Column("window_end", TS(), nullable=True),
        sa.Column("due_at", TS(), nullable=True),
        sa.Column("started_at", TS(), nullable=True),
        sa.Column("started_by", sa.String(length=64), nullable=True),
        sa.Column("signal_id", sa.Integer(), nullable=True),
        sa.Column("crisis_id", sa.Integer(), nullable=True),
        sa.Column("ended_at", TS(), nullable=True),
        sa.Column("measures", sa.JSON(), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.ForeignKeyConstraint(["crisis_id"], ["crises.id"]),
        sa.ForeignKeyConstraint(["signal_id"], ["signals.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "window_start", name="uq_drills_schedule_window"),
    )
    op.create_index("ix_drills_state_due", "drills", ["state", "due_at"], unique=False)
    op.create_index(op.f("ix_drills_signal_id"), "drills", ["signal_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_drills_signal_id"), table_name="drills")
    op.drop_index("ix_drills_state_due", table_name="drills")
    op.drop_table("drills")
