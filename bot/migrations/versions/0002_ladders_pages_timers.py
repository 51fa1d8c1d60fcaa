"""ladders, pages, timers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_state",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("last_run_at", bot.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "ladder_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("ladder_id", sa.String(length=64), nullable=False),
        sa.Column("roster_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("pass_index", sa.Integer(), nullable=False),
        sa.Column("started_at", bot.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", bot.models.UTCDateTime(), nullable=False),
        sa.Column("ended_at", bot.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["signals.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("signal_id"),
    )
    with op.batch_alter_table("ladder_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ladder_runs_state"), ["state"], unique=False)

    op.create_table(
        "pages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=True),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("pass_index", sa.Integer(), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["ladder_runs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["signals.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "pass_index", "step_index", "person_id", name="uq_pages_step_person"),
    )
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pages_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pages_signal_id"), ["signal_id"], unique=False)

    op.create_table(
        "timers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("due_at", bot.models.UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(), nullable=False),
        sa.Column("done_at", bot.models.UTCDateTime(), nullable=True),
        sa.Column("lateness_ms", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["ladder_runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_timers_run_id"), ["run_id"], unique=False)
        batch_op.create_index("ix_timers_state_due", ["state", "due_at"], unique=False)

    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("page_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sequence", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("claimed_at", bot.models.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_messages_page_id"), ["page_id"], unique=False)
        batch_op.create_foreign_key("fk_outbox_messages_page_id", "pages", ["page_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_constraint("fk_outbox_messages_page_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_outbox_messages_page_id"))
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("sequence")
        batch_op.drop_column("page_id")

    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index("ix_timers_state_due")
        batch_op.drop_index(batch_op.f("ix_timers_run_id"))

    op.drop_table("timers")
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pages_signal_id"))
        batch_op.drop_index(batch_op.f("ix_pages_run_id"))

    op.drop_table("pages")
    with op.batch_alter_table("ladder_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ladder_runs_state"))

    op.drop_table("ladder_runs")
    op.drop_table("job_state")
