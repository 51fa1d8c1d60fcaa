"""partners directory and diffusions with confirmed receipt

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = bot.models.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempted_at", TS(), nullable=True))
    op.create_table(
        "diffusion_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )
    op.create_table(
        "diffusions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("nature", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("is_exercise", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("completed_at", TS(), nullable=True),
        sa.Column("late_told_at", TS(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    op.create_table(
        "partners",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("finess", sa.String(length=9), nullable=True),
        sa.Column("department", sa.String(length=3), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("slack_id", sa.String(length=20), nullable=True),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("updated_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_partners_phone"), "partners", ["phone"], unique=False)
    op.create_table(
        "diffusion_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("diffusion_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("slack_id", sa.String(length=20), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("next_at", TS(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("confirmed_at", TS(), nullable=True),
        sa.Column("confirmed_via", sa.String(length=20), nullable=True),
        sa.Column("confirmed_by", sa.String(length=200), nullable=True),
        sa.Column("comment", sa.String(length=1000), nullable=True),
        sa.Column("done_at", TS(), nullable=True),
        sa.ForeignKeyConstraint(
            ["diffusion_id"],
            ["diffusions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("diffusion_id", "partner_id"),
    )
    op.create_index(
        op.f("ix_diffusion_targets_diffusion_id"), "diffusion_targets", ["diffusion_id"], unique=False
    )
    op.create_index(
        "ix_diffusion_targets_state_next", "diffusion_targets", ["state", "next_at"], unique=False
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("attempted_at")
    op.drop_index("ix_diffusion_targets_state_next", table_name="diffusion_targets")
    op.drop_index(op.f("ix_diffusion_targets_diffusion_id"), table_name="diffusion_targets")
    op.drop_table("diffusion_targets")
    op.drop_index(op.f("ix_partners_phone"), table_name="partners")
    for table in ("partners", "diffusions", "diffusion_counters"):
        op.drop_table(table)
