"""contact checks (the directory's, and scheduled partner checks); exercise messages flagged

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TS = bot.models.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("is_exercise", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "contact_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.String(length=64), nullable=False),
        sa.Column("slot", TS(), nullable=True),
        sa.Column("person_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("due_at", TS(), nullable=False),
        sa.Column("started_at", TS(), nullable=True),
        sa.Column("started_by", sa.String(length=64), nullable=True),
        sa.Column("ended_at", TS(), nullable=True),
        sa.Column("diffusion_ref", sa.String(length=32), nullable=True),
        sa.Column("created_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "slot", name="uq_contact_checks_schedule_slot"),
    )
    op.create_index("ix_contact_checks_state_due", "contact_checks", ["state", "due_at"], unique=False)
    op.create_table(
        "contact_probes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("confirmed_at", TS(), nullable=True),
        sa.Column("confirmed_via", sa.String(length=20), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS(), nullable=False),
        sa.ForeignKeyConstraint(["check_id"], ["contact_checks.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["outbox_messages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_contact_probes_check_id"), "contact_probes", ["check_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_contact_probes_check_id"), table_name="contact_probes")
    op.drop_table("contact_probes")
    op.drop_index("ix_contact_checks_state_due", table_name="contact_checks")
    op.drop_table("contact_checks")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("is_exercise")
