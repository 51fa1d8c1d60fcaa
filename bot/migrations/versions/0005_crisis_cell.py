"""crisis cell: crises, members, functions, rooms, main courante

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = bot.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "crisis_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )
    op.create_table(
        "crises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("plan", sa.String(length=20), nullable=True),
        sa.Column("phase", sa.String(length=40), nullable=False),
        sa.Column("composition", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("is_exercise", sa.Boolean(), nullable=False),
        sa.Column("opened_at", TS(), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("armed_at", TS(), nullable=True),
        sa.Column("closed_at", TS(), nullable=True),
        sa.Column("vacancy_check_at", TS(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    with op.batch_alter_table("crises", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crises_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_crises_vacancy_check_at"), ["vacancy_check_at"], unique=False)
    op.create_table(
        "crisis_signals",
        sa.Column("crisis_id", sa.Integer(), nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["crisis_id"], ["crises.id"]),
        sa.ForeignKeyConstraint(["signal_id"], ["signals.id"]),
        sa.PrimaryKeyConstraint("crisis_id", "signal_id"),
    )
    op.create_table(
        "crisis_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crisis_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("called_at", TS(), nullable=False),
        sa.Column("joined_at", TS(), nullable=True),
        sa.Column("joined_via", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(["crisis_id"], ["crises.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("crisis_id", "person_id"),
    )
    with op.batch_alter_table("crisis_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crisis_members_crisis_id"), ["crisis_id"], unique=False)
    op.create_table(
        "crisis_functions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crisis_id", sa.Integer(), nullable=False),
        sa.Column("function", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("since", TS(), nullable=False),
        sa.Column("until", TS(), nullable=True),
        sa.Column("assigned_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["crisis_id"], ["crises.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("crisis_functions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crisis_functions_crisis_id"), ["crisis_id"], unique=False)
    op.create_table(
        "crisis_rooms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crisis_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("room_id", sa.String(length=128), nullable=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", TS(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["crisis_id"], ["crises.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("crisis_id", "platform"),
    )
    with op.batch_alter_table("crisis_rooms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crisis_rooms_crisis_id"), ["crisis_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_crisis_rooms_room_id"), ["room_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_crisis_rooms_next_attempt_at"), ["next_attempt_at"], unique=False
        )
    op.create_table(
        "main_courante",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("crisis_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("at", TS(), nullable=False),
        sa.Column("author_id", sa.String(length=64), nullable=True),
        sa.Column("author_label", sa.String(length=200), nullable=False),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("due_at", TS(), nullable=True),
        sa.Column("refers_to", sa.Integer(), nullable=True),
        sa.Column("platform_key", sa.String(length=200), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["crisis_id"], ["crises.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("crisis_id", "number"),
        sa.UniqueConstraint("platform_key"),
    )
    with op.batch_alter_table("main_courante", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_main_courante_crisis_id"), ["crisis_id"], unique=False)
    _forbid_rewrites("main_courante")


def _forbid_rewrites(table: str) -> None:
    """The main courante is evidence: the database itself refuses UPDATE and DELETE on it."""
    message = f"{table} is append-only"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{message}'; END $$"""
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS main_courante_append_only ON main_courante")
        op.execute("DROP FUNCTION IF EXISTS main_courante_append_only()")
    for table in ("main_courante", "crisis_rooms", "crisis_functions", "crisis_members", "crisis_signals"):
        op.drop_table(table)
    op.drop_table("crises")
    op.drop_table("crisis_counters")
