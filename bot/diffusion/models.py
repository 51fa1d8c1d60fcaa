"""Tables of the partners directory and the diffusions (on bot.models' metadata)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.models import _json, _ts


class PartnerRow(SQLModel, table=True):
    """A partner, from the configuration (``source`` config) or a CSV import (``csv``): the
    running service reads them here, so an import takes effect without a restart."""

    __tablename__ = "partners"

    id: str = Field(primary_key=True, max_length=64)
    source: str = Field(max_length=10)
    name: str = Field(max_length=300)
    kind: str = Field(max_length=20)
    finess: str | None = Field(default=None, max_length=9)
    department: str | None = Field(default=None, max_length=3)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=20, index=True)
    telegram_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    slack_id: str | None = Field(default=None, max_length=20)
    groups: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    updated_at: datetime = _ts()


class DiffusionCounter(SQLModel, table=True):
    __tablename__ = "diffusion_counters"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = Field(default=0)


class Nature(StrEnum):
    INFORMATION = "information"
    ACTION = "action"
    DIFFUSION = "diffusion"
    MARS = "mars"


NATURE_LABELS = {
    Nature.INFORMATION: "POUR INFORMATION",
    Nature.ACTION: "POUR ACTION",
    Nature.DIFFUSION: "POUR DIFFUSION",
    Nature.MARS: "MESSAGE MARS",
}


class DiffusionRow(SQLModel, table=True):
    __tablename__ = "diffusions"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=32, unique=True)
    year: int
    seq: int
    nature: str = Field(max_length=20)
    title: str = Field(max_length=300)  # « MINSANTE n° 2026-112 »
    text: str
    groups: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    attachments: list[dict[str, Any]] = _json()  # name, type, size, base64
    is_exercise: bool = False
    # The national message it relays, when it came as a signal (« /diffuser PFR-… »).
    signal_id: int | None = Field(default=None, foreign_key="signals.id", index=True)
    created_at: datetime = _ts()
    created_by: str = Field(max_length=64)
    completed_at: datetime | None = _ts(nullable=True)  # every partner confirmed or given up
    late_told_at: datetime | None = _ts(nullable=True)  # the duty officers told its deadline passed


class TargetState(StrEnum):
    WAITING = "en-attente"  # nothing sent yet
    SENT = "envoye"
    CONFIRMED = "confirme"
    DONE = "action-realisee"
    UNCONFIRMED = "non-confirme"  # the cycles are over
    UNREACHABLE = "injoignable"  # no channel accepted the message


TARGET_LABELS = {
    TargetState.WAITING: "en attente",
    TargetState.SENT: "envoyé",
    TargetState.CONFIRMED: "confirmé",
    TargetState.DONE: "action réalisée",
    TargetState.UNCONFIRMED: "non confirmé",
    TargetState.UNREACHABLE: "injoignable",
}
OPEN_STATES = (TargetState.WAITING.value, TargetState.SENT.value)


class DiffusionTargetRow(SQLModel, table=True):
    """One partner of a diffusion: where its cycle stands, and its confirmation."""

    __tablename__ = "diffusion_targets"
    __table_args__ = (
        sa.UniqueConstraint("diffusion_id", "partner_id"),
        sa.Index("ix_diffusion_targets_state_next", "state", "next_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    diffusion_id: int = Field(foreign_key="diffusions.id", index=True)
    partner_id: str = Field(max_length=64)
    # The partner as it was when the diffusion left (the directory may change meanwhile).
    name: str = Field(max_length=300)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=20)
    telegram_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    slack_id: str | None = Field(default=None, max_length=20)
    state: str = Field(default=TargetState.WAITING.value, max_length=20)
    step: int = 0  # the next step of the cycle to send
    cycle: int = 0
    next_at: datetime | None = _ts(nullable=True)
    attempts: int = 0  # messages queued for it
    failures: int = 0  # messages no channel accepted
    confirmed_at: datetime | None = _ts(nullable=True)
    confirmed_via: str | None = Field(default=None, max_length=20)  # email, sms, voice, chat, operateur
    confirmed_by: str | None = Field(default=None, max_length=200)
    comment: str | None = Field(default=None, max_length=1000)
    done_at: datetime | None = _ts(nullable=True)


class NationalActionRow(SQLModel, table=True):
    """What a national message POUR ACTION asks of the desk (seed 003): an owner to name, a due
    time, and, once done, the report back upward drafted from it and from its diffusions."""

    __tablename__ = "national_actions"

    id: int | None = Field(default=None, primary_key=True)
    signal_id: int = Field(foreign_key="signals.id", unique=True)
    title: str = Field(max_length=300)  # « MINSANTE n° 2026-112 »
    owner_id: str | None = Field(default=None, max_length=64)
    due_at: datetime = _ts()
    created_at: datetime = _ts()
    reminded_at: datetime | None = _ts(nullable=True)  # told once the due time passed
    done_at: datetime | None = _ts(nullable=True)
    done_by: str | None = Field(default=None, max_length=64)
    account: str | None = Field(default=None, max_length=4000)  # the owner's « compte rendu »
    report: str | None = None  # the drafted report back upward
    sent_at: datetime | None = _ts(nullable=True)
