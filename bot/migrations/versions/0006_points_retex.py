"""points de situation, crisis timers, closure, RETEX

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = bot.models.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("crises", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closing_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("closing_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("closed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("retex_until", TS(), nullable=True))
        batch_op.add_column(
            sa.Column("phase_history", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table("crisis_rooms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("close_at", TS(), nullable=True))
        batch_op.add_column(sa.Column("closed_at", TS(), nullable=True))
        batch_op.create_index(batch_op.f("ix_crisis_rooms_close_at"), ["close_at"], unique=False)
    op.create_table(
        "crisis_timers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crisis_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("due_at", TS(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("done_at", TS(), nullable=True),
        sa.ForeignKeyConstraint(["crisis_id"], ["crises.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("crisis_timers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crisis_timers_crisis_id"), ["crisis_id"], unique=False)
        batch_op.create_index("ix_crisis_timers_state_due", ["state", "due_at"], unique=False)
    op.create_table(
        "crisis_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crisis_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due_at", TS(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("next_at", TS(), nullable=True),
        sa.Column("prompted_at", TS(), nullable=True),
        sa.Column("reminded", sa.Integer(), nullable=False),
        sa.Column("validated_at", TS(), nullable=True),
        sa.Column("validated_by", sa.String(length=64), nullable=True),
        sa.Column("text", sa.String(), nullable=True),
        sa.Column("entry_number", sa.Integer(), nullable=True),
        sa.Column("head_hash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["crisis_id"], ["crises.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("crisis_id", "number"),
    )
    with op.batch_alter_table("crisis_points", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crisis_points_crisis_id"), ["crisis_id"], unique=False)
    op.create_table(
        "retex_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crisis_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("asked_at", TS(), nullable=False),
        sa.Column("next_question", sa.Integer(), nullable=False),
        sa.Column("finished_at", TS(), nullable=True),
        sa.ForeignKeyConstraint(["crisis_id"], ["crises.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("crisis_id", "person_id"),
    )
    with op.batch_alter_table("retex_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retex_members_crisis_id"), ["crisis_id"], unique=False)
    op.create_table(
        "retex_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crisis_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("at", TS(), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["crisis_id"], ["crises.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("retex_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retex_answers_crisis_id"), ["crisis_id"], unique=False)


def downgrade() -> None:
    for table in ("retex_answers", "retex_members", "crisis_points", "crisis_timers"):
        op.drop_table(table)
    with op.batch_alter_table("crisis_rooms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crisis_rooms_close_at"))
        batch_op.drop_column("closed_at")
        batch_op.drop_column("close_at")
    with op.batch_alter_table("crises", schema=None) as batch_op:
        for column in ("phase_history", "retex_until", "closed_by", "closing_reason", "closing_by"):
            batch_op.drop_column(column)
