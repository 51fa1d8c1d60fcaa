"""Tables of the store. Times are stored in UTC; every schema change goes through a migration.

The rule: every table of the paging core is declared here, in one place (one module to read for the
schema, one metadata for Alembic). A capability with a package of its own (``bot/crisis/``,
``bot/drills/``…) declares its tables in that package's ``models.py``, on the same ``SQLModel``
metadata, and its migrations stay in ``bot/migrations``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from bot.clock import utc
from bot.domain import MessageState, PageState, RunState, TimerState


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite drops the offset; PostgreSQL keeps it)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return utc(value) if value is not None else None


def _ts(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _json() -> Any:
    return Field(default_factory=dict, sa_type=sa.JSON, nullable=False)


class PersonRow(SQLModel, table=True):
    """The directory, synchronised from the configuration at start."""

    __tablename__ = "people"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    functions: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    active: bool = Field(default=True)
    updated_at: datetime = _ts()


class ContactRow(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (sa.UniqueConstraint("person_id", "kind", name="uq_contacts_person_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(foreign_key="people.id", max_length=64, index=True)
    kind: str = Field(max_length=16)  # phone, email, telegram, slack
    value: str = Field(max_length=320, index=True)


class ReferenceCounter(SQLModel, table=True):
    """Last sequence number given out per year; a row lock serialises allocation."""

    __tablename__ = "reference_counters"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = Field(default=0)


class SignalRow(SQLModel, table=True):
    __tablename__ = "signals"
    __table_args__ = (sa.UniqueConstraint("year", "seq", name="uq_signals_year_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=40, unique=True)
    year: int
    seq: int
    title: str = Field(max_length=500)
    body: str | None = Field(default=None, sa_type=sa.Text)
    severity: str | None = Field(default=None, max_length=20)
    category: str | None = Field(default=None, max_length=40)
    source: str | None = Field(default=None, max_length=200)
    reporter: str | None = Field(default=None, max_length=200)
    reporter_person_id: str | None = Field(default=None, max_length=64)
    origin_channel: str = Field(max_length=20)
    origin_address: str | None = Field(default=None, max_length=320)
    dedup_key: str | None = Field(default=None, max_length=255, index=True)
    # Equals dedup_key while the signal is open, NULL once closed: a plain unique index
    # then allows one open signal per key on SQLite and PostgreSQL alike.
    open_dedup_key: str | None = Field(default=None, max_length=255, unique=True)
    status: str = Field(default="recu", max_length=20, index=True)
    is_exercise: bool = Field(default=False)
    duplicate_count: int = Field(default=0)
    attributes: dict[str, Any] = _json()
    received_at: datetime = _ts(index=True)
    last_seen_at: datetime = _ts()
    acknowledged_at: datetime | None = _ts(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=64)
    closed_at: datetime | None = _ts(nullable=True)


class SignalEventRow(SQLModel, table=True):
    """Append-only history of a signal: never updated, never deleted."""

    __tablename__ = "signal_events"

    id: int | None = Field(default=None, primary_key=True)
    signal_id: int = Field(foreign_key="signals.id", index=True)
    at: datetime = _ts()
    kind: str = Field(max_length=40)
    actor: str | None = Field(default=None, max_length=200)
    channel: str | None = Field(default=None, max_length=20)
    message: str = Field(default="", sa_type=sa.Text)
    data: dict[str, Any] = _json()


class OutboxMessageRow(SQLModel, table=True):
    """Every outgoing message, whichever channel carries it, with its delivery state."""

    __tablename__ = "outbox_messages"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _ts(index=True)
    channel: str = Field(max_length=20, index=True)
    kind: str = Field(max_length=30)  # receipt, page, notice, …
    recipient_person_id: str | None = Field(default=None, max_length=64, index=True)
    recipient_address: str | None = Field(default=None, max_length=320)
    signal_id: int | None = Field(default=None, foreign_key="signals.id", index=True)
    subject: str | None = Field(default=None, max_length=500)
    text: str = Field(sa_type=sa.Text)
    state: str = Field(default=MessageState.PENDING.value, max_length=20, index=True)  # MessageState
    # A retry after a crash finds the same key and does not send twice.
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
    attempts: int = Field(default=0)
    not_before: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)
    delivered_at: datetime | None = _ts(nullable=True)
    provider_id: str | None = Field(default=None, max_length=200)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    data: dict[str, Any] = _json()
    # Pages: which page this notification serves, and its rank in the person's channels.
    page_id: int | None = Field(default=None, foreign_key="pages.id", index=True)
    sequence: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # About an exercise: delivered after real traffic, on a rate-limit budget of its own.
    is_exercise: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Set when a worker takes the message for an external provider; a crash leaves it set.
    claimed_at: datetime | None = _ts(nullable=True)
    # Set just before the provider is called, for messages that must be neither lost nor doubled
    # when the process dies mid-batch (diffusions): claimed but not attempted goes back to the queue.
    attempted_at: datetime | None = _ts(nullable=True)


class LadderRunRow(SQLModel, table=True):
    """One walk of a ladder for one signal."""

    __tablename__ = "ladder_runs"

    id: int | None = Field(default=None, primary_key=True)
    signal_id: int = Field(foreign_key="signals.id", unique=True)
    ladder_id: str = Field(max_length=64)
    roster_id: str | None = Field(default=None, max_length=64)
    state: str = Field(default=RunState.ACTIVE.value, max_length=20, index=True)  # RunState
    step_index: int = Field(default=-1)  # last step paged (-1: none yet)
    pass_index: int = Field(default=0)
    started_at: datetime = _ts()
    updated_at: datetime = _ts()
    ended_at: datetime | None = _ts(nullable=True)


class PageRow(SQLModel, table=True):
    """One person paged at one step of a ladder run."""

    __tablename__ = "pages"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "pass_index", "step_index", "person_id", name="uq_pages_step_person"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="ladder_runs.id", index=True)
    signal_id: int = Field(foreign_key="signals.id", index=True)
    person_id: str = Field(max_length=64)
    level: str | None = Field(default=None, max_length=20)
    step_index: int
    pass_index: int
    created_at: datetime = _ts()
    state: str = Field(default=PageState.PAGING.value, max_length=20)  # PageState


class TimerRow(SQLModel, table=True):
    """A durable timer: the next due action of a ladder (survives restarts and kill -9)."""

    __tablename__ = "timers"
    __table_args__ = (sa.Index("ix_timers_state_due", "state", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=30)
    run_id: int | None = Field(default=None, foreign_key="ladder_runs.id", index=True)
    due_at: datetime = _ts()
    state: str = Field(default=TimerState.PENDING.value, max_length=20)  # TimerState
    data: dict[str, Any] = _json()
    created_at: datetime = _ts()
    done_at: datetime | None = _ts(nullable=True)
    # How late the action ran against its due time, for the benchmark and /metrics.
    lateness_ms: float | None = Field(default=None)


class JobStateRow(SQLModel, table=True):
    """Calendar jobs keep their own progress, so a new leader catches up on missed runs."""

    __tablename__ = "job_state"

    name: str = Field(primary_key=True, max_length=100)
    last_run_at: datetime = _ts()


class RosterOverrideRow(SQLModel, table=True):
    """An override decided at run time, e.g. a referent taking the duty with /relais."""

    __tablename__ = "roster_overrides"

    id: int | None = Field(default=None, primary_key=True)
    roster_id: str = Field(max_length=64, index=True)
    level: str = Field(max_length=20)
    person_id: str = Field(max_length=64)
    start: datetime = _ts()
    end: datetime = _ts(index=True)
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts()
    reason: str | None = Field(default=None, max_length=200)


class CalendarFeedRow(SQLModel, table=True):
    """A person's subscribable calendar of one roster (``/ical/<id>-<signature>.ics``). The
    signature is computed from VIGIE_FEED_SECRET, never stored; revoking sets ``revoked_at``."""

    __tablename__ = "calendar_feeds"

    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(max_length=64, index=True)
    roster_id: str = Field(max_length=64)
    created_at: datetime = _ts()
    created_by: str = Field(max_length=64)
    revoked_at: datetime | None = _ts(nullable=True)


def table_of(model: type[SQLModel]) -> sa.Table:
    """The table behind a model, for bulk statements (UPDATE … WHERE, INSERT … ON CONFLICT)."""
    table = SQLModel.metadata.tables[str(model.__tablename__)]
    return table


class MaintenanceRow(SQLModel, table=True):
    """A maintenance window: signals from ``source`` are stored and receipted but their ladders
    wait for ``ends_at`` (a severe one pages anyway)."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (sa.Index("ix_maintenance_source_end", "source", "ends_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=200)
    starts_at: datetime = _ts()
    ends_at: datetime = _ts()
    motif: str | None = Field(default=None, max_length=300)
    started_by: str = Field(max_length=64)
    ended_at: datetime | None = _ts(nullable=True)  # ended (by hand, or its time came: told once)
    ended_by: str | None = Field(default=None, max_length=64)
    held: int = 0  # signals whose ladder waited for the end


class ChannelStateRow(SQLModel, table=True):
    """What a channel must remember across restarts and instances: the Matrix sync token, the
    direct room opened with each person."""

    __tablename__ = "channel_state"

    key: str = Field(primary_key=True, max_length=300)
    value: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    updated_at: datetime = _ts()


class ChannelEventRow(SQLModel, table=True):
    """An inbound event already handled (a Matrix event id): a sync replayed after a crash does
    not handle it twice."""

    __tablename__ = "channel_events"

    key: str = Field(primary_key=True, max_length=300)
    seen_at: datetime = _ts(index=True)
