"""channel state and handled inbound events (Matrix sync)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TS = bot.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "channel_state",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "channel_events",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("seen_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_channel_events_seen_at", "channel_events", ["seen_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_channel_events_seen_at", table_name="channel_events")
    op.drop_table("channel_events")
    op.drop_table("channel_state")
