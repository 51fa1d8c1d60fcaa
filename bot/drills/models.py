"""The drills' table (on bot.models' metadata)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.models import _json, _ts


class DrillState(StrEnum):
    PLANNED = "prevu"  # a scheduled drill waiting for its time
    RUNNING = "en-cours"  # its signal is on the ladder
    DONE = "termine"  # acknowledged, or given up after drills.timeout: measured, reported
    MISSED = "manque"  # the service was down through its whole window


DRILL_LABELS = {
    DrillState.PLANNED: "prévu",
    DrillState.RUNNING: "en cours",
    DrillState.DONE: "terminé",
    DrillState.MISSED: "manqué",
}


class DrillRow(SQLModel, table=True):
    """One drill. A schedule has one row per window (unique): planned once, run once, whatever
    the number of instances; a drill started by hand has no schedule."""

    __tablename__ = "drills"
    __table_args__ = (
        sa.UniqueConstraint("schedule_id", "window_start", name="uq_drills_schedule_window"),
        sa.Index("ix_drills_state_due", "state", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: str | None = Field(default=None, max_length=64)
    ladder_id: str | None = Field(default=None, max_length=64)
    with_crisis: bool = False
    title: str = Field(max_length=200)
    state: str = Field(default=DrillState.PLANNED.value, max_length=20)
    window_start: datetime | None = _ts(nullable=True)
    window_end: datetime | None = _ts(nullable=True)
    due_at: datetime | None = _ts(nullable=True)  # the (random) time it starts
    started_at: datetime | None = _ts(nullable=True)
    started_by: str | None = Field(default=None, max_length=64)  # None: the schedule
    signal_id: int | None = Field(default=None, foreign_key="signals.id", index=True)
    crisis_id: int | None = Field(default=None, foreign_key="crises.id")
    ended_at: datetime | None = _ts(nullable=True)
    measures: dict[str, Any] = _json()  # seconds to first page, delivery, ack; who, which step…
    created_at: datetime = _ts()


DIRECTORY = "contacts"  # the schedule id of the directory's own check


class CheckState(StrEnum):
    PLANNED = "prevu"  # the schedule's coming check
    RUNNING = "en-cours"  # test messages sent, confirmations awaited
    DONE = "termine"  # the unconfirmed contacts listed for the desk manager


class ProbeState(StrEnum):
    WAITING = "attente"
    CONFIRMED = "confirme"
    FAILED = "echec"  # the provider refused it: a dead number, an unknown address
    SILENT = "sans-reponse"  # sent, never confirmed before the check's deadline


PROBE_LABELS = {
    ProbeState.WAITING: "en attente",
    ProbeState.CONFIRMED: "confirmé",
    ProbeState.FAILED: "échec d'envoi",
    ProbeState.SILENT: "sans confirmation",
}


class ContactCheckRow(SQLModel, table=True):
    """A test de joignabilité: every contact of every person (or of one) asked to confirm. A
    schedule's occurrence (``slot``) is unique: planned and run once, whatever the instances."""

    __tablename__ = "contact_checks"
    __table_args__ = (
        sa.UniqueConstraint("schedule_id", "slot", name="uq_contact_checks_schedule_slot"),
        sa.Index("ix_contact_checks_state_due", "state", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # « contacts »: the directory's check; else a drills.partners schedule (an exercise diffusion).
    schedule_id: str = Field(default=DIRECTORY, max_length=64)
    slot: datetime | None = _ts(nullable=True)  # the schedule's time; None: started by hand
    person_id: str | None = Field(default=None, max_length=64)  # one person only
    state: str = Field(default=CheckState.PLANNED.value, max_length=20)
    due_at: datetime = _ts()  # planned: when it starts; running: confirmations awaited until
    started_at: datetime | None = _ts(nullable=True)
    started_by: str | None = Field(default=None, max_length=64)
    ended_at: datetime | None = _ts(nullable=True)
    diffusion_ref: str | None = Field(default=None, max_length=32)  # a partners schedule's diffusion
    created_at: datetime = _ts()


class ContactProbeRow(SQLModel, table=True):
    """One contact method of one person tested: its message, and whether it was confirmed."""

    __tablename__ = "contact_probes"

    id: int | None = Field(default=None, primary_key=True)
    check_id: int = Field(foreign_key="contact_checks.id", index=True)
    person_id: str = Field(max_length=64)
    channel: str = Field(max_length=20)
    address: str = Field(max_length=320)
    message_id: int | None = Field(default=None, foreign_key="outbox_messages.id")
    state: str = Field(default=ProbeState.WAITING.value, max_length=20)
    confirmed_at: datetime | None = _ts(nullable=True)
    confirmed_via: str | None = Field(default=None, max_length=20)
    error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _ts()
