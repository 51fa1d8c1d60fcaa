"""national messages POUR ACTION followed up; diffusions linked to the signal they relay

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = bot.models.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("diffusions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signal_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_diffusions_signal_id"), ["signal_id"], unique=False)
        batch_op.create_foreign_key("fk_diffusions_signal_id", "signals", ["signal_id"], ["id"])
    op.create_table(
        "national_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("due_at", TS(), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("reminded_at", TS(), nullable=True),
        sa.Column("done_at", TS(), nullable=True),
        sa.Column("done_by", sa.String(length=64), nullable=True),
        sa.Column("account", sa.String(length=4000), nullable=True),
        sa.Column("report", sa.String(), nullable=True),
        sa.Column("sent_at", TS(), nullable=True),
        sa.ForeignKeyConstraint(["signal_id"], ["signals.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("signal_id"),
    )


def downgrade() -> None:
    op.drop_table("national_actions")
    with op.batch_alter_table("diffusions", schema=None) as batch_op:
        batch_op.drop_constraint("fk_diffusions_signal_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_diffusions_signal_id"))
        batch_op.drop_column("signal_id")
