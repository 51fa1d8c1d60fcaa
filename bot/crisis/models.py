"""Tables of the crisis cell (on the same metadata as ``bot.models``; migrations in bot/migrations)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.models import _ts  # the same UTC column as the core's tables


class EntryKind(StrEnum):
    """Types of main-courante entries (DOMAIN.md, "Main courante")."""

    INFORMATION = "information"
    DEMANDE = "demande"
    DECISION = "decision"
    ACTION = "action"
    FAIT = "fait"  # an action done (refers to the action's entry)
    POINT = "point"  # point de situation
    CORRECTION = "correction"  # an edit or a deletion (refers to the entry it corrects)
    SYSTEME = "systeme"  # what Vigie did: opening, calls, joins, functions


ENTRY_KIND_LABELS_FR = {
    EntryKind.INFORMATION: "information",
    EntryKind.DEMANDE: "demande",
    EntryKind.DECISION: "décision",
    EntryKind.ACTION: "action",
    EntryKind.FAIT: "action faite",
    EntryKind.POINT: "point de situation",
    EntryKind.CORRECTION: "correction",
    EntryKind.SYSTEME: "système",
}


class CrisisState(StrEnum):
    OPEN = "ouverte"
    CLOSED = "close"


class CrisisCounter(SQLModel, table=True):
    """Last crisis number given out per year (``CRISE-2026-0003``); allocated like signal numbers."""

    __tablename__ = "crisis_counters"

    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last: int = Field(default=0)


class CrisisRow(SQLModel, table=True):
    __tablename__ = "crises"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=32, unique=True)
    year: int
    seq: int
    title: str = Field(max_length=500)
    plan: str | None = Field(default=None, max_length=20)  # ORSAN plan
    phase: str = Field(max_length=40)
    composition: str = Field(max_length=20)  # restreinte | elargie
    state: str = Field(default=CrisisState.OPEN.value, max_length=20, index=True)
    is_exercise: bool = False
    opened_at: datetime = _ts()
    opened_by: str = Field(max_length=64)
    armed_at: datetime | None = _ts(nullable=True)
    closed_at: datetime | None = _ts(nullable=True)
    # When to look again whether décision or pilotage is vacant (None: both held).
    vacancy_check_at: datetime | None = _ts(nullable=True, index=True)


class CrisisSignalRow(SQLModel, table=True):
    """The signals a crisis came from."""

    __tablename__ = "crisis_signals"

    crisis_id: int = Field(foreign_key="crises.id", primary_key=True)
    signal_id: int = Field(foreign_key="signals.id", primary_key=True)


class CrisisMemberRow(SQLModel, table=True):
    """Someone called to the cell: when, and when they joined."""

    __tablename__ = "crisis_members"
    __table_args__ = (sa.UniqueConstraint("crisis_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    crisis_id: int = Field(foreign_key="crises.id", index=True)
    person_id: str = Field(max_length=64)
    called_at: datetime = _ts()
    joined_at: datetime | None = _ts(nullable=True)
    joined_via: str | None = Field(default=None, max_length=20)


class CrisisFunctionRow(SQLModel, table=True):
    """Who held a function, from when until when (``until`` empty: still holds it)."""

    __tablename__ = "crisis_functions"

    id: int | None = Field(default=None, primary_key=True)
    crisis_id: int = Field(foreign_key="crises.id", index=True)
    function: str = Field(max_length=40)
    person_id: str = Field(max_length=64)
    since: datetime = _ts()
    until: datetime | None = _ts(nullable=True)
    assigned_by: str = Field(max_length=64)


class CrisisRoomRow(SQLModel, table=True):
    """A crisis room on one platform (a Slack channel, a Telegram forum topic)."""

    __tablename__ = "crisis_rooms"
    __table_args__ = (sa.UniqueConstraint("crisis_id", "platform"),)

    id: int | None = Field(default=None, primary_key=True)
    crisis_id: int = Field(foreign_key="crises.id", index=True)
    platform: str = Field(max_length=20)
    room_id: str | None = Field(default=None, max_length=128, index=True)  # set once created
    name: str = Field(max_length=128)
    created_at: datetime | None = _ts(nullable=True)
    attempts: int = 0
    next_attempt_at: datetime = _ts(index=True)
    error: str | None = Field(default=None, max_length=500)


class EntryRow(SQLModel, table=True):
    """One entry of a crisis's main courante. Never updated, never deleted (the store refuses);
    ``hash`` chains it to the entry before (``bot.crisis.chain``)."""

    __tablename__ = "main_courante"
    __table_args__ = (sa.UniqueConstraint("crisis_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    crisis_id: int = Field(foreign_key="crises.id", index=True)
    number: int
    at: datetime = _ts()
    author_id: str | None = Field(default=None, max_length=64)  # a directory person
    author_label: str = Field(max_length=200)  # their name, or the platform identity
    external: bool = False  # the author is not in the directory
    origin: str = Field(max_length=20)  # slack, telegram, sms, email, voice, web, cli, system
    kind: str = Field(max_length=20)
    text: str
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    recipient: str | None = Field(default=None, max_length=200)
    owner: str | None = Field(default=None, max_length=200)
    due_at: datetime | None = _ts(nullable=True)
    refers_to: int | None = None  # the entry number a correction or a « fait » is about
    # The platform's own message id (``slack:C123:1700000000.000100``): one message, one entry.
    platform_key: str | None = Field(default=None, max_length=200, unique=True)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
