"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("functions", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", bot.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "reference_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )
    op.create_table(
        "signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("severity", sa.String(length=20), nullable=True),
        sa.Column("category", sa.String(length=40), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("reporter", sa.String(length=200), nullable=True),
        sa.Column("reporter_person_id", sa.String(length=64), nullable=True),
        sa.Column("origin_channel", sa.String(length=20), nullable=False),
        sa.Column("origin_address", sa.String(length=320), nullable=True),
        sa.Column("dedup_key", sa.String(length=255), nullable=True),
        sa.Column("open_dedup_key", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("is_exercise", sa.Boolean(), nullable=False),
        sa.Column("duplicate_count", sa.Integer(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("received_at", bot.models.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", bot.models.UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", bot.models.UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("closed_at", bot.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_dedup_key"),
        sa.UniqueConstraint("reference"),
        sa.UniqueConstraint("year", "seq", name="uq_signals_year_seq"),
    )
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signals_dedup_key"), ["dedup_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_signals_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_signals_status"), ["status"], unique=False)

    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "kind", name="uq_contacts_person_kind"),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contacts_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contacts_value"), ["value"], unique=False)

    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", bot.models.UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("recipient_person_id", sa.String(length=64), nullable=True),
        sa.Column("recipient_address", sa.String(length=320), nullable=True),
        sa.Column("signal_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", bot.models.UTCDateTime(), nullable=True),
        sa.Column("sent_at", bot.models.UTCDateTime(), nullable=True),
        sa.Column("delivered_at", bot.models.UTCDateTime(), nullable=True),
        sa.Column("provider_id", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["signals.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_messages_channel"), ["channel"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_messages_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_recipient_person_id"), ["recipient_person_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_messages_signal_id"), ["signal_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_messages_state"), ["state"], unique=False)

    op.create_table(
        "signal_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signal_id", sa.Integer(), nullable=False),
        sa.Column("at", bot.models.UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["signals.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("signal_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signal_events_signal_id"), ["signal_id"], unique=False)

    _forbid_rewrites("signal_events")


def _forbid_rewrites(table: str) -> None:
    """The history is evidence: the database itself refuses UPDATE and DELETE on it."""
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


def _allow_rewrites(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
    else:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")


def downgrade() -> None:
    _allow_rewrites("signal_events")
    with op.batch_alter_table("signal_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signal_events_signal_id"))

    op.drop_table("signal_events")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_messages_state"))
        batch_op.drop_index(batch_op.f("ix_outbox_messages_signal_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_messages_recipient_person_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_messages_created_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_messages_channel"))

    op.drop_table("outbox_messages")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_value"))
        batch_op.drop_index(batch_op.f("ix_contacts_person_id"))

    op.drop_table("contacts")
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signals_status"))
        batch_op.drop_index(batch_op.f("ix_signals_received_at"))
        batch_op.drop_index(batch_op.f("ix_signals_dedup_key"))

    op.drop_table("signals")
    op.drop_table("reference_counters")
    op.drop_table("people")
