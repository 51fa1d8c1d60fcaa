"""Tables of the crisis cell (on the same metadata as ``bot.models``; migrations in bot/migrations)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from bot.models import _json, _ts  # the same UTC column and JSON column as the core's tables


class EntryKind(StrEnum):
    """Types of main-courante entries (DOMAIN.md, "Main courante")."""

    INFORMATION = "information"
    DEMANDE = "demande"
    DECISION = "decision"
    ACTION = "action"
    FAIT = "fait"  # an action done (refers to the action's entry)
    POINT = "point"  # point de situation
    PROJET = "projet"  # a section of the next point, written by the cell
    CORRECTION = "correction"  # an edit or a deletion (refers to the entry it corrects)
    SYSTEME = "systeme"  # what Vigie did: opening, calls, joins, functions


ENTRY_KIND_LABELS_FR = {
    EntryKind.INFORMATION: "information",
    EntryKind.DEMANDE: "demande",
    EntryKind.DECISION: "décision",
    EntryKind.ACTION: "action",
    EntryKind.FAIT: "action faite",
    EntryKind.POINT: "point de situation",
    EntryKind.PROJET: "projet de point",
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
    # « /crise clore »: asked by whom, why (the crisis closes when its final point is validated).
    closing_by: str | None = Field(default=None, max_length=64)
    closing_reason: str | None = Field(default=None, max_length=500)
    closed_by: str | None = Field(default=None, max_length=64)
    retex_until: datetime | None = _ts(nullable=True)  # hot-debrief answers taken until then
    # Each change of phase: {"phase", "at" (ISO, UTC), "by"}, for the RETEX's timeline.
    phase_history: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)


class CrisisTimerRow(SQLModel, table=True):
    """A durable due action of a crisis (a point's prompt and reminders, an action's due time,
    the cold debrief): claimed and done in one transaction with what it sends, so a restart
    loses none and two instances never do one twice."""

    __tablename__ = "crisis_timers"
    __table_args__ = (sa.Index("ix_crisis_timers_state_due", "state", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    crisis_id: int = Field(foreign_key="crises.id", index=True)
    kind: str = Field(max_length=30)  # point_prompt, point_due, point_late, action_due, retex_cold
    due_at: datetime = _ts()
    state: str = Field(default="pending", max_length=20)  # pending, done, cancelled
    data: dict[str, Any] = _json()
    created_at: datetime = _ts()
    done_at: datetime | None = _ts(nullable=True)


class PointState(StrEnum):
    PLANNED = "prevu"  # due later; no draft posted yet
    DRAFT = "brouillon"  # the draft is posted and amended in the room
    VALIDATED = "valide"


class CrisisPointRow(SQLModel, table=True):
    """One point de situation: planned, drafted, amended, validated (then never changed)."""

    __tablename__ = "crisis_points"
    __table_args__ = (sa.UniqueConstraint("crisis_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    crisis_id: int = Field(foreign_key="crises.id", index=True)
    number: int
    due_at: datetime = _ts()
    final: bool = False  # the point de sortie de crise
    state: str = Field(default=PointState.PLANNED.value, max_length=20)
    # The sections the cell wrote (« /point bilan … »); the others are drafted by Vigie.
    sections: dict[str, Any] = _json()
    next_at: datetime | None = _ts(nullable=True)  # the next point it announces, when the cell set it
    prompted_at: datetime | None = _ts(nullable=True)
    reminded: int = 0  # reminders sent after the due time (pilotage, then décision)
    validated_at: datetime | None = _ts(nullable=True)
    validated_by: str | None = Field(default=None, max_length=64)
    text: str | None = None  # as validated
    entry_number: int | None = None  # its main-courante entry
    head_hash: str | None = Field(default=None, max_length=64)


class RetexMemberRow(SQLModel, table=True):
    """A member asked the hot-debrief questions: where they are in them."""

    __tablename__ = "retex_members"
    __table_args__ = (sa.UniqueConstraint("crisis_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    crisis_id: int = Field(foreign_key="crises.id", index=True)
    person_id: str = Field(max_length=64)
    asked_at: datetime = _ts()
    next_question: int = 1  # 1-based; past the last: done
    finished_at: datetime | None = _ts(nullable=True)


class RetexAnswerRow(SQLModel, table=True):
    __tablename__ = "retex_answers"

    id: int | None = Field(default=None, primary_key=True)
    crisis_id: int = Field(foreign_key="crises.id", index=True)
    person_id: str = Field(max_length=64)
    question: int  # 1-based, in crisis.retex.questions
    text: str
    at: datetime = _ts()
    via: str = Field(max_length=20)


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
    # At the crisis's closure: archive the channel / close the topic from then (once the last
    # posts are out), and when it was done.
    close_at: datetime | None = _ts(nullable=True, index=True)
    closed_at: datetime | None = _ts(nullable=True)


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
