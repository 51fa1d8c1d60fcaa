"""The heartbeat monitors' table (on bot.models' metadata): one row per monitor, shared by the
instances."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from bot.models import _ts


class HeartbeatRow(SQLModel, table=True):
    __tablename__ = "heartbeats"

    id: str = Field(primary_key=True, max_length=64)  # the monitor's id in the configuration
    first_seen_at: datetime = _ts()  # when Vigie first knew it: a monitor never pinged counts from here
    last_ping_at: datetime | None = _ts(nullable=True)
    pings: int = 0
